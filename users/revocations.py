"""Which access tokens are revoked, readable in one Redis round trip per request.

PostgreSQL holds the truth: `User.is_active` (false while suspended) and
`User.tokens_valid_after` (logout, password change: tokens issued before it are dead).
Redis mirrors it in one hash, `auth:revoked`: user id -> "s" for a suspended or deleted
account, or the cutoff as epoch seconds. Its field `loaded` says the mirror is complete;
if Redis lost it (a restart), the next request reloads the mirror from PostgreSQL. A beat
job reloads it every minute too: that prunes cutoffs older than any live token, and
enforces soon a change whose mirroring failed (Redis briefly unreachable).

The same round trip stamps the user's activity into `users:active` (a sorted set of
user id -> epoch seconds) that `flush_activity` writes to `last_active_at` in batches:
requests never write PostgreSQL for it.
"""

import contextlib
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from puppies import redis as puppies_redis
from users.models import User

SUSPENDED = b"s"
REVOKED_HASH = "auth:revoked"
LOADED = "loaded"
ACTIVE = "users:active"
OK, REVOKED, UNKNOWN = "ok", "revoked", "unknown"


def _token_lifetime() -> timedelta:
    return settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]


def check(user_id: int, issued_at: float, *, stamp: bool = False) -> str:
    """OK, REVOKED, or UNKNOWN when Redis cannot answer (ask PostgreSQL then)."""
    try:
        redis = puppies_redis.client()
        if stamp:  # once per interval and user: a pipeline costs more than the command
            pipe = redis.pipeline(transaction=False)
            pipe.zadd(ACTIVE, {user_id: time.time()})
            pipe.hmget(REVOKED_HASH, LOADED, user_id)
            loaded, mark = pipe.execute()[-1]
        else:
            loaded, mark = redis.hmget(REVOKED_HASH, LOADED, user_id)
        if not loaded:
            reload()
            mark = puppies_redis.client().hget(REVOKED_HASH, user_id)
    except puppies_redis.Unavailable:
        return UNKNOWN
    if mark is None:
        return OK
    if mark == SUSPENDED or issued_at < float(mark):
        return REVOKED
    return OK


# --- the check riding on a hot path's own Redis call or SQL statement -------------------
# A view that makes one Redis call anyway (feed, post, like) saves the check's round trip:
# it lists its methods in `token_check_carried`, authentication leaves the check
# pending on the TokenUser, and the view's script starts with `token_revoked`, before it
# reads or writes anything. A write of one statement (post create) carries it as
# HONOURED_SQL instead, against the truth itself. `ensure_checked` does it the plain
# way where no such script ran (Redis down, a path that went to PostgreSQL first): the
# views call it before they answer, and before any other write.

# token_revoked(user id or "" when nothing is pending, issued at) -> nil, or 'revoked',
# or 'unloaded' (the mirror is missing: ask again the plain way, which reloads it).
LUA_CHECK = """
local function token_revoked(user, issued_at)
  if user == '' then return nil end
  local got = redis.call('HMGET', 'auth:revoked', 'loaded', user)
  if not got[1] then return 'unloaded' end
  if got[2] and (got[2] == 's' or tonumber(issued_at) < tonumber(got[2])) then
    return 'revoked'
  end
  return nil
end
"""


# The same verdict in SQL, over the user's row `u`, for a statement that writes only if the
# token is honoured: %(issued_at)s is the pending token's `iat`, or NULL when it was
# checked already (then the row only has to exist).
HONOURED_SQL = """(%(issued_at)s::float8 IS NULL OR (u.is_active AND (
    u.tokens_valid_after IS NULL
    OR u.tokens_valid_after <= to_timestamp(%(issued_at)s::float8))))"""


def revoked_error() -> AuthenticationFailed:
    return AuthenticationFailed("Token has been revoked.", "token_not_valid")


def pending_issued_at(user) -> float | None:
    """The `iat` of the request's token while its check is pending, for HONOURED_SQL."""
    return getattr(user, "pending_token_check", None)


def settled_by_sql(user, *, honoured: bool) -> None:
    """Apply what a statement carrying HONOURED_SQL found (raises if not honoured)."""
    if not honoured:
        raise revoked_error()
    user.__dict__["pending_token_check"] = None


def pending_args(user) -> list:
    """The arguments of `token_revoked` for the request's user: ["", 0] if none is pending."""
    pending = getattr(user, "pending_token_check", None)
    return ["", 0] if pending is None else [user.pk, repr(pending)]


