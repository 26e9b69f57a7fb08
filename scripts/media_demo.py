"""The media flow end to end over HTTP, as a client sees it, and each bad input's answer.

    .venv/bin/python scripts/media_demo.py          # local storage (the signed PUT link)
    .venv/bin/python scripts/media_demo.py --s3     # an S3 bucket (moto's standalone server)

Like scripts/api_contract.py it runs on a database of its own (DATABASE_URL's name +
`_media_demo`, recreated) and a Redis of its own, and starts gunicorn and a Celery worker
(and, with --s3, moto's server with a bucket set up as docs/media.md says). Then: two
users, one following the other; a post with an image; the upload with no bearer token;
`complete` where the storage needs it; the post in the follower's feed; its thumbnail
fetched; an avatar; and every bad input tried, with its answer.
"""

import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

import httpx
from PIL import Image

from scripts.api_contract import (
    BIN,
    ROOT,
    contract_env,
    free_port,
    recreate_database,
    start_redis,
)

BUCKET, KEY, SECRET, REGION = "puppies-demo", "demo-key", "demo-secret", "us-east-1"


def image(fmt: str = "PNG", size=(640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, fmt)
    return out.getvalue()


def psd() -> bytes:
    from posts.tests.support import psd_bytes

    return psd_bytes()


def show(label: str, response: httpx.Response) -> httpx.Response:
    body = response.text[:300].replace("\n", " ")
    print(f"  {label:<58} -> {response.status_code} {body}")
    return response


def wait(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


class Client:
    def __init__(self, base: str, name: str):
        self.base, self.http = base, httpx.Client(base_url=base, timeout=30)
        password = "a long dog password 42"  # noqa: S105 (a demo account)
        self.http.post(
            "/v1/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": password},
        ).raise_for_status()
        tokens = self.http.post(
            "/v1/auth/token", json={"username": name, "password": password}
        ).json()
        self.http.headers["Authorization"] = f"Bearer {tokens['access']}"
        self.id = self.http.get("/v1/users/me").json()["id"]


def send(link: dict, data: bytes, content_type: str | None = None, method: str | None = None):
    """What the `upload` block says to do, with no Authorization header."""
    if link["method"] == "PUT":
        headers = dict(link["headers"])
        if content_type:
            headers["Content-Type"] = content_type
        return httpx.request(method or "PUT", link["url"], content=data, headers=headers)
    fields = dict(link["fields"])
    if content_type:
        fields["Content-Type"] = content_type
    return httpx.post(link["url"], data=fields, files={"file": ("dog", data, "image/png")})


def absolute(base: str, url: str) -> str:
    return url if url.startswith("http") else base + url


def create(alice: Client, data: bytes, content_type: str = "image/png") -> dict:
    claim = {"content_type": content_type, "size": len(data)}
    return alice.http.post("/v1/posts", json={"content": "Rex #dogs", "media": claim}).json()


def complete(alice: Client, body: dict):
    link = body["upload"]
    if link["complete_url"]:
        return alice.http.post(urlparse(link["complete_url"]).path)
    return None


def post_of(alice: Client, post_id: int) -> dict:
    return alice.http.get(f"/v1/posts/{post_id}").json()


def demo(base: str) -> None:
    alice, bob = Client(base, "alice"), Client(base, "bob")
    show("bob follows alice", bob.http.post(f"/v1/users/{alice.id}/follow"))
    data = image()

    print("\nThe flow:")
    body = create(alice, data)
    print(f"  POST /v1/posts (media png, {len(data)} bytes) -> status {body['status']},")
    print(f"    upload = {json.dumps(body['upload'])[:400]}")
    show("send the file as told, no Authorization header", send(body["upload"], data))
    response = complete(alice, body)
    if response is not None:
        show(f"POST {urlparse(body['upload']['complete_url']).path}", response)
    feed = wait(lambda: bob.http.get("/v1/feed").json()["results"], "the follower's feed")
    post = feed[0]
    print(f"  bob's feed: post {post['id']} {post['status']}, media = {json.dumps(post['media'])}")
    thumbnail = httpx.get(absolute(base, post["media"]["thumbnail_url"]))
    with Image.open(io.BytesIO(thumbnail.content)) as thumb:
        print(f"  GET thumbnail_url -> {thumbnail.status_code}, {thumb.format} {thumb.size}")

    print("\nAn avatar:")
    avatar = image("JPEG", (300, 400))
    up = alice.http.post(
        "/v1/users/me/avatar", json={"content_type": "image/jpeg", "size": len(avatar)}
    ).json()
    show("send the avatar, no Authorization header", send(up["upload"], avatar))
    if up["upload"]["complete_url"]:
        show("POST /v1/users/me/avatar/complete", alice.http.post("/v1/users/me/avatar/complete"))
    url = wait(lambda: alice.http.get("/v1/users/me").json()["avatar_url"], "the avatar")
    with Image.open(io.BytesIO(httpx.get(absolute(base, url)).content)) as square:
        print(f"  avatar_url = {url} -> {square.format} {square.size}")

    print("\nBad inputs:")
    used = body
    if used["upload"]["method"] == "PUT":
        show("the same link again", send(used["upload"], data))
        fresh = create(alice, data)
        show("PUT with Content-Type image/gif", send(fresh["upload"], data, "image/gif"))
        show("PUT of 5 bytes more than declared", send(fresh["upload"], data + b"extra"))
        show("PUT of 1 byte less than declared", send(fresh["upload"], data[:-1]))
        show("GET of the link", httpx.get(fresh["upload"]["url"]))
        show("POST to the link", send(fresh["upload"], data, method="POST"))
        show("an altered link", httpx.put(fresh["upload"]["url"] + "x", content=data))
    else:
        fresh = create(alice, data)
        show("complete before the file arrived", complete(alice, fresh))
        show("complete by someone else", bob.http.post(f"/v1/posts/{fresh['id']}/media/complete"))
        # Real S3 refuses these at the POST (the policy); moto does not check policies.
        show("POST a file 5 bytes larger than declared", send(fresh["upload"], data + b"extra"))
        complete(alice, fresh)
        seen = wait(lambda: post_of(alice, fresh["id"])["media_error"], "the check")
        print(f"  {'  ... then complete':<58} -> pending_media, media_error {seen!r}")
    show(
        "a claim of image/bmp",
        alice.http.post(
            "/v1/posts", json={"content": "x", "media": {"content_type": "image/bmp", "size": 9}}
        ),
    )
    show(
        "a claim of 11 MB",
        alice.http.post(
            "/v1/posts",
            json={"content": "x", "media": {"content_type": "image/png", "size": 11 << 20}},
        ),
    )
    for label, declared_type, payload in [
        ("a PSD declared as image/png", "image/png", psd()),
        ("a TIFF declared as image/png", "image/png", image("TIFF")),
        ("a JPEG declared as image/png", "image/png", image("JPEG")),
        ("text declared as image/png", "image/png", b"not a picture at all" * 5),
        ("a truncated PNG", "image/png", image()[:-40]),
    ]:
        bad = create(alice, payload, declared_type)
        send(bad["upload"], payload)
        complete(alice, bad)
        seen = wait(lambda bad=bad: post_of(alice, bad["id"])["media_error"], "the check")
        hidden = bob.http.get(f"/v1/posts/{bad['id']}").status_code
        print(f"  {label:<58} -> pending_media, media_error {seen!r}; bob: {hidden}")


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def main() -> int:
    s3 = "--s3" in sys.argv
    with tempfile.TemporaryDirectory() as directory:
        redis_server, redis_url = start_redis(directory)
        processes: list[subprocess.Popen] = []
        try:
            env = contract_env(redis_url)
            env["DATABASE_URL"] = env["DATABASE_URL"].replace("_contract", "_media_demo")
            env["MEDIA_ROOT"] = str(Path(directory) / "media")
            if s3:
                endpoint = start_bucket(processes, Path(directory))
                env.update(
                    MEDIA_STORAGE="s3",
                    MEDIA_S3_BUCKET=BUCKET,
                    MEDIA_S3_ENDPOINT_URL=endpoint,
                    MEDIA_S3_REGION=REGION,
                    MEDIA_S3_ACCESS_KEY_ID=KEY,
                    MEDIA_S3_SECRET_ACCESS_KEY=SECRET,
                    SERVE_MEDIA="false",
                )
            recreate_database(env)
            subprocess.run(
                [str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"],
                cwd=ROOT,
                env=env,
                check=True,
            )
            port = free_port()
            logs = Path(directory)
            processes.append(
                start(
                    [str(BIN / "gunicorn"), "puppies.wsgi", "--bind", f"127.0.0.1:{port}"],
                    env,
                    logs / "web.log",
                )
            )
            processes.append(
                start(
                    [
                        str(BIN / "celery"),
                        "-A",
                        "puppies",
                        "worker",
                        "-Q",
                        "default,fanout,media",
                        "-c",
                        "1",
                        "--without-gossip",
                        "--without-mingle",
                    ],
                    env,
                    logs / "worker.log",
                )
            )
            base = f"http://127.0.0.1:{port}"
            wait(lambda: _up(f"{base}/healthz"), "gunicorn")
            print(f"storage: {'s3 (moto at ' + endpoint + ')' if s3 else 'local'}; API {base}")
            demo(base)
            return 0
        finally:
            for process in processes:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
            redis_server.kill()
            redis_server.wait(timeout=10)


def _up(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.TransportError:
        return False


def start_bucket(processes: list, logs: Path) -> str:
    import boto3

    port = free_port()
    processes.append(
        start(
            [str(BIN / "python"), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            dict(os.environ),
            logs / "moto.log",
        )
    )
    endpoint = f"http://127.0.0.1:{port}"
    wait(lambda: _up(f"{endpoint}/moto-api/"), "moto")
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
    )
    client.create_bucket(Bucket=BUCKET)
    public = [f"arn:aws:s3:::{BUCKET}/{prefix}*" for prefix in ("posts/", "avatars/")]
    statement = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": public}
    client.put_bucket_policy(
        Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    return endpoint


if __name__ == "__main__":
    sys.exit(main())
