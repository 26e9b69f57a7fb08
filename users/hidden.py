"""Who is hidden from whom by blocks, as the Redis-rendered reads check it (posts.rendering,
the like buffer): no SQL, no extra round trip, inside the script each read runs anyway.

- `hide:{<user id>}`: the ids of everyone with a block with the user, either way, plus the
  member "0" so that a user with no blocks has a set too (absent = not known: built from
  PostgreSQL by the next read, like the liked sets). Kept a day from its build, so an
  active viewer pays that one query once a day.
- `hide:{<user id>}:v`: its version, bumped after every block or unblock of the user;
  a set read from PostgreSQL is stored only if the version it was read under is still
  current, so a build that raced a block can never store the set from before it.

A block or unblock drops both users' sets once it commits: the very next read rebuilds
them (one query), so no request after the change sees the old state.
"""

import contextlib
from collections.abc import Iterable

from django.db import transaction

from puppies import redis as puppies_redis

TTL_S = 86_400
_SENTINEL = b"0"


def set_key(user_id: int | str) -> str:
    return f"hide:{{{user_id}}}"


# hidden_among(viewer id or "", author ids, whether some authors are unknown) ->
# {1, hidden author ids...} when the viewer's set is there (all of it, when some authors
# are unknown to the caller), {0, version} when it must be built first.
LUA_HIDDEN = """
local function hidden_among(viewer, authors, some_unknown)
  if viewer == '' then return {1} end
  local key = 'hide:{' .. viewer .. '}'
  if redis.call('EXISTS', key) == 0 then
    return {0, redis.call('GET', key .. ':v') or '0'}
  end
  local out = {1}
  if some_unknown then
    for _, id in ipairs(redis.call('SMEMBERS', key)) do out[#out + 1] = id end
  elseif #authors > 0 then
    for i, flag in ipairs(redis.call('SMISMEMBER', key, unpack(authors))) do
      if flag == 1 then out[#out + 1] = authors[i] end
    end
  end
  return out
end
"""


def resolve(viewer_id: int | None, answer: list | None) -> set[int]:
    """The author ids hidden from the viewer, from what `hidden_among` answered (None:
    Redis was unreachable); read from PostgreSQL (and cached) when Redis did not know."""
    if viewer_id is None:
        return set()
    if answer is not None and int(answer[0]) == 1:
        return {int(author) for author in answer[1:]} - {0}
    from users.selectors import blocked_with_ids

    hidden = blocked_with_ids(viewer_id)
    if answer is not None:
        ids = [_SENTINEL, *(b"%d" % user_id for user_id in hidden)]
        key = set_key(viewer_id)
        puppies_redis.store_set_if_current(
            key, f"{key}:v", version=answer[1], ttl_s=TTL_S, members=ids
        )
    return hidden


def changed(user_ids: Iterable[int]) -> None:
    """These users' blocks changed: their sets go once this commits."""
    ids = list(user_ids)
    transaction.on_commit(lambda: invalidate(ids))


def invalidate(user_ids: list[int]) -> None:
    commands = []
    for user_id in user_ids:
        key = set_key(user_id)
        commands += [("DEL", key), ("INCR", f"{key}:v"), ("EXPIRE", f"{key}:v", 2 * TTL_S)]
    # Redis down: nothing can be read from it either; sets expire within the ttl.
    with contextlib.suppress(puppies_redis.Unavailable):
        puppies_redis.execute(commands)
