"""A scripted walk over HTTP through every feature of issue 14 (API.md, "Safety and
engagement"), as a client would: block, mute, bookmarks, reposts, pins, edit history,
Idempotency-Key, grouped notifications and the feed that never ends early. It prints each
request (who, method, path, status) and the fact the answers show, and exits non-zero at
the first unexpected answer.

    FEED_MAX_ENTRIES=20 FEED_TRIM_INTERVAL_S=2 RATELIMIT_POST_CREATE=100/m \\
        RATELIMIT_REGISTER=100/h PORT=8011 make run
    .venv/bin/python scripts/walk_engagement.py --base http://127.0.0.1:8011 --feed-cap 20

Against `make run` (web, workers and beat): fan-out is asynchronous and likes notify when
beat drains the like buffer, so those steps poll for a few seconds. The feed step needs
`--feed-cap` equal to the server's FEED_MAX_ENTRIES (the cap can only be set there): it
posts more than twice the cap, waits for beat's trim (FEED_TRIM_INTERVAL_S) and scrolls.
Each run registers 8 new users and 2 x cap + 6 posts from one address, hence the raised
limits above (the defaults allow 20 registrations an hour and 10 posts a minute).
"""

import argparse
import json
import secrets
import sys
import time
import urllib.error
import urllib.request


class UnexpectedAnswer(Exception):
    pass


