"""Each viewer's bookmarked and reposted posts, as one Redis set read by posts.rendering.

`saved:{<user>}` holds `b<post id>` for a bookmark and `r<post id>` for a repost, plus
`.` (so that the set of someone who saved nothing exists) or `x` alone (too many to keep:
ask PostgreSQL). It is built lazily by the first render that misses it, from what
rendering reads from PostgreSQL anyway, and kept by the writes after their commit.

A build must never store what a write committed meanwhile replaced. Every write bumps
`saved:{<user>}:gen` (after commit) and updates the set if it exists; the render that
misses the set returns the generation it saw, and the build stores the set only if the
generation is still that one (`puppies.redis.store_set_if_current`): a write between the
read of PostgreSQL and the store makes the store a no-op, and the next read builds again.
"""

import contextlib

from django.db import transaction

from puppies import redis as puppies_redis

# A set lives this long after it is built (renewed by nothing: rebuilt on a miss).
SET_TTL_S = 3600
SET_MAX = 10_000
TOO_MANY = b"x"
PRESENT = b"."
BOOKMARK, REPOST = "b", "r"


def set_key(user_id: int) -> str:
    return f"saved:{{{user_id}}}"


def gen_key(user_id: int) -> str:
    return f"saved:{{{user_id}}}:gen"


# KEYS set, generation; ARGV ttl, then (member, 1 add / 0 remove) pairs.
_KEEP = puppies_redis.Script("""
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], 2 * ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('SISMEMBER', KEYS[1], 'x') == 1 then
  return 0
end
for i = 2, #ARGV, 2 do
  if ARGV[i + 1] == '1' then
    redis.call('SADD', KEYS[1], ARGV[i])
  else
    redis.call('SREM', KEYS[1], ARGV[i])
  end
end
return 1
""")


def changed(user_id: int, kind: str, post_id: int, *, present: bool) -> None:
    """The user's bookmark or repost of the post was just committed (or removed)."""
    # Redis down: nothing is read from the set either; it expires within SET_TTL_S.
    with contextlib.suppress(puppies_redis.Unavailable):
        _KEEP([set_key(user_id), gen_key(user_id)], [SET_TTL_S, f"{kind}{post_id}", int(present)])


def changed_on_commit(user_id: int, kind: str, post_id: int, *, present: bool) -> None:
    """`changed`, once the caller's write of the bookmark or repost commits."""
    transaction.on_commit(lambda: changed(user_id, kind, post_id, present=present))


def build(user_id: int, generation: bytes, saved: list[tuple[str, int]]) -> None:
    """Store the user's set read from PostgreSQL (at most SET_MAX + 1 (kind, post) rows)
    under `generation`, as the render that missed it returned."""
    if len(saved) > SET_MAX:
        members = [TOO_MANY]
    else:
        members = [PRESENT, *(f"{kind}{post_id}" for kind, post_id in saved)]
    puppies_redis.store_set_if_current(
        set_key(user_id), gen_key(user_id), version=generation, ttl_s=SET_TTL_S, members=members
    )
