"""The load mix of bench/load.py as locust users; run by it (`locust -f` in a process of
its own: locust patches the standard library with gevent), reading the plan it wrote
(LOAD_PLAN: members with their tokens, post and user ids to act on).

Weights, of 200: feed first page 70, next page 70 (the cursor of the user's last first
page), post 10, profile 10, like 10, unlike 10 (a post this user liked in the run, else
a like), post create 10, follow 5, comment 5. Anything >= 400 is an error.
"""

import json
import os
import random
from pathlib import Path
from urllib.parse import quote

from locust import FastHttpUser, constant, task

PLAN = json.loads(Path(os.environ["LOAD_PLAN"]).read_text())
CONTENT = "Load test walk #%d: the pup found a stick twice her size and would not let go."


class Member(FastHttpUser):
    wait_time = constant(float(os.environ.get("LOAD_WAIT_S", "0")))
    # A slow answer is a slow answer, not a client timeout
    network_timeout = connection_timeout = 30.0

    def on_start(self) -> None:
        member = random.choice(PLAN["members"])
        self.headers = {"Authorization": f"Bearer {member['token']}"}
        self.cursor: str | None = None
        self.liked: list[int] = []
        self.n = 0

    def _get(self, path: str, name: str):
        return self.client.get(path, headers=self.headers, name=name)

    def _send(self, method: str, path: str, name: str, body: dict | None = None):
        return self.client.request(method, path, headers=self.headers, name=name, json=body)

    @task(70)
    def feed(self) -> None:
        response = self._get("/v1/feed", "GET /v1/feed")
        if response.status_code == 200:
            self.cursor = json.loads(response.content).get("next_cursor")

    @task(70)
    def feed_next(self) -> None:
        if not self.cursor:
            return self.feed()
        self._get(f"/v1/feed?cursor={quote(self.cursor, safe='')}", "GET /v1/feed?cursor= (next)")
        return None

    @task(10)
    def post(self) -> None:
        self._get(f"/v1/posts/{random.choice(PLAN['posts'])}", "GET /v1/posts/{id}")

    @task(10)
    def profile(self) -> None:
        self._get(f"/v1/users/{random.choice(PLAN['users'])}", "GET /v1/users/{id}")

    @task(10)
    def like(self) -> None:
        post_id = random.choice(PLAN["posts"])
        if self._send("POST", f"/v1/posts/{post_id}/likes", "POST /v1/posts/{id}/likes").ok:
            self.liked.append(post_id)

    @task(10)
    def unlike(self) -> None:
        if not self.liked:
            return self.like()
        post_id = self.liked.pop(random.randrange(len(self.liked)))
        self._send("DELETE", f"/v1/posts/{post_id}/likes", "DELETE /v1/posts/{id}/likes")
        return None

    @task(10)
    def create_post(self) -> None:
        self.n += 1
        self._send("POST", "/v1/posts", "POST /v1/posts", {"content": CONTENT % self.n})

    @task(5)
    def follow(self) -> None:
        user_id = random.choice(PLAN["follow_targets"])
        self._send("POST", f"/v1/users/{user_id}/follow", "POST /v1/users/{id}/follow")

    @task(5)
    def comment(self) -> None:
        post_id = random.choice(PLAN["posts"])
        self._send(
            "POST",
            f"/v1/posts/{post_id}/comments",
            "POST /v1/posts/{id}/comments",
            {"content": "Good dog! A treat for the pup."},
        )