class Walk:
    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, int] = {}

    def call(self, who, method, path, body=None, expect=200, headers=None, quiet=False):
        """One request as `who` (a name, or None: anonymous); answers (body, headers)."""
        data = None if body is None else json.dumps(body).encode()
        # The server under test, given as --base (http or https).
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        if who:
            request.add_header("Authorization", f"Bearer {self.tokens[who]}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
                status, raw, got = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, raw, got = error.code, error.read(), error.headers
        sent = "".join(f" [{k}: {v}]" for k, v in (headers or {}).items())
        if not quiet or status != expect:
            print(f"  {who or 'anon':<5} {method:<6} {path}{sent} -> {status}")
        if status != expect:
            raise UnexpectedAnswer(f"expected {expect}, got {status}: {raw[:500]!r}")
        return (json.loads(raw) if raw else None), got

    def register(self, name: str, run: str) -> None:
        username, password = f"{name}_{run}", secrets.token_urlsafe(16)
        body = {"username": username, "email": f"{username}@example.com", "password": password}
        self.ids[name] = self.call(None, "POST", "/v1/auth/register", body, expect=201)[0]["id"]
        tokens = self.call(
            None, "POST", "/v1/auth/token", {"username": username, "password": password}
        )[0]
        self.tokens[name] = tokens["access"]

    def post(self, who: str, content: str, **kwargs) -> dict:
        return self.call(who, "POST", "/v1/posts", {"content": content}, expect=201, **kwargs)[0]

    def feed_ids(self, who: str, limit: int = 100, quiet=False) -> list[int]:
        return [p["id"] for p in self.feed(who, limit, quiet)]

    def feed(self, who: str, limit: int = 100, quiet=False) -> list[dict]:
        page, headers = self.call(who, "GET", f"/v1/feed?limit={limit}", quiet=quiet)
        if headers.get("X-Feed-Degraded"):
            raise UnexpectedAnswer("the feed answered popular posts (degraded)")
        return page["results"]

    def wait_for(self, what: str, check, seconds: float = 20.0):
        """Polls check() (quietly) until it answers something truthy: the asynchronous
        parts (fan-out, the like drain) take a moment."""
        deadline = time.monotonic() + seconds
        while True:
            found = check()
            if found:
                print(f"     (waited for {what})")
                return found
            if time.monotonic() > deadline:
                raise UnexpectedAnswer(f"gave up waiting for {what}")
            time.sleep(0.3)


def shows(fact: str, holds: bool) -> None:
    if not holds:
        raise UnexpectedAnswer(f"not so: {fact}")
    print(f"     => {fact}")


def section(title: str) -> None:
    print(f"\n## {title}")


def walk_block(w: Walk) -> None:
    section("Block: both follows go, each is a 404 to the other, listed, undone")
    ann, dan = w.ids["ann"], w.ids["dan"]
    w.call("dan", "POST", f"/v1/users/{ann}/follow", expect=201)
    w.call("ann", "POST", f"/v1/users/{dan}/follow", expect=201)
    ann_post = w.post("ann", "ann: my pup learned to sit")["id"]
    dan_post = w.post("dan", "dan: look at my pup")["id"]
    w.call("ann", "POST", f"/v1/users/{dan}/block", expect=201)
    w.call("ann", "POST", f"/v1/users/{dan}/block", expect=200)
    shows("blocking again is a 200 (idempotent)", True)
    me = w.call("ann", "GET", "/v1/users/me")[0]
    them = w.call("dan", "GET", "/v1/users/me")[0]
    shows(
        "both follows are gone (ann and dan each follow 0 and are followed by 0)",
        (me["following_count"], me["follower_count"], them["following_count"]) == (0, 0, 0)
        and them["follower_count"] == 0,
    )
    w.call("ann", "GET", f"/v1/users/{dan}", expect=404)
    w.call("dan", "GET", f"/v1/users/{ann}", expect=404)
    w.call("ann", "GET", f"/v1/posts/{dan_post}", expect=404)
    w.call("dan", "GET", f"/v1/posts/{ann_post}", expect=404)
    shows("profiles and posts are 404 both ways", True)
    w.call("dan", "POST", f"/v1/users/{ann}/follow", expect=404)
    shows("the blocked user cannot follow the blocker again", True)
    blocks = w.call("ann", "GET", "/v1/users/me/blocks")[0]["results"]
    shows("dan is listed in ann's /users/me/blocks", [u["id"] for u in blocks] == [dan])
    w.call("ann", "DELETE", f"/v1/users/{dan}/block", expect=204)
    w.call("ann", "GET", f"/v1/users/{dan}", expect=200)
    w.call("dan", "GET", f"/v1/posts/{ann_post}", expect=200)
    blocks = w.call("ann", "GET", "/v1/users/me/blocks")[0]["results"]
    shows("unblocked: profiles and posts visible again, the list is empty", blocks == [])


def walk_mute(w: Walk) -> dict:
    section("Mute: their posts leave my feed, their notifications stop; they are not told")
    for followee in ("bob", "eve"):
        w.call("ann", "POST", f"/v1/users/{w.ids[followee]}/follow", expect=201)
    eve_post = w.post("eve", "eve: puppy yoga tonight")["id"]
    bob_post = w.post("bob", "bob: first walk in the snow")["id"]
    w.wait_for(
        "fan-out of both posts to ann's feed",
        lambda: {eve_post, bob_post} <= set(w.feed_ids("ann", quiet=True)),
    )
    w.call("ann", "POST", f"/v1/users/{w.ids['eve']}/mute", expect=201)
    feed = w.feed_ids("ann")
    shows(
        "eve's post left ann's feed at once, bob's stays", eve_post not in feed and bob_post in feed
    )
    mutes = w.call("ann", "GET", "/v1/users/me/mutes")[0]["results"]
    shows("eve is listed in ann's /users/me/mutes", [u["id"] for u in mutes] == [w.ids["eve"]])
    ann_post = w.post("ann", "ann: who wants to meet at the park?")["id"]
    w.call("eve", "POST", f"/v1/posts/{ann_post}/comments", {"content": "me!"}, expect=201)
    notes = w.call("ann", "GET", "/v1/notifications")[0]["results"]
    shows(
        "eve's comment on ann's post notifies ann of nothing",
        all(n["actor"]["id"] != w.ids["eve"] for n in notes),
    )
    w.call("eve", "GET", f"/v1/users/{w.ids['ann']}", expect=200)
    w.call("eve", "GET", f"/v1/posts/{ann_post}", expect=200)
    eve_notes = w.call("eve", "GET", "/v1/notifications")[0]["results"]
    shows(
        "eve is not told: ann's profile and posts answer her, her notifications hold only "
        "ann's follow",
        [n["type"] for n in eve_notes] == ["follow"],
    )
    w.call("ann", "DELETE", f"/v1/users/{w.ids['eve']}/mute", expect=204)
    shows("unmuted: eve's post is back in ann's feed", eve_post in w.feed_ids("ann"))
    return {"bob_post": bob_post, "eve_post": eve_post}


def walk_bookmarks(w: Walk, posts: dict) -> None:
    section("Bookmarks: private, bookmarked_by_me, newest bookmark first")
    bob_post, eve_post = posts["bob_post"], posts["eve_post"]
    w.call("ann", "POST", f"/v1/posts/{bob_post}/bookmark", expect=201)
    w.call("ann", "POST", f"/v1/posts/{bob_post}/bookmark", expect=200)
    w.call("ann", "POST", f"/v1/posts/{eve_post}/bookmark", expect=201)
    mine = w.call("ann", "GET", f"/v1/posts/{bob_post}")[0]
    theirs = w.call("bob", "GET", f"/v1/posts/{bob_post}")[0]
    shows(
        "bookmarked_by_me is true for ann, false for bob (bookmarks are private)",
        mine["bookmarked_by_me"] is True and theirs["bookmarked_by_me"] is False,
    )
    listed = w.call("ann", "GET", "/v1/users/me/bookmarks")[0]["results"]
    shows(
        "ann's bookmarks list newest bookmark first: eve's post, then bob's",
        [p["id"] for p in listed] == [eve_post, bob_post],
    )
    w.call("ann", "DELETE", f"/v1/posts/{eve_post}/bookmark", expect=204)
    w.call("ann", "DELETE", f"/v1/posts/{eve_post}/bookmark", expect=204)
    listed = w.call("ann", "GET", "/v1/users/me/bookmarks")[0]["results"]
    shows(
        "unbookmarked (twice: 204 both): only bob's post is left",
        [p["id"] for p in listed] == [bob_post],
    )


def walk_reposts(w: Walk, posts: dict) -> None:
    section("Reposts: into the reposter's followers' feeds with reposted_by, counted, undone")
    bob_post = posts["bob_post"]
    # dan follows cat and ann, not bob: bob's post reaches dan only through their reposts.
    w.call("dan", "POST", f"/v1/users/{w.ids['cat']}/follow", expect=201)
    w.call("dan", "POST", f"/v1/users/{w.ids['ann']}/follow", expect=201)
    first = w.call("cat", "POST", f"/v1/posts/{bob_post}/reposts", expect=201)[0]
    again = w.call("cat", "POST", f"/v1/posts/{bob_post}/reposts", expect=200)[0]
    shows(
        "repost_count 1 and reposted_by_me true, the same on a repeat (201, then 200)",
        (first["repost_count"], first["reposted_by_me"])
        == (1, True)
        == (
            again["repost_count"],
            again["reposted_by_me"],
        ),
    )
    w.call("bob", "POST", f"/v1/posts/{bob_post}/reposts", expect=403)
    shows("an author cannot repost their own post (403)", True)

    def reposted_in_dans_feed():
        return next((p for p in w.feed("dan", quiet=True) if p["id"] == bob_post), None)

    seen = w.wait_for("fan-out of cat's repost to dan's feed", reposted_in_dans_feed)
    w.call("dan", "GET", "/v1/feed")
    shows(
        "bob's post is in dan's feed (dan does not follow bob) with reposted_by = cat",
        (seen["reposted_by"] or {}).get("id") == w.ids["cat"],
    )
    own = next(p for p in w.feed("ann") if p["id"] == bob_post)
    shows(
        "in ann's feed (she follows bob) it is bob's own: reposted_by null",
        own["reposted_by"] is None,
    )
    w.call("ann", "POST", f"/v1/posts/{bob_post}/reposts", expect=201)
    # Nothing to poll for: dan's feed holds the post already (its one entry stays cat's).
    time.sleep(2)
    feed = w.feed("dan")
    shows(
        "reposted by two of dan's followees, it is once in his feed page",
        [p["id"] for p in feed].count(bob_post) == 1,
    )
    as_cat = w.call("cat", "GET", f"/v1/posts/{bob_post}")[0]
    as_bob = w.call("bob", "GET", f"/v1/posts/{bob_post}")[0]
    shows(
        "repost_count 2 for everyone; reposted_by_me true for cat, false for bob",
        (as_cat["repost_count"], as_cat["reposted_by_me"], as_bob["repost_count"]) == (2, True, 2)
        and as_bob["reposted_by_me"] is False,
    )
    listed = w.call("dan", "GET", f"/v1/users/{w.ids['bob']}/posts")[0]["results"]
    shows("reposted_by is in feeds only (not in a user's posts)", "reposted_by" not in listed[0])
    w.call("cat", "DELETE", f"/v1/posts/{bob_post}/reposts", expect=204)
    w.wait_for(
        "cat's unrepost to reach dan's feed",
        lambda: (
            ((reposted_in_dans_feed() or {}).get("reposted_by") or {}).get("id") == w.ids["ann"]
        ),
    )
    w.call("dan", "GET", "/v1/feed")
    shows("cat unreposted: the post stays in dan's feed, now reposted_by = ann", True)
    w.call("ann", "DELETE", f"/v1/posts/{bob_post}/reposts", expect=204)
    w.wait_for("ann's unrepost to reach dan's feed", lambda: reposted_in_dans_feed() is None)
    w.call("dan", "GET", "/v1/feed")
    after = w.call("cat", "GET", f"/v1/posts/{bob_post}")[0]
    shows(
        "both unreposted: gone from dan's feed, repost_count 0, reposted_by_me false",
        (after["repost_count"], after["reposted_by_me"]) == (0, False),
    )


def walk_pins(w: Walk, posts: dict) -> None:
    section("Pins: at most 5, the sixth refused, most recently pinned first")
    ids = [posts["bob_post"]] + [w.post("bob", f"bob: pup photo {n}")["id"] for n in range(5)]
    for post_id in ids[:5]:
        w.call("bob", "POST", f"/v1/posts/{post_id}/pin", expect=201)
    w.call("bob", "POST", f"/v1/posts/{ids[0]}/pin", expect=200)
    refused = w.call("bob", "POST", f"/v1/posts/{ids[5]}/pin", expect=409)[0]
    shows(
        "the sixth pin is a 409 pin_limit_reached", refused["error"]["code"] == "pin_limit_reached"
    )
    w.call("ann", "POST", f"/v1/posts/{ids[5]}/pin", expect=403)
    shows("only the author pins (403 for ann)", True)
    pinned = w.call(None, "GET", f"/v1/users/{w.ids['bob']}/pinned")[0]["results"]
    shows(
        "/users/{bob}/pinned lists the 5, most recently pinned first",
        [p["id"] for p in pinned] == ids[4::-1],
    )
    w.call("bob", "DELETE", f"/v1/posts/{ids[1]}/pin", expect=204)
    w.call("bob", "POST", f"/v1/posts/{ids[5]}/pin", expect=201)
    pinned = w.call(None, "GET", f"/v1/users/{w.ids['bob']}/pinned")[0]["results"]
    shows(
        "after unpinning one, the sixth pins and leads the list",
        [p["id"] for p in pinned] == [ids[5], ids[4], ids[3], ids[2], ids[0]],
    )
    posts["bob_other"] = ids[1]


def walk_history(w: Walk, posts: dict) -> None:
    section("Edit history: edited_at set, earlier versions newest first")
    post_id = posts["bob_post"]
    original = w.call("ann", "GET", f"/v1/posts/{post_id}")[0]
    shows("a post never edited has edited_at null", original["edited_at"] is None)
    for content in ("bob: first walk in the snow!", "bob: first walk in the deep snow!"):
        w.call("bob", "PATCH", f"/v1/posts/{post_id}", {"content": content})
    edited = w.call("ann", "GET", f"/v1/posts/{post_id}")[0]
    shows(
        "after two edits edited_at is set and the content is the last one",
        edited["edited_at"] is not None and edited["content"].endswith("deep snow!"),
    )
    history = w.call("ann", "GET", f"/v1/posts/{post_id}/history")[0]["results"]
    shows(
        "/posts/{id}/history (read by ann) lists the 2 earlier versions, newest first",
        [v["content"] for v in history] == ["bob: first walk in the snow!", original["content"]],
    )
    w.call(None, "GET", f"/v1/posts/{post_id}/history", expect=200)
    shows("whoever can read the post can read its history (anonymous too)", True)


def walk_idempotency(w: Walk, run: str) -> None:
    section("Idempotency-Key: a retry gets the first answer and creates nothing")
    key = {"Idempotency-Key": f"walk-{run}-post"}
    body = {"content": f"ann: sent once ({run})"}
    first, _ = w.call("ann", "POST", "/v1/posts", body, expect=201, headers=key)
    retry, headers = w.call("ann", "POST", "/v1/posts", body, expect=201, headers=key)
    shows(
        "the retry answers the same body (Idempotent-Replayed: true)",
        retry == first and headers.get("Idempotent-Replayed") == "true",
    )
    mine = w.call("ann", "GET", f"/v1/users/{w.ids['ann']}/posts")[0]["results"]
    shows("one post was created", [p["content"] for p in mine].count(body["content"]) == 1)
    reused = w.call(
        "ann", "POST", "/v1/posts", {"content": "something else"}, expect=422, headers=key
    )[0]
    shows(
        "the same key with another body is a 422 idempotency_key_reused",
        reused["error"]["code"] == "idempotency_key_reused",
    )
    comments = f"/v1/posts/{first['id']}/comments"
    comment_key = {"Idempotency-Key": f"walk-{run}-comment"}
    one = w.call("bob", "POST", comments, {"content": "nice!"}, expect=201, headers=comment_key)[0]
    two = w.call("bob", "POST", comments, {"content": "nice!"}, expect=201, headers=comment_key)[0]
    listed = w.call("ann", "GET", comments)[0]["results"]
    shows(
        "a comment retried with its key: same answer, one comment", one == two and len(listed) == 1
    )


def walk_grouped_notifications(w: Walk, posts: dict) -> None:
    section("Grouped notifications: likes per post and follows, count and 3 newest actors")
    post_id, bob = posts["bob_other"], w.ids["bob"]
    likers = ["ann", "cat", "dan", "eve"]
    for who in likers:
        w.call(who, "POST", f"/v1/posts/{post_id}/likes", expect=201)
        time.sleep(0.05)  # the likes' order is what "newest" means below
    for who in ("cat", "dan"):
        w.call(who, "POST", f"/v1/users/{bob}/follow", expect=201)  # ann follows bob already

    def like_group():
        groups = w.call("bob", "GET", "/v1/notifications?grouped=true", quiet=True)[0]["results"]
        return next(
            (
                g
                for g in groups
                if (g["type"], g["post_id"]) == ("like", post_id) and g["count"] == 4
            ),
            None,
        )

    likes = w.wait_for("beat to drain the likes into notifications", like_group)
    groups = w.call("bob", "GET", "/v1/notifications?grouped=true")[0]["results"]
    for group in groups:
        actors = ",".join(a["username"].split("_")[0] for a in group["actors"])
        print(f"     group {group['type']:<7} post={group['post_id']}", end=" ")
        print(f"count={group['count']} actors={actors}")
    shows(
        "the 4 likes of one post are one group: count 4, actors the 3 newest (eve, dan, cat)",
        [a["id"] for a in likes["actors"]] == [w.ids[n] for n in ("eve", "dan", "cat")],
    )
    follows = next(g for g in groups if g["type"] == "follow")
    shows("the 3 follows are one group of 3", follows["count"] == 3 and len(follows["actors"]) == 3)
    plain = w.call("bob", "GET", "/v1/notifications?limit=100")[0]["results"]
    shows(
        "the plain list is as it was: one notification each (4 likes of that post)",
        sum(n["type"] == "like" and n["post_id"] == post_id for n in plain) == 4
        and all("actor" in n for n in plain),
    )


def walk_endless_feed(w: Walk, cap: int, trim_wait: float) -> None:
    section(f"A feed that never ends early: {2 * cap + 6} posts past a cap of {cap}")
    for author in ("gus", "hal"):
        w.call("fay", "POST", f"/v1/users/{w.ids[author]}/follow", expect=201)
    created = []
    for n in range(cap + 3):
        for author in ("gus", "hal"):
            created.append(w.post(author, f"{author}: post {n}", quiet=True)["id"])
    print(f"     ({len(created)} posts by gus and hal, each 201)")
    w.wait_for(
        "fan-out of the last post to fay's feed", lambda: created[-1] in w.feed_ids("fay", 1, True)
    )
    print(f"     (and {trim_wait:g} s for beat's trim to cut fay's feed to {cap} entries)")
    time.sleep(trim_wait)
    seen, cursor, pages, limit = [], None, 0, 7
    while True:
        path = f"/v1/feed?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page, headers = w.call("fay", "GET", path, quiet=pages >= 2)
        if headers.get("X-Feed-Degraded"):
            raise UnexpectedAnswer("the feed answered popular posts (degraded)")
        pages += 1
        seen += [p["id"] for p in page["results"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    print(f"  fay   GET    /v1/feed?limit={limit}&cursor=... x{pages - 2} more pages -> 200")
    shows(
        f"{pages} pages of {limit} return all {len(created)} posts once, newest first, "
        f"past the {cap} stored entries",
        seen == created[::-1],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--feed-cap", type=int, default=20, help="the server's FEED_MAX_ENTRIES")
    parser.add_argument("--trim-wait", type=float, default=5.0, help="seconds for beat's trim")
    args = parser.parse_args()
    w, run = Walk(args.base), secrets.token_hex(3)
    print(f"# Walk {run} against {args.base} (feed cap {args.feed_cap})")
    try:
        section("Users")
        for name in ("ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal"):
            w.register(name, run)
        walk_block(w)
        posts = walk_mute(w)
        walk_bookmarks(w, posts)
        walk_reposts(w, posts)
        walk_pins(w, posts)
        walk_history(w, posts)
        walk_idempotency(w, run)
        walk_grouped_notifications(w, posts)
        walk_endless_feed(w, args.feed_cap, args.trim_wait)
    except UnexpectedAnswer as error:
        print(f"\nUNEXPECTED: {error}")
        return 1
    print("\nEvery answer was the expected one.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
