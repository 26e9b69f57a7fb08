"""The Redis side of buffered likes: intents, the in-flight batch, and the pending overlay.

Keys (hash-tagged so that one post's keys share a Redis Cluster slot and its Lua scripts
stay single-slot; the drain's global sets share the `{likes}` slot):

- `likes:{<post>}:pending`   hash user id -> intent "<wanted><base><ms>": wanted and base are
  1 (liked) or 0; base is what PostgreSQL held (or will hold, once the in-flight batch lands)
  when the intent was first recorded, so an intent adds `wanted - base` to the like count.
  An intent that comes back to its base is dropped: like then unlike nets to nothing.
- `likes:{<post>}:inflight`  the batch being written to PostgreSQL (the pending hash renamed).
- `likes:{<post>}:delta`     sum of `wanted - base` over pending and in-flight: what reads add
  to `Post.like_count`. Every intent writes it, and it goes only with the last intent, so
  a post without it has no intent at all (renders skip the intent lookups then).
- `likes:{<post>}:epoch`     bumped whenever an in-flight batch has landed: an intent decided
  from a PostgreSQL lookup is only recorded if no batch landed since the lookup began.
- `{likes}:dirty`            post ids with pending intents; `{likes}:draining` the ids a drain
  claimed and has not finished; `{likes}:lock` one drain at a time.
- `liked:{<user>}`           the posts the user likes in PostgreSQL (a member `x` alone: too
  many to keep, ask PostgreSQL). Built and kept by the drain only, under its lock: the drain
  is the one writer of the Like table, so a set can never miss a like landing while it is
  built. Post rendering (posts/rendering.py) reads it with the pending and in-flight
  intents above; `{likes}:wanted` holds the users whose set a render found missing.

A drain claims ids (dirty -> draining, atomic), renames each post's pending hash to in-flight
(unless a killed drain left one there: that one is finished first), applies it idempotently,
then in one script deletes it and takes its contribution off the delta; only then is the id
released. Killed anywhere, the next drain redoes at most an idempotent apply.
"""

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis
from django.conf import settings

from posts.selectors import PostNotFound
from puppies import ratelimit
from puppies import redis as puppies_redis
from users import hidden, revocations

DIRTY = "{likes}:dirty"
DRAINING = "{likes}:draining"
LOCK = "{likes}:lock"
WANTED_LIKED_SETS = "{likes}:wanted"
EPOCH_TTL_S = 3600
# A liked set lives this long after it is built; a user with more likes gets no set.
LIKED_SET_TTL_S = 3600
LIKED_SET_MAX = 10_000
TOO_MANY = "x"

# Redis errors that mean "the buffer is unavailable": callers fall back to PostgreSQL.
Unavailable = puppies_redis.Unavailable


def keys(post_id: int) -> tuple[str, str, str, str]:
    """The post's pending, in-flight, delta and epoch keys."""
    tag = f"likes:{{{post_id}}}"
    return f"{tag}:pending", f"{tag}:inflight", f"{tag}:delta", f"{tag}:epoch"


def liked_key(user_id: int) -> str:
    return f"liked:{{{user_id}}}"


