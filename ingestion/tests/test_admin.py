"""The admin pages of sources, runs and dead letters, and their actions."""

import pytest
from django.test import Client

from ingestion.models import DeadLetter, IngestionRun, Source
from ingestion.tests.support import run_now
from users.models import User
from users.tests.factories import UserFactory


def session_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def moderator(db):
    return UserFactory(role=User.Role.MODERATOR, is_staff=True)


def test_staff_see_sources_runs_and_dead_letters(make_source, upstream, moderator):
    upstream.faults.missing_fields = {"posts:2"}
    source = make_source()
    run_now(source)
    session = session_for(moderator)
    for page, shows in [
        ("/admin/ingestion/source/", source.name),
        ("/admin/ingestion/ingestionrun/", "succeeded"),
        ("/admin/ingestion/deadletter/", "post:2"),
        ("/admin/ingestion/deadletter/?state=open", "post:2"),
    ]:
        response = session.get(page)
        assert response.status_code == 200, page
        assert shows in response.content.decode(), page


def test_run_now_and_retry_now_actions(make_source, upstream, moderator):
    upstream.faults.missing_fields = {"posts:2"}
    source = make_source()
    run_now(source)
    session = session_for(moderator)

    session.post("/admin/ingestion/source/", {"action": "run_now", "_selected_action": [source.pk]})
    assert IngestionRun.objects.filter(source=source, status="queued").count() == 1

    letter = DeadLetter.objects.get(external_id="post:2")
    DeadLetter.objects.filter(pk=letter.pk).update(next_attempt_at=None)  # given up
    session.post(
        "/admin/ingestion/deadletter/", {"action": "retry_now", "_selected_action": [letter.pk]}
    )
    letter.refresh_from_db()
    assert letter.next_attempt_at is not None  # due again: the task (or beat) retries it


def test_a_superuser_adds_a_source_with_its_bot(db, upstream):
    superuser = UserFactory(is_staff=True, is_superuser=True)
    response = session_for(superuser).post(
        "/admin/ingestion/source/add/",
        {
            "name": "added",
            "kind": "pokeapi-pokemon",
            "base_url": f"{upstream.url}/api/v2",
            "schedule": 600,
            "page_size": 50,
        },
    )
    assert response.status_code == 302
    source = Source.objects.get(name="added")
    assert source.bot.username == "bot_added"
    assert not source.enabled


def test_members_do_not_get_in(db, make_source):
    make_source()
    response = session_for(UserFactory()).get("/admin/ingestion/source/")
    assert response.status_code == 302  # to the login page