def settle(user, verdict: bytes | None) -> None:
    """Apply what `token_revoked` said in the script that carried it."""
    if getattr(user, "pending_token_check", None) is None:
        return
    if verdict is None:
        user.__dict__["pending_token_check"] = None
    elif verdict == b"revoked":
        raise revoked_error()
    else:
        ensure_checked(user)


def ensure_checked(user) -> None:
    """Check the request's token now if no script has (AuthenticationFailed if revoked)."""
    issued_at = getattr(user, "pending_token_check", None)
    if issued_at is None:
        return
    verdict = check(user.pk, issued_at)
    if verdict == UNKNOWN:  # Redis unreachable: the user's row decides
        verdict = REVOKED if revoked_by_row(user._load(), issued_at) else OK
    if verdict == REVOKED:
        raise revoked_error()
    user.__dict__["pending_token_check"] = None


def revoked_by_row(user: User, issued_at: float) -> bool:
    """The same verdict from the user's row (the fallback while Redis is down)."""
    cutoff = user.tokens_valid_after
    return not user.is_active or (cutoff is not None and issued_at < cutoff.timestamp())


def revoke_tokens(user: User) -> None:
    """Every access token `user` holds now stops working on its next request."""
    user.tokens_valid_after = timezone.now()
    User.objects.filter(pk=user.pk).update(tokens_valid_after=user.tokens_valid_after)
    transaction.on_commit(lambda: publish(user))


def publish(user: User) -> None:
    """Mirror the user's committed state into Redis; the reload catches a failure here."""
    mark = _mark(user.is_active, user.tokens_valid_after)
    try:
        if mark is None:
            puppies_redis.client().hdel(REVOKED_HASH, user.pk)
        else:
            puppies_redis.client().hset(REVOKED_HASH, user.pk, mark)
    except puppies_redis.Unavailable:
        pass


def forget_user(user_id: int) -> None:
    """A deleted account: its tokens die with it (reloads keep marks of missing users)."""
    with contextlib.suppress(puppies_redis.Unavailable):
        puppies_redis.client().hset(REVOKED_HASH, user_id, SUSPENDED)


def _mark(is_active: bool, cutoff) -> bytes | None:
    if not is_active:
        return SUSPENDED
    if cutoff is not None and cutoff > timezone.now() - _token_lifetime():
        return repr(cutoff.timestamp()).encode()
    return None


def reload() -> None:
    """Make the mirror match PostgreSQL: suspended accounts and cutoffs younger than a token.

    Only fields present before the database was read are removed, so a revocation
    published while this runs is kept; so are the marks of deleted accounts.
    """
    redis = puppies_redis.client()
    before = set(redis.hkeys(REVOKED_HASH)) - {LOADED.encode()}
    since = timezone.now() - _token_lifetime()
    rows = User.objects.filter(is_active=False) | User.objects.filter(tokens_valid_after__gt=since)
    marks = {
        str(user_id).encode(): _mark(is_active, cutoff)
        for user_id, is_active, cutoff in rows.values_list("pk", "is_active", "tokens_valid_after")
    }
    existing = {
        str(pk).encode()
        for pk in User.objects.filter(pk__in=[int(f) for f in before]).values_list("pk", flat=True)
    }
    stale = (before & existing) - marks.keys()
    pipe = redis.pipeline(transaction=False)
    if marks:
        pipe.hset(REVOKED_HASH, mapping=marks)
    if stale:
        pipe.hdel(REVOKED_HASH, *stale)
    pipe.hset(REVOKED_HASH, LOADED, 1)
    pipe.execute()


def flush_activity(batch: int = 10_000) -> int:
    """Write the activity stamps gathered in Redis to `last_active_at` -> users stamped."""
    written = 0
    redis = puppies_redis.client()
    while True:
        # Popped before the write: a crash loses at most a batch of stamps, which only
        # makes a few users look idle a little early (their next read rebuilds their feed).
        stamps = redis.zpopmin(ACTIVE, batch)
        if not stamps:
            return written
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {User._meta.db_table} u SET last_active_at = to_timestamp(s.at) "  # noqa: S608
                "FROM unnest(%s::bigint[], %s::float8[]) AS s(id, at) WHERE u.id = s.id",
                [[int(user_id) for user_id, _ in stamps], [at for _, at in stamps]],
            )
        written += len(stamps)


def revoke_refresh_tokens(user: User) -> None:
    """Blacklist every refresh token the user holds: other sessions end."""
    outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
