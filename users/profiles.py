"""Profiles (`GET /v1/users/{id}`, `GET /v1/users/me`) and their copy in Redis for
read-only mode: while PostgreSQL is unreachable a profile is answered from the copy the
last read of it stored (ARCHITECTURE.md, degraded modes).

- `profile:{<user id>}:<viewer id | 0 anonymous | me>`: the exact JSON a viewer got
  (`is_following` is the viewer's, `me` adds the email), behind `<version>|`.
- `profile:{<user id>}:v`: the user's version, bumped after every change others can see
  in the profile (edits, follows both ways, suspension): an entry stored under an older
  version is never served, so a change is never undone by an outage.

Normal reads stay one query: the copy is written only when a process renders a body it
has not stored in the last PROFILE_CACHE_REFRESH_S (one Redis call then, none on repeat
reads). A render that read the database just before a change committed may store the
old body under the new version; the next read of that profile re-stores it, since its
body differs.
"""

import contextlib
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction

from puppies import redis as puppies_redis
from puppies.renderers import JSONRenderer
from puppies.serializers import represent
from users import selectors
from users.models import User

ME = "me"

# KEYS: the entry, the user's version. ARGV: body, ttl. Stored under the current version.
_STORE = puppies_redis.Script("""
local version = redis.call('GET', KEYS[2]) or '0'
redis.call('SET', KEYS[1], version .. '|' .. ARGV[1], 'EX', ARGV[2])
return 1
""")

# KEYS: the entry, the user's version -> the body if it was stored under that version.
_READ = puppies_redis.Script("""
local entry = redis.call('GET', KEYS[1])
if not entry then return false end
local sep = string.find(entry, '|', 1, true)
if string.sub(entry, 1, sep - 1) ~= (redis.call('GET', KEYS[2]) or '0') then return false end
return string.sub(entry, sep + 1)
""")

# Per process: (user, viewer) -> (hash of the body last stored, when).
_stored: dict[tuple[int, str], tuple[int, float]] = {}
_STORED_KEPT = 100_000


_render = JSONRenderer().render


def _keys(user_id: int, viewer: str) -> list[str]:
    return [f"profile:{{{user_id}}}:{viewer}", f"profile:{{{user_id}}}:v"]


def _viewer(request_user, *, me: bool) -> str:
    if me:
        return ME
    return str(request_user.pk) if request_user.is_authenticated else "0"


def render_profile(request_user, user_id: int, *, me: bool = False) -> bytes | None:
    """The profile of `user_id` as `request_user` sees it (`me`: their own, with the email),
    None if there is no such visible user. PostgreSQL unreachable: the stored copy, or the
    database error again (a 503) when there is none."""
    from users.serializers import MeSerializer, UserSerializer

    viewer = _viewer(request_user, me=me)
    try:
        if me:
            body = _render(represent(MeSerializer, request_user))
        else:
            user = selectors.get_user(request_user, user_id=user_id)
            if user is None:
                return None
            body = _render(represent(UserSerializer, user))
    except (OperationalError, InterfaceError):
        cached = _cached(user_id, viewer)
        if cached is None:
            raise
        return cached
    _store(user_id, viewer, body)
    return body


def _cached(user_id: int, viewer: str) -> bytes | None:
    try:
        return _READ(_keys(user_id, viewer))
    except puppies_redis.Unavailable:
        return None


def _store(user_id: int, viewer: str, body: bytes) -> None:
    now, digest = time.monotonic(), hash(body)
    last = _stored.get((user_id, viewer))
    if last and last[0] == digest and now - last[1] < settings.PROFILE_CACHE_REFRESH_S:
        return
    with contextlib.suppress(puppies_redis.Unavailable):
        _STORE(_keys(user_id, viewer), [body, settings.PROFILE_CACHE_TTL_S])
        if len(_stored) >= _STORED_KEPT:
            _stored.clear()
        _stored[(user_id, viewer)] = (digest, now)


def changed(*users: User | int) -> None:
    """What others see of these users' profiles changed: stale once this commits."""
    ids = [u if isinstance(u, int) else u.pk for u in users]
    transaction.on_commit(lambda: invalidate(ids))


def invalidate(user_ids: list[int]) -> None:
    puppies_redis.bump_versions(
        [_keys(user_id, ME)[1] for user_id in user_ids], entry_ttl_s=settings.PROFILE_CACHE_TTL_S
    )
