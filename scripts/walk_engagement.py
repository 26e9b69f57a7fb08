"""A scripted walk over HTTP through edit history, Idempotency-Key, pins and grouped
notifications, printing each request and its answer.

    .venv/bin/python scripts/walk_engagement.py [http://127.0.0.1:8000]

Against `make run` (its beat drains likes every LIKE_FLUSH_INTERVAL_S, which the grouped
notifications wait for). It registers four new users; with the default limits the server
allows it about twice an hour (20 registrations/h per address).
"""

import json
import secrets
import sys
import time
import urllib.error
import urllib.request

BASE = (sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000").rstrip("/")


def call(method: str, path: str, token: str | None = None, body=None, **headers) -> tuple:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)  # noqa: S310
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our own server)
            status, raw, got = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, got = error.code, error.read(), error.headers
    answer = json.loads(raw) if raw else None
    shown = json.dumps(answer, ensure_ascii=False)
    extra = " ".join(f"[{h}: {got[h]}]" for h in ("Idempotent-Replayed", "Retry-After") if got[h])
    sent = " ".join(f"{k.replace('_', '-')}: {v}" for k, v in headers.items())
    print(f"> {method} {path} {sent} {json.dumps(body) if body is not None else ''}".rstrip())
    print(f"< {status} {extra} {shown[:400]}{'...' if len(shown) > 400 else ''}".rstrip())
    return status, answer


def user(name: str) -> tuple[int, str]:
    password = secrets.token_urlsafe(12)
    _, made = call(
        "POST",
        "/v1/auth/register",
        body={"username": name, "email": f"{name}@example.com", "password": password},
    )
    _, tokens = call("POST", "/v1/auth/token", body={"username": name, "password": password})
    return made["id"], tokens["access"]


def main() -> None:
    run = secrets.token_hex(3)
    (alice_id, alice), (_, bob), (_, carol), (_, dave) = (
        user(f"{name}_{run}") for name in ("alice", "bob", "carol", "dave")
    )

    print("\n## 1. Edit history")
    _, post = call("POST", "/v1/posts", alice, {"content": "My pup is 3 months old"})
    call("PATCH", f"/v1/posts/{post['id']}", alice, {"content": "My pup is 4 months old"})
    call("PATCH", f"/v1/posts/{post['id']}", alice, {"content": "My pup is 4 months old!"})
    call("GET", f"/v1/posts/{post['id']}", bob)
    call("GET", f"/v1/posts/{post['id']}/history")  # anonymous: as the post
    call("GET", f"/v1/posts/{post['id']}/history?limit=1", bob)
    call("GET", "/v1/posts/999999999/history")

    print("\n## 2. Idempotency-Key")
    key = f"walk-{run}"
    call("POST", "/v1/posts", alice, {"content": "Walkies!"}, Idempotency_Key=key)
    call("POST", "/v1/posts", alice, {"content": "Walkies!"}, Idempotency_Key=key)
    call("POST", "/v1/posts", alice, {"content": "Walkies?"}, Idempotency_Key=key)
    comments = f"/v1/posts/{post['id']}/comments"
    call("POST", comments, bob, {"content": "Cute!"}, Idempotency_Key=key)  # keys are per user
    call("POST", comments, bob, {"content": "Cute!"}, Idempotency_Key=key)
    call("GET", comments)
    call("GET", f"/v1/users/{alice_id}")  # post_count: 2 (the first post and one Walkies!)

    print("\n## 3. Pins")
    ids = [post["id"]]
    for n in range(5):
        ids.append(call("POST", "/v1/posts", alice, {"content": f"Pin me {n}"})[1]["id"])
    for post_id in ids[:5]:
        call("POST", f"/v1/posts/{post_id}/pin", alice)
    call("POST", f"/v1/posts/{ids[0]}/pin", alice)  # again: 200
    call("POST", f"/v1/posts/{ids[5]}/pin", alice)  # the sixth: 409
    call("POST", f"/v1/posts/{ids[5]}/pin", bob)  # not the author: 403
    call("GET", f"/v1/users/{alice_id}/pinned")
    call("DELETE", f"/v1/posts/{ids[1]}/pin", alice)
    call("DELETE", f"/v1/posts/{ids[2]}", alice)  # deleting unpins too
    call("POST", f"/v1/posts/{ids[5]}/pin", alice)
    _, pinned = call("GET", f"/v1/users/{alice_id}/pinned")
    print("pinned ids:", [p["id"] for p in pinned["results"]])

    print("\n## 4. Grouped notifications")
    for fan in (bob, carol, dave):
        call("POST", f"/v1/posts/{post['id']}/likes", fan)
    for fan in (bob, carol):
        call("POST", f"/v1/users/{alice_id}/follow", fan)
    for _ in range(30):  # likes notify when beat drains the like buffer
        _, page = call("GET", "/v1/notifications?grouped=true", alice)
        if any(g["type"] == "like" for g in page["results"]):
            break
        time.sleep(1)
    for g in page["results"]:
        actors = [a["username"] for a in g["actors"]]
        print(f"group {g['type']} post={g['post_id']} count={g['count']} actors={actors}")
    call("GET", "/v1/notifications?limit=3", alice)  # the plain list, as it was


if __name__ == "__main__":
    main()
