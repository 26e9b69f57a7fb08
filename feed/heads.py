"""The cached first page of each active owner's home feed (Redis), kept by fan-out.

`feed:head:<owner>` holds the newest FEED_HEAD_SIZE visible post ids of the owner's feed
with their times (`id:micros`, or `id:micros:reposter` for a followee's repost), so a
first page needs no SQL, and whether that is the whole feed. It is cached only for an
owner whose feed is pushed entries (no VIP followed: VIP posts are merged at read time,
and no dormant feed), continued past them, when they are few, by the followees' own posts
(feed.sql.feed_page). Whatever changes an owner's entries drops the head after its
commit: fan-out (`invalidate`, per chunk of followers), follow and unfollow, a rebuild, a
VIP promotion. The next read rebuilds it from PostgreSQL under a lease: the reader marks
the empty key with a token before its query and stores the head only if the token is
still there, so a head read before a change can never be stored after that change
dropped it. Posts hidden or deleted since are left out when the page is rendered.
"""

import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings

from posts import rendering
from puppies import redis as puppies_redis
from users import revocations
from users.models import User

_BATCH = 1000
_LEASE_MS = 5_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HEAD, _LEASE = b"H", b"L"

Entry = tuple[int, datetime, int | None]  # post id, created_at, reposted by


def _key(owner_id: int) -> bytes:
    return b"feed:head:%d" % owner_id


# KEYS head; ARGV the request's pending token check (users.revocations), lease value,
# lease ms, page size, then render's viewer arguments.
# -> {head, what render returned for its first page-size posts}; or false after taking the
# lease (or {lease} when another reader holds it: the caller reads PostgreSQL and stores
# nothing); or {"!auth", verdict}. One round trip serves a cached first page: the token
# check, the ids, the posts and the viewer's likes.
_FIRST_PAGE = puppies_redis.Script(
    revocations.LUA_CHECK
    + rendering.LUA_RENDER
    + """
local verdict = token_revoked(ARGV[1], ARGV[2])
if verdict then return {'!auth', verdict} end
table.remove(ARGV, 1)
table.remove(ARGV, 1)
local head = redis.call('GET', KEYS[1])
if not head then
  redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
  return false
end
if string.sub(head, 1, 1) ~= 'H' then return {head} end
local ids, limit = {}, tonumber(ARGV[3])
for id, by in string.gmatch(head, '[;,](%d+):%d+:?(%d*)') do
  if #ids == limit then break end
  -- render's "<post id>::<reposter>": the reposter's summary comes along
  ids[#ids + 1] = by == '' and id or (id .. '::' .. by)
end
return {head, render(ARGV[4], ARGV[5], ids)}
"""
)

# KEYS head; ARGV lease value, head, ttl s. Store the head if the lease is still ours.
_STORE = puppies_redis.Script("""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
""")


@dataclass
class Page:
    post_ids: list[int]
    next_key: tuple[datetime, int] | None  # (created_at, post id) to continue after
    reposted_by: dict[int, int]  # post id -> reposter, for reposts


def first_page(viewer: User, limit: int) -> tuple[Page | None, list | None, bytes | None]:
    """The first `limit` posts of the viewer's cached head, read for posts.rendering; or,
    on a miss, (None, None, a lease) that lets `store` cache what the caller then reads
    from PostgreSQL (no lease when another reader is building it, or Redis is down)."""
    lease = _LEASE + secrets.token_hex(8).encode()
    check = revocations.pending_args(viewer)
    args = [*check, lease, _LEASE_MS, limit, *rendering.render_args(viewer)]
    try:
        found = _FIRST_PAGE([_key(viewer.pk)], args)
    except puppies_redis.Unavailable:
        return None, None, None
    if found and found[0] == b"!auth":
        revocations.settle(viewer, found[1])  # raises if the token was revoked
        return first_page(viewer, limit)
    revocations.settle(viewer, None)
    if found is None:
        return None, None, lease
    if len(found) == 1:
        return None, None, None  # another reader is building it
    raw, read = found
    complete, _, body = raw[1:].partition(b";")
    items = body.split(b",", limit) if body else []  # the page's entries, then the rest
    more = len(items) > limit or complete != b"1"
    page = [item.split(b":") for item in items[:limit]]
    next_key = None
    if more and page:
        micros, post_id = int(page[-1][1]), int(page[-1][0])
        next_key = (_EPOCH + timedelta(microseconds=micros), post_id)
    reposted_by = {int(entry[0]): int(entry[2]) for entry in page if len(entry) > 2}
    return Page([int(entry[0]) for entry in page], next_key, reposted_by), read, None


def store(owner_id: int, lease: bytes, entries: Sequence[Entry], *, complete: bool) -> None:
    """Cache the owner's head read from PostgreSQL under `lease`."""
    body = b",".join(
        b"%d:%d" % (post_id, (at - _EPOCH) // timedelta(microseconds=1))
        + (b":%d" % by if by is not None else b"")
        for post_id, at, by in entries
    )
    head = _HEAD + (b"1" if complete else b"0") + b";" + body
    with contextlib.suppress(puppies_redis.Unavailable):
        _STORE([_key(owner_id)], [lease, head, settings.FEED_HEAD_TTL_S])


def invalidate(owner_ids: Sequence[int]) -> None:
    """Drop the cached heads (and leases) of these owners: one UNLINK per thousand."""
    if not owner_ids:
        return
    # Raw commands on the kept connection: per owner, this is a fan-out's main cost after
    # the insert itself (through redis-py's client it took about twice as long).
    batches = [
        ("UNLINK", *(_key(owner) for owner in owner_ids[start : start + _BATCH]))
        for start in range(0, len(owner_ids), _BATCH)
    ]
    # Redis down: nothing cached can be read either; heads expire.
    with contextlib.suppress(puppies_redis.Unavailable):
        puppies_redis.execute(batches)
