"""A local upstream for tests, demos and the benchmark: JSONPlaceholder- and PokeAPI-shaped
JSON of any size, the same on every run, over real HTTP, with faults on demand.

    python -m ingestion.testing.upstream --port 8001 --posts 100 --comments-per-post 5
    python -m ingestion.testing.upstream --missing-fields comments:12   # a forced failure

Routes (JSONPlaceholder is json-server: `_page`/`_limit` paging, a short page is the last):
    /posts?_page=&_limit=   /posts/{id}      {userId, id, title, body}
    /comments?_page=&_limit=   /comments/{id}   {postId, id, name, email, body}
    /api/v2/berry?offset=&limit=    /api/v2/berry/{id}/     (flavors with potency)
    /api/v2/pokemon?offset=&limit=  /api/v2/pokemon/{id}/   (one or two types)
    POST /_control {fault: value, ...}  changes faults at run time (the demo's "fix").

Faults (`Faults`, or the same names on the command line): the first `rate_limit` requests
of each URL answer 429 with `Retry-After: retry_after`; the first `server_errors` answer
500; the first `slow` sleep `slow_seconds` before answering; `malformed` URLs (path and
query, e.g. "/posts?_page=2&_limit=10") answer invalid JSON and `truncated` ones a body
cut short of its Content-Length, every time; `duplicates` repeats each page's first item
at its end; `missing_fields` ("posts:7", "comments:12", "berry:3", "pokemon:4") drops the
text fields of those items.

No Django here: the benchmark runs it as a process of its own.
"""

import argparse
import dataclasses
import functools
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson

FLAVORS = ["spicy", "dry", "sweet", "bitter", "sour"]
FIRMNESS = ["very-soft", "soft", "hard", "very-hard", "super-hard"]
TYPES = ["normal", "fire", "water", "grass", "electric", "ice", "fighting", "poison", "ground"]
WORDS = [
    "puppy",
    "woof",
    "bark",
    "fetch",
    "ball",
    "stick",
    "walk",
    "park",
    "treat",
    "bone",
    "paw",
    "tail",
    "sniff",
    "nap",
    "zoomies",
    "squirrel",
    "leash",
    "good",
    "boy",
    "girl",
    "sit",
    "stay",
    "roll",
    "over",
    "belly",
    "rub",
]


@dataclasses.dataclass
class Faults:
    rate_limit: int = 0
    retry_after: float = 1
    server_errors: int = 0
    slow: int = 0
    slow_seconds: float = 2.0
    malformed: set[str] = dataclasses.field(default_factory=set)
    truncated: set[str] = dataclasses.field(default_factory=set)
    duplicates: bool = False
    missing_fields: set[str] = dataclasses.field(default_factory=set)


@dataclasses.dataclass
class Dataset:
    posts: int = 100
    comments_per_post: int = 5
    berries: int = 64
    pokemon: int = 151

    @property
    def comments(self) -> int:
        return self.posts * self.comments_per_post


def _words(n: int, count: int) -> str:
    # Deterministic text: a function of the id, different for neighbours.
    return _phrase(n % len(WORDS), count)


@functools.cache
def _phrase(start: int, count: int) -> str:
    # A handful of distinct phrases: made once, so serving a million items costs little.
    return " ".join(WORDS[(start * 7 + i * 5) % len(WORDS)] for i in range(count))


