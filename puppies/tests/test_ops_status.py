"""The staff status: GET /v1/ops/summary and the admin page plotting its last hour."""

import pytest
from django.test import Client

from puppies import ops
from puppies.celery import app
from users.tests.factories import PASSWORD, UserFactory


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True)


@pytest.mark.django_db
def test_the_summary_shows_the_live_figures_and_the_sampled_hour(client_for, staff):
    for _ in range(2):
        app.send_task("feed.tasks.fan_out_post", args=(0,), queue="fanout")
    ops.sample()
    app.send_task("feed.tasks.fan_out_post", args=(0,), queue="fanout")
    ops.sample()

    response = client_for(staff).get("/v1/ops/summary")

    assert response.status_code == 200
    body = response.json()
    assert body["now"]["queues"]["fanout"] == 3
    assert body["now"]["outbox_backlog"] == 0
    assert body["now"]["replica_lag_s"] == 0
    assert [sample["queues"]["fanout"] for sample in body["history"]] == [2, 3]  # oldest first


@pytest.mark.django_db
def test_the_history_keeps_the_last_hour_only():
    for _ in range(ops.HISTORY_LENGTH + 5):
        ops.sample()

    assert len(ops.history()) == ops.HISTORY_LENGTH


@pytest.mark.django_db
def test_the_summary_is_for_staff_only(api, client_for, user):
    assert api.get("/v1/ops/summary").status_code == 401
    assert client_for(user).get("/v1/ops/summary").status_code == 403


@pytest.mark.django_db
def test_the_admin_status_page_plots_each_figure(staff):
    ops.sample()
    ops.sample()
    browser = Client()
    assert browser.login(username=staff.username, password=PASSWORD)

    page = browser.get("/admin/ops/")

    assert page.status_code == 200
    html = page.content.decode()
    for figure in ("outbox_backlog", "fanout_lag_s", "like_buffer_depth", "dead_letters",
                   "replica_lag_s", "queue:fanout"):  # fmt: skip
        assert f'data-figure="{figure}"' in html
    assert "<polyline" in html


@pytest.mark.django_db
def test_the_admin_status_page_asks_others_to_log_in(user):
    browser = Client()
    browser.force_login(user)  # a member, not staff

    assert browser.get("/admin/ops/").status_code == 302
