"""A moderator drives the real admin in headless Chromium: open a report, hide the post.

Needs Debian's `chromium` and `chromium-driver` packages (.ci/run installs them); the
test skips, saying so, where they are missing, unless REQUIRE_BROWSER_TEST=1 (.ci/run sets
it where it can install them): then their absence fails the run at collection.
"""

import os
import shutil

import pytest
from rest_framework.test import APIClient

from interactions.tests.factories import ReportFactory
from posts.tests.factories import PostFactory
from users.models import AuditLog, User
from users.tests.factories import PASSWORD, UserFactory

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = (
    os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
)
INSTALLED = bool(shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER))
MISSING = "headless Chromium not installed: apt-get install chromium chromium-driver"

if not INSTALLED and os.environ.get("REQUIRE_BROWSER_TEST") == "1":
    raise RuntimeError(f"REQUIRE_BROWSER_TEST=1 but {MISSING}")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not INSTALLED, reason=MISSING),
]


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    # An explicit driver path: Selenium Manager must not try to download one.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(20)  # generous: CI machines are small and busy
    yield driver
    driver.quit()


def test_moderator_hides_a_reported_post_and_the_api_stops_serving_it(live_server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import Select, WebDriverWait

    moderator = UserFactory(role=User.Role.MODERATOR, is_staff=True)
    post = PostFactory(content="Buy cheap bones at spam.example")
    report = ReportFactory(post=post, details="obvious spam")
    api = APIClient()
    assert api.get(f"/v1/posts/{post.pk}").status_code == 200

    # log in
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(moderator.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 30).until(expected_conditions.title_contains("Site administration"))

    # open the report from the queue
    browser.get(f"{live_server.url}/admin/interactions/report/")
    browser.find_element(By.LINK_TEXT, str(report.pk)).click()
    assert "Buy cheap bones" in browser.find_element(By.ID, "content-main").text
    assert "obvious spam" in browser.page_source

    # back in the queue: select it, give a reason, hide the post
    browser.back()
    browser.find_element(
        By.CSS_SELECTOR, f"input[name=_selected_action][value='{report.pk}']"
    ).click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("hide_posts")
    browser.find_element(By.NAME, "reason").send_keys("spam link")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    assert "Posts hidden: 1 of 1" in browser.find_element(By.CSS_SELECTOR, ".messagelist").text

    # gone from the API, with the trail recorded
    assert api.get(f"/v1/posts/{post.pk}").status_code == 404
    log = AuditLog.objects.get()
    assert (log.actor_id, log.action, log.target_id, log.reason) == (
        moderator.pk,
        "hide_post",
        post.pk,
        "spam link",
    )


def test_staff_see_the_status_page_with_a_plot_per_figure(live_server, browser):
    """Saves a screenshot to .local/screenshots/admin-ops.png (for people, not asserted)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    from puppies import ops
    from puppies.celery import app
    from puppies.tests.support import ROOT

    staff = UserFactory(is_staff=True)
    for tasks in (1, 4, 2, 6):  # a few samples with a moving queue
        for _ in range(tasks):
            app.send_task("feed.tasks.fan_out_post", args=(0,), queue="fanout")
        ops.sample()

    browser.get(f"{live_server.url}/admin/login/?next=/admin/ops/")
    browser.find_element(By.NAME, "username").send_keys(staff.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 30).until(expected_conditions.title_contains("Status"))

    rows = browser.find_elements(By.CSS_SELECTOR, "#ops-status tr.ops-figure")
    figures = {row.get_attribute("data-figure"): row for row in rows}
    assert {"outbox_backlog", "fanout_lag_s", "like_buffer_depth", "dead_letters",
            "replica_lag_s", "queue:fanout"} <= set(figures)  # fmt: skip
    assert figures["queue:fanout"].find_elements(By.TAG_NAME, "td")[1].text == "13"
    line = figures["queue:fanout"].find_element(By.TAG_NAME, "polyline")
    assert len(line.get_attribute("points").split()) == 4
    shots = ROOT / ".local" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shots / "admin-ops.png"))