class Upstream:
    """The data and the faults; `serve()` starts it on a port in a thread of its own."""

    def __init__(self, dataset: Dataset | None = None, faults: Faults | None = None):
        self.dataset = dataset or Dataset()
        self.faults = faults or Faults()
        self.requests: Counter[str] = Counter()  # per URL (path and query)
        self.edits: dict[str, dict] = {}  # "posts:3" -> fields replaced (a changed item)
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    # --- items ---

    def _missing(self, key: str, item: dict, fields: tuple[str, ...]) -> dict:
        if key in self.faults.missing_fields:
            for field in fields:
                item.pop(field, None)
        item.update(self.edits.get(key, {}))
        return item

    def post(self, n: int) -> dict:
        item = {
            "userId": (n - 1) // 10 + 1,
            "id": n,
            "title": f"post {n}: {_words(n, 4)}",
            "body": _words(n + 1, 24) + (" #zoomies" if n % 10 == 0 else ""),
        }
        return self._missing(f"posts:{n}", item, ("title", "body"))

    def comment(self, n: int) -> dict:
        item = {
            "postId": (n - 1) // self.dataset.comments_per_post + 1,
            "id": n,
            "name": _words(n, 3),
            "email": f"walker{n}@example.com",
            "body": _words(n + 2, 16),
        }
        return self._missing(f"comments:{n}", item, ("body",))

    def berry(self, n: int, base: str) -> dict:
        flavors = [
            {"potency": (n * (i + 3)) % 4 * 10, "flavor": {"name": name, "url": f"{base}/{i}"}}
            for i, name in enumerate(FLAVORS)
        ]
        item = {
            "id": n,
            "name": f"berry{n}",
            "growth_time": n % 24 + 1,
            "size": 20 + n,
            "firmness": {"name": FIRMNESS[n % len(FIRMNESS)], "url": f"{base}/firmness"},
            "flavors": flavors,
        }
        return self._missing(f"berry:{n}", item, ("name", "flavors"))

    def pokemon(self, n: int) -> dict:
        types = [TYPES[n % len(TYPES)]]
        if n % 3 == 0:
            types.append(TYPES[(n // 3) % len(TYPES)])
        types = list(dict.fromkeys(types))
        item = {
            "id": n,
            "name": f"pokemon{n}",
            "types": [{"slot": i + 1, "type": {"name": t}} for i, t in enumerate(types)],
        }
        return self._missing(f"pokemon:{n}", item, ("name", "types"))

    # --- routes ---

    def answer(self, path: str, query: dict[str, str], origin: str) -> object:
        parts = [p for p in path.split("/") if p]
        data = self.dataset
        if parts and parts[0] in ("posts", "comments"):
            total, make = (
                (data.posts, self.post) if parts[0] == "posts" else (data.comments, self.comment)
            )
            if len(parts) == 2:
                n = int(parts[1])
                if not 1 <= n <= total:
                    raise LookupError
                return make(n)
            page, limit = int(query.get("_page", 1)), int(query.get("_limit", total or 1))
            first = (page - 1) * limit + 1
            return self._page([make(n) for n in range(first, min(first + limit, total + 1))])
        if parts[:2] == ["api", "v2"] and len(parts) >= 3 and parts[2] in ("berry", "pokemon"):
            resource = parts[2]
            total = data.berries if resource == "berry" else data.pokemon
            base = f"{origin}/api/v2/{resource}"
            if len(parts) == 4:
                n = int(parts[3])
                if not 1 <= n <= total:
                    raise LookupError
                return (
                    self.berry(n, f"{origin}/api/v2/berry-flavor")
                    if resource == "berry"
                    else (self.pokemon(n))
                )
            offset, limit = int(query.get("offset", 0)), int(query.get("limit", 20))
            end = min(offset + limit, total)
            results = [
                {"name": f"{resource}{n}", "url": f"{base}/{n}/"}
                for n in range(offset + 1, end + 1)
            ]
            return {
                "count": total,
                "next": f"{base}?offset={end}&limit={limit}" if end < total else None,
                "previous": None,
                "results": self._page(results),
            }
        raise LookupError

    def _page(self, items: list) -> list:
        if self.faults.duplicates and items:
            items.append(items[0])
        return items

    def control(self, changes: dict) -> None:
        for name, value in changes.items():
            field = {f.name: f for f in dataclasses.fields(Faults)}[name]
            if field.default_factory is set:
                value = set(value)
            setattr(self.faults, name, value)

    def count(self, url: str) -> int:
        with self._lock:
            self.requests[url] += 1
            return self.requests[url]

    # --- serving ---

    def serve(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Start serving in a daemon thread; returns the base URL."""
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://{host}:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _handler(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the benchmark makes a thousand requests

        def log_message(self, format, *args):  # quiet: tests and the benchmark read stdout
            pass

        def _send(self, status: int, body: bytes, headers: dict | None = None, length=None):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) if length is None else length))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            if self.path != "/_control":
                return self._send(404, b'{"error": "not found"}')
            length = int(self.headers.get("Content-Length") or 0)
            try:
                upstream.control(orjson.loads(self.rfile.read(length) or b"{}"))
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                return self._send(400, orjson.dumps({"error": str(exc)}))
            self._send(200, orjson.dumps(dataclasses.asdict(upstream.faults), default=sorted))

        def do_GET(self):
            faults, url = upstream.faults, self.path
            seen = upstream.count(url)
            if seen <= faults.rate_limit:
                return self._send(429, b"{}", {"Retry-After": str(faults.retry_after)})
            if seen <= faults.rate_limit + faults.server_errors:
                return self._send(500, b'{"error": "boom"}')
            if seen <= faults.rate_limit + faults.server_errors + faults.slow:
                time.sleep(faults.slow_seconds)
            split = urlsplit(url)
            query = {k: v[0] for k, v in parse_qs(split.query).items()}
            try:
                data = upstream.answer(split.path, query, f"http://{self.headers['Host']}")
            except (LookupError, ValueError):
                return self._send(404, b"{}")
            body = orjson.dumps(data)
            if url in faults.malformed:
                return self._send(200, body[: len(body) // 2] + b"<html>oops")
            if url in faults.truncated:
                self._send(200, body[: len(body) // 2], length=len(body))
                self.close_connection = True
                return None
            return self._send(200, body)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--posts", type=int, default=100)
    parser.add_argument("--comments-per-post", type=int, default=5)
    parser.add_argument("--berries", type=int, default=64)
    parser.add_argument("--pokemon", type=int, default=151)
    parser.add_argument("--missing-fields", nargs="*", default=[], help='e.g. "comments:12"')
    parser.add_argument(
        "--malformed", nargs="*", default=[], help='URLs, e.g. "/posts?_page=2&_limit=100"'
    )
    parser.add_argument("--rate-limit", type=int, default=0)
    parser.add_argument("--server-errors", type=int, default=0)
    parser.add_argument("--duplicates", action="store_true")
    args = parser.parse_args()
    upstream = Upstream(
        Dataset(args.posts, args.comments_per_post, args.berries, args.pokemon),
        Faults(
            rate_limit=args.rate_limit,
            server_errors=args.server_errors,
            malformed=set(args.malformed),
            duplicates=args.duplicates,
            missing_fields=set(args.missing_fields),
        ),
    )
    print(upstream.serve(args.port, args.host), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        upstream.stop()


if __name__ == "__main__":
    main()