# KEYS pending, inflight, delta, epoch; ARGV user, wanted, db_state ("" = not looked up),
# epoch seen before the lookup, now in ms.
# -> {0, epoch}: look PostgreSQL up and call again; {1, delta}: already so; {2, delta}: changed.
# With three more KEYS, the post's cached rendering, the user's liked set and the
# rendering's version (posts.rendering), and ARGV the post id, the request's pending
# token check (users.revocations) and its like limit (puppies.ratelimit.ScriptLimit),
# PostgreSQL is not needed when they answer: the rendering says the post is visible and
# its stored like_count, the set what the Like table holds (the drain keeps it before it
# forgets a batch). -> {-1, verdict}: token revoked (nothing recorded); {-2, seconds}: over
# the limit (nothing recorded); {3}: not cached; {0}: no set; else with the stored count.
# An eighth KEY, the user's set of those with a block with them (users.hidden): {4} when
# the post's author is in it (not found); {3} when it is not built yet.
_INTENT = puppies_redis.Script(
    revocations.LUA_CHECK
    + ratelimit.LUA_LIMIT
    + """
local user, wanted = ARGV[1], tonumber(ARGV[2])
local cached = #KEYS == 8
local stored = false
if cached then
  local verdict = token_revoked(ARGV[7], ARGV[8])
  if verdict then return {-1, verdict} end
  local wait = over_limit(ARGV[9], ARGV[10], ARGV[11])
  if wait then return {-2, wait} end
  local got = redis.call('MGET', KEYS[5], KEYS[7])
  if not got[1] then return {3} end
  local version, author, likes = string.match(got[1], '^(%d+)|(%d+)|(%d+)|')
  if version ~= (got[2] or '0') then return {3} end
  if redis.call('EXISTS', KEYS[8]) == 0 then return {3} end
  if redis.call('SISMEMBER', KEYS[8], author) == 1 then return {4} end
  stored = tonumber(likes)
end
local state, base
local intent = redis.call('HGET', KEYS[1], user)
if intent then
  state, base = tonumber(string.sub(intent, 1, 1)), tonumber(string.sub(intent, 2, 2))
else
  local flying = redis.call('HGET', KEYS[2], user)
  if flying then
    state = tonumber(string.sub(flying, 1, 1))
  elseif cached then
    if redis.call('EXISTS', KEYS[6]) == 0 or redis.call('SISMEMBER', KEYS[6], 'x') == 1 then
      return {0}
    end
    state = redis.call('SISMEMBER', KEYS[6], ARGV[6])
  else
    local epoch = redis.call('GET', KEYS[4]) or '0'
    if ARGV[3] == '' or epoch ~= ARGV[4] then
      return {0, epoch}
    end
    state = tonumber(ARGV[3])
  end
  base = state
end
if state == wanted then
  return {1, tonumber(redis.call('GET', KEYS[3]) or '0'), stored}
end
if wanted == base then
  redis.call('HDEL', KEYS[1], user)
else
  redis.call('HSET', KEYS[1], user, wanted .. base .. ARGV[5])
end
return {2, redis.call('INCRBY', KEYS[3], wanted - state), stored}
"""
)

# KEYS lock; ARGV token, ttl ms. Extends the lock if we still hold it.
_KEEP_LOCK = puppies_redis.Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
""")

_RELEASE_LOCK = puppies_redis.Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")

# KEYS draining, dirty; ARGV n. Ids a killed drain left unfinished come first.
# -> {1 if those were left unfinished, ids}
_CLAIM = puppies_redis.Script("""
local ids = redis.call('SRANDMEMBER', KEYS[1], ARGV[1])
if #ids > 0 then return {1, ids} end
ids = redis.call('SPOP', KEYS[2], ARGV[1])
if #ids > 0 then redis.call('SADD', KEYS[1], unpack(ids)) end
return {0, ids}
""")

# KEYS pending, inflight. An in-flight batch left by a killed drain is finished first.
_MOVE = puppies_redis.Script("""
if redis.call('EXISTS', KEYS[2]) == 0 and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
end
return redis.call('HGETALL', KEYS[2])
""")

# KEYS pending, inflight, delta, epoch, the version of the post's cached rendering. The
# batch landed: forget it, and in the same step make the cached like_count stale (so that
# a render sees the old stored count with the old delta, or the new one with the new).
# -> 1 if intents wait.
_FORGET = puppies_redis.Script("""
local intents = redis.call('HVALS', KEYS[2])
if #intents > 0 then
  redis.call('INCR', KEYS[5])
  redis.call('EXPIRE', KEYS[5], ARGV[2])
  local landed = 0
  for _, intent in ipairs(intents) do
    landed = landed + tonumber(string.sub(intent, 1, 1)) - tonumber(string.sub(intent, 2, 2))
  end
  redis.call('DEL', KEYS[2])
  local delta = redis.call('DECRBY', KEYS[3], landed)
  if delta == 0 and redis.call('EXISTS', KEYS[1]) == 0 then redis.call('DEL', KEYS[3]) end
  redis.call('INCR', KEYS[4])
  redis.call('EXPIRE', KEYS[4], ARGV[1])
end
return redis.call('EXISTS', KEYS[1])
""")

# KEYS a user's liked set; ARGV post, 1 (liked) or 0. Only a set that exists is kept.
_KEEP_LIKED = puppies_redis.Script("""
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('SISMEMBER', KEYS[1], 'x') == 0 then
  if ARGV[2] == '1' then redis.call('SADD', KEYS[1], ARGV[1])
  else redis.call('SREM', KEYS[1], ARGV[1]) end
