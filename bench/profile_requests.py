"""One hot endpoint's requests through the project's WSGI app in this process, to profile.

    .venv/bin/python bench/profile_requests.py --build
    .venv/bin/python bench/profile_requests.py create-post [--requests 200] [--cprofile]
    valgrind --tool=callgrind --callgrind-out-file=.local/profile/cg.%p .venv/bin/python \
        bench/profile_requests.py create-post --requests 250   # the .2 dump: 200 requests

`--build` makes bench/http_load.py's dataset (its database and Redis database) and keeps
its user and post ids and signing keys in .local/profile/dataset.json; the other runs
reuse it (minting fresh access tokens with those keys), so a run under callgrind only
serves requests. 20 posts and 20 users take turns, so after the first 20 requests the
posts are cached and the tokens remembered, as on a running site. No sockets and no
gunicorn: what is counted is the web process's own work (PostgreSQL and Redis run in
their own processes). Instructions are deterministic, whatever else the machine is
doing; under callgrind the counters are zeroed after the warm-up (the first fifth) and
dumped after the last request, so that dump (`.2`) holds the measured requests alone:
its total over their number is one request's cost. `--cprofile` prints the costliest
functions (`--sort`, `--top`); every run prints the garbage collector's passes during
the measured requests (after the first fifth).
"""

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATASET = ROOT / ".local" / "profile" / "dataset.json"
KEYS = ("SECRET_KEY", "JWT_SIGNING_KEY")
if "--build" not in sys.argv and DATASET.exists():  # tokens are signed with its keys
    os.environ.update({k: json.loads(DATASET.read_text())["keys"][k] for k in KEYS})

from bench import http_load  # noqa: E402 - sets the bench's environment first

NAMES = [n for n in http_load.NAMES if n not in ("feed-next", "feed-1client")]  # served here


def build() -> None:
    http_load.ensure_database(http_load.DATABASE_URL)
    import django

    django.setup()
    data = http_load.build_dataset()
    # The steady state bench/http_load.py's settle() reaches: every user's liked set built.
    from interactions import like_buffer
    from interactions.services.likes import drain_like_buffer

    users = [data.reader, *data.others]
    like_buffer.client().sadd(like_buffer.WANTED_LIKED_SETS, *(u.pk for u in users))
    drain_like_buffer()
    DATASET.parent.mkdir(parents=True, exist_ok=True)
    DATASET.write_text(
        json.dumps(
            {
                "users": [data.reader.pk, *(o.pk for o in data.others)],
                "posts": [p.pk for p in data.posts],
                "authors": [a.pk for a in data.authors],
                "liked_pairs": data.liked_pairs,
                "keys": {k: os.environ[k] for k in KEYS},
            }
        )
    )
    print(f"dataset kept in {DATASET}")


def requests(name: str, saved: dict, count: int) -> list[tuple[str, str, str, bytes]]:
    """(method, path, token, body) for `count` requests of endpoint `name`."""
    if name == "ceiling":  # bench/ceiling.py: no auth, and settings of its own
        tokens = [""] * len(saved["users"])
    else:
        from rest_framework_simplejwt.tokens import AccessToken

        from users.models import User

        tokens = [str(AccessToken.for_user(User(pk=pk))) for pk in saved["users"]]
    posts = saved["posts"]
    others = len(tokens) - 1
    text = b'{"content": "Walked the new puppy along the river; she found a stick."}'
    out = []
    for k in range(count):
        # 20 posts and users in turn: the first 20 requests cache the posts and remember the
        # tokens, as a running site has (a miss costs more; bench/http_load.py has the mix)
        post = posts[k % 20]
        user = 1 + k % min(20, others)
        if name in ("ceiling", "feed"):
            out.append(("GET", "/v1/feed", tokens[0], b""))
        elif name == "post":
            out.append(("GET", f"/v1/posts/{post}", tokens[user], b""))
        elif name == "user-posts":
            author = saved["authors"][k % len(saved["authors"])]
            out.append(("GET", f"/v1/users/{author}/posts", tokens[user], b""))
        elif name in ("like", "unlike"):
            i, liked = saved["liked_pairs"][k % len(saved["liked_pairs"])]
            method = "POST" if name == "like" else "DELETE"
            out.append((method, f"/v1/posts/{liked}/likes", tokens[1 + i], b""))
        elif name == "create-post":
            out.append(("POST", "/v1/posts", tokens[user], text))
        elif name == "comment":
            out.append(("POST", f"/v1/posts/{post}/comments", tokens[user], text))
    return out


def callgrind(command: str) -> None:
    """Under callgrind, zero its counters before the measured requests and dump them after,
    so the dump holds those requests alone (its total over their number: one request)."""
    control = shutil.which("callgrind_control")
    if control and "valgrind" in os.environ.get("LD_PRELOAD", ""):
        subprocess.run([control, command, str(os.getpid())], check=True)  # noqa: S603 - our own pid


class GarbageCollections:
    """The collector's passes while watched: count, total and longest ms per generation."""

    def __init__(self):
        self.passes: dict[int, list[float]] = {0: [], 1: [], 2: []}

    def watch(self) -> None:
        gc.callbacks.append(self._seen)

    def _seen(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.passes[info["generation"]].append(time.perf_counter() - self._started)

    def __str__(self) -> str:
        return ", ".join(
            f"gen{g} {len(t)}x {sum(t) * 1e3:.1f} ms (max {max(t, default=0) * 1e3:.1f})"
            for g, t in self.passes.items()
        )


def serve(app, method: str, path: str, token: str, body: bytes) -> int:
    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
    }
    status = []
    chunks = app(environ, lambda s, headers, exc_info=None: status.append(s))
    b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    return int(status[0].split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint", nargs="?", choices=NAMES)
    parser.add_argument("--build", action="store_true", help="make the dataset and stop")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--sort", default="tottime", help="cProfile's order: tottime, cumtime")
    parser.add_argument("--top", type=int, default=25, help="cProfile's rows")
    parser.add_argument("--save", help="also write cProfile's stats to this file (pstats)")
    args = parser.parse_args()
    if args.build:
        build()
        return 0
    if not args.endpoint:
        parser.error("name an endpoint, or --build")
    saved = json.loads(DATASET.read_text())
    if args.endpoint == "ceiling":  # bench/ceiling.py: its own settings, same requests
        from bench.ceiling import application as app
    else:
        from puppies.wsgi import application as app  # what gunicorn serves
    todo = requests(args.endpoint, saved, args.requests)
    profiler = cProfile.Profile() if args.cprofile else None
    statuses: dict[int, int] = {}
    collections = GarbageCollections()
    started = time.perf_counter()
    warm = len(todo) // 5  # the first fifth warms up
    for k, request in enumerate(todo):
        if k == warm:
            collections.watch()
            callgrind("--zero")
            if profiler:
                profiler.enable()
        code = serve(app, *request)
        statuses[code] = statuses.get(code, 0) + 1
    callgrind("--dump")
    elapsed = time.perf_counter() - started
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)
        if args.save:
            profiler.dump_stats(args.save)
    print(f"{args.endpoint}: {len(todo)} requests in {elapsed:.2f} s, statuses {statuses}")
    print(f"garbage collections in the last {len(todo) - len(todo) // 5}: {collections}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