end
return 0
""")

_SCRIPTS = (_INTENT, _KEEP_LOCK, _RELEASE_LOCK, _CLAIM, _MOVE, _FORGET, _KEEP_LIKED)


def client() -> redis.Redis:
    """The buffer's Redis, looked up at call time so a changed setting takes effect at once."""
    return puppies_redis.client(
        settings.LIKE_BUFFER_REDIS_URL, decode=True, timeout=settings.LIKE_BUFFER_REDIS_TIMEOUT_S
    )


def durability_problem() -> str | None:
    """Why an acknowledged like could be lost with this Redis, or None if it persists
    every write before answering (AOF, `appendfsync always`) or cannot be asked (managed
    Redis often refuses CONFIG; INFO is enough to see the AOF, not its fsync policy)."""
    persistence = client().info("persistence")
    if not persistence.get("aof_enabled"):
        return "the like buffer's Redis has appendonly no: a restart loses buffered likes"
    try:
        fsync = client().config_get("appendfsync").get("appendfsync")
    except redis.ResponseError:
        return None
    if fsync != "always":
        return f"the like buffer's Redis has appendfsync {fsync}: a crash can lose likes"
    return None


def _pipelined(build: Callable[[redis.client.Pipeline], None]) -> list:
    """One round trip on the buffer's Redis; scripts go by SHA (see puppies.redis)."""
    return puppies_redis.pipelined(build, _SCRIPTS, client())


def _run(script: puppies_redis.Script, keys: Iterable[str], args: Iterable = ()) -> object:
    return script(list(keys), list(args), redis_client=client())


# --- the write path -------------------------------------------------------------


def peek(post_id: int, user_id: int) -> tuple[str, bool]:
    """Before looking PostgreSQL up: (the post's epoch, whether the buffer alone decides)."""
    pending, inflight, _, epoch = keys(post_id)

    def build(pipe):
        pipe.get(epoch)
        pipe.hexists(pending, user_id)
        pipe.hexists(inflight, user_id)

    seen_epoch, in_pending, in_flight = _pipelined(build)
    return seen_epoch or "0", bool(in_pending or in_flight)


def record_intent(
    post_id: int, user_id: int, *, liked: bool, in_database: bool | None, seen_epoch: str
) -> tuple[bool, int] | None:
    """Record that `user_id` wants `post_id` liked or not -> (state changed, pending delta).

    Pending and in-flight intents decide; otherwise `in_database`, looked up after `peek`
    returned `seen_epoch`. None: a batch landed since then, so look it up again.
    """
    db_state = "" if in_database is None else str(int(in_database))
    outcome = _record(keys(post_id), post_id, (user_id, int(liked), db_state, seen_epoch))
    return (outcome[0] == 2, int(outcome[1])) if outcome[0] else None


def record_intent_cached(
    post_id: int, user, *, liked: bool, limit: ratelimit.ScriptLimit
) -> tuple[bool, int, int] | None:
    """The same without PostgreSQL, when Redis knows enough: the post's cached rendering
    and the user's liked set -> (state changed, pending delta, stored like_count), or None:
    look the post (and maybe the like row) up in PostgreSQL and use `record_intent`.
    The request's pending token check and its `limit` ride along (AuthenticationFailed if
    revoked, RateLimited over the limit); the limit is counted even when this answers None."""
    from posts.rendering import post_key, version_key  # it reads this module's keys

    cached = post_key(post_id)
    post_keys = (
        *keys(post_id),
        cached,
        liked_key(user.pk),
        version_key(cached),
        hidden.set_key(user.pk),
    )
    check = revocations.pending_args(user)
    outcome = _record(
        post_keys, post_id, (user.pk, int(liked), "", "", post_id, *check, *limit.args)
    )
    if outcome[0] == -1:
        revocations.settle(user, outcome[1])  # raises if the token was revoked
        return record_intent_cached(post_id, user, liked=liked, limit=limit)
    revocations.settle(user, None)
    limit.settle(outcome[1] if outcome[0] == -2 else 0)  # raises over the limit
    if outcome[0] == 4:
        raise PostNotFound  # a block with its author
    return (outcome[0] == 2, int(outcome[1]), int(outcome[2])) if outcome[0] in (1, 2) else None


def _record(post_keys: tuple, post_id: int, args: tuple) -> list:
    now_ms = int(time.time() * 1000)
    args = (*args[:4], now_ms, *args[4:])

    # SADD after the intent, so a drain that claimed the post before it still sees it dirty.
    return _INTENT(list(post_keys), args, redis_client=client(), also=[("SADD", DIRTY, post_id)])


def depth() -> int:
    """Intents not yet in PostgreSQL, pending or in flight."""
    post_ids = client().sunion(DIRTY, DRAINING)

    def build(pipe):
        for post_id in post_ids:
            pending, inflight, _, _ = keys(post_id)
            pipe.hlen(pending)
            pipe.hlen(inflight)

    return sum(_pipelined(build)) if post_ids else 0


# --- the drain: claim, move, (apply in PostgreSQL), forget, release ------------------


@dataclass(frozen=True)
class Intent:
    post_id: int
    user_id: int
    liked: bool
    at_ms: int


def acquire_lock() -> str | None:
    token = uuid.uuid4().hex
    ttl_ms = int(settings.LIKE_FLUSH_LOCK_TTL_S * 1000)
    return token if client().set(LOCK, token, nx=True, px=ttl_ms) else None


def keep_lock(token: str) -> bool:
    return bool(_run(_KEEP_LOCK, [LOCK], [token, int(settings.LIKE_FLUSH_LOCK_TTL_S * 1000)]))


def release_lock(token: str) -> None:
    _run(_RELEASE_LOCK, [LOCK], [token])


def claim(n: int) -> tuple[list[int], bool]:
    """Up to `n` dirty post ids -> (ids, whether a killed drain had left them unfinished)."""
    resumed, post_ids = _run(_CLAIM, [DRAINING, DIRTY], [n])
    return [int(post_id) for post_id in post_ids], bool(resumed)


def move(post_ids: list[int]) -> list[Intent]:
    """Each post's pending intents become its in-flight batch (kept if one is there already)."""

    def build(pipe):
        for post_id in post_ids:
            pending, inflight, _, _ = keys(post_id)
            pipe.evalsha(_MOVE.sha, 2, pending, inflight)

    intents = []
    for post_id, flat in zip(post_ids, _pipelined(build), strict=True):
        for user_id, intent in zip(flat[::2], flat[1::2], strict=True):
            intents.append(Intent(post_id, int(user_id), intent[0] == "1", int(intent[2:])))
    return intents


def forget(post_ids: list[int]) -> list[int]:
    """The in-flight batches landed: drop them and their delta; -> ids with intents waiting."""

    from posts.rendering import CACHE_TTL_S, post_key, version_key

    def build(pipe):
        for post_id in post_ids:
            version = version_key(post_key(post_id))
            pipe.evalsha(_FORGET.sha, 5, *keys(post_id), version, EPOCH_TTL_S, 2 * CACHE_TTL_S)

    return [p for p, more in zip(post_ids, _pipelined(build), strict=True) if more]


def release(post_ids: list[int], waiting: list[int]) -> None:
    # Re-mark before un-claiming, so a crash in between leaves a post dirty, never forgotten.
    if waiting:
        client().sadd(DIRTY, *waiting)
    client().srem(DRAINING, *post_ids)


# --- the viewers' liked sets (kept by the drain, which holds the lock) -----------------


def keep_liked_sets(intents: list[Intent]) -> None:
    """Intents just landed in PostgreSQL: the liked sets that exist follow them."""

    def build(pipe):
        for i in intents:
            pipe.evalsha(_KEEP_LIKED.sha, 1, liked_key(i.user_id), i.post_id, int(i.liked))

    if intents:
        _pipelined(build)


def build_liked_sets(liked_posts: Callable[[int, int], list[int]], n: int = 200) -> int:
    """Build up to `n` wanted liked sets; `liked_posts(user, limit)` reads PostgreSQL."""
    user_ids = client().spop(WANTED_LIKED_SETS, n)
    for user_id in user_ids:
        post_ids = liked_posts(int(user_id), LIKED_SET_MAX + 1)
        # Post 0 never exists: it keeps the set of someone who likes nothing alive.
        members = [TOO_MANY] if len(post_ids) > LIKED_SET_MAX else [0, *post_ids]
        pipe = client().pipeline(transaction=True)
        pipe.delete(liked_key(user_id))
        pipe.sadd(liked_key(user_id), *members)
        pipe.expire(liked_key(user_id), LIKED_SET_TTL_S)
        pipe.execute()
    return len(user_ids)
