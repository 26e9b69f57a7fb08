"""Authentication: log in by username or email; JWT for the API without a database read.

A request's access token is verified by signature and expiry (simplejwt), then checked
against the revocations in Redis: one round trip, which also stamps the user's activity
at most once per LAST_ACTIVE_WRITE_INTERVAL. `request.user` is a `TokenUser`: its id
is known at once, the row is loaded only if the view needs more (a profile, a write).

Revocations (users.revocations) are kept in PostgreSQL (`User.is_active`,
`User.tokens_valid_after`) and mirrored in Redis; while Redis is unreachable each
request reads the user's row instead, so a suspension or logout is never ignored.
"""

import contextlib
import functools
import time
import uuid

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.db.models.functions import Lower
from django.utils.functional import SimpleLazyObject, empty
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import backends, tokens
from rest_framework_simplejwt.authentication import JWTAuthentication as BaseJWTAuthentication
from rest_framework_simplejwt.exceptions import (
    TokenBackendError,
    TokenBackendExpiredToken,
    TokenError,
)
from rest_framework_simplejwt.settings import api_settings

from users import revocations, token_families
from users.models import User


class UsernameOrEmailBackend(ModelBackend):
    """`username` may be the username (any case) or the email address."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        if "@" in username:  # only a verified address names an account (users.services)
            found = User.objects.alias(key=Lower("email")).filter(
                key=username.lower(), email_verified_at__isnull=False
            )
        else:
            found = User.objects.filter(username__iexact=username)
        user = found.first()
        if user is None:
            User().set_password(password)  # same work as a real check: no timing oracle
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


# --- tokens ------------------------------------------------------------------------
# `iat` keeps milliseconds (RFC 7519 allows a non-integer NumericDate), so that a token
# issued right after a logout in the same second is told apart from one issued before.


class TokenBackend(backends.TokenBackend):
    """simplejwt's backend with key rotation: signs with JWT_SIGNING_KEY, verifies with it
    or any of JWT_VERIFYING_KEYS. `iss` and `aud` are written and required (PyJWT refuses a
    token missing either), so a token minted for another service or by an old build fails."""

    def __init__(self, signing_key: str, verifying_keys: tuple[str, ...], **options) -> None:
        super().__init__(api_settings.ALGORITHM, signing_key, **options)
        self._earlier = [
            backends.TokenBackend(api_settings.ALGORITHM, key, **options) for key in verifying_keys
        ]

    def decode(self, token, verify: bool = True) -> dict:
        try:
            return super().decode(token, verify=verify)
        except TokenBackendExpiredToken:
            raise  # the signature was good: no other key can make it younger
        except TokenBackendError:
            for earlier in self._earlier:
                with contextlib.suppress(TokenBackendError):
                    return earlier.decode(token, verify=verify)
            raise


@functools.cache
def _backend(signing_key: str, verifying_keys: tuple[str, ...], issuer: str, audience: str):
    return TokenBackend(
        signing_key,
        verifying_keys,
        audience=audience,
        issuer=issuer,
        leeway=api_settings.LEEWAY,
        json_encoder=api_settings.JSON_ENCODER,
    )


def token_backend() -> TokenBackend:
    """The backend for the current settings (read on each call so tests can rotate keys)."""
    return _backend(
        settings.JWT_SIGNING_KEY,
        tuple(settings.JWT_VERIFYING_KEYS),
        settings.JWT_ISSUER,
        settings.JWT_AUDIENCE,
    )


class _OurBackend:
    def get_token_backend(self) -> TokenBackend:
        return token_backend()

    def set_iat(self, claim: str = "iat", at_time=None) -> None:
        self.payload[claim] = round((at_time or self.current_time).timestamp(), 3)


class AccessToken(_OurBackend, tokens.AccessToken):
    pass


# Every refresh token rotated from one login carries the login's family id: replaying a
# rotated-away one revokes the family (users.token_families).
FAMILY_CLAIM = token_families.FAMILY_CLAIM


class RefreshToken(_OurBackend, tokens.RefreshToken):
    access_token_class = AccessToken

    @classmethod
    def for_user(cls, user):
        token = super().for_user(user)
        token[FAMILY_CLAIM] = uuid.uuid4().hex  # rotation keeps every claim but jti, exp, iat
        return token

    def check_blacklist(self) -> None:
        try:
            super().check_blacklist()
        except TokenError:
            token_families.refresh_token_reused(self.payload)
            raise
        if token_families.family_revoked(self.payload):
            raise TokenError("Token is blacklisted")


# --- the request's user ---------------------------------------------------------------


def _load_user(user_id: int) -> User:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise AuthenticationFailed("User not found or inactive.", "user_not_found")
    return user


class TokenUser(SimpleLazyObject):
    """The authenticated user: `pk`/`id` from the token, the row loaded on first other use."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, user_id: int, user: User | None = None, *, pending: float | None = None):
        super().__init__(lambda: _load_user(user_id))
        if user is not None:
            self._wrapped = user
        # Set straight into __dict__: LazyObject.__setattr__ would load the row.
        self.__dict__["pk"] = self.__dict__["id"] = user_id
        # The token's `iat` while its revocation check is left to the view's Redis call.
        self.__dict__["pending_token_check"] = pending

    def _load(self) -> User:
        if self._wrapped is empty:
            self._setup()
        return self._wrapped

    def __bool__(self) -> bool:  # DRF's permissions test `request.user and ...`
        return True


class JWTAuthentication(BaseJWTAuthentication):
    _deferrable = False

    def __init__(self) -> None:
        # DRF builds one per request; simplejwt's __init__ looks up the user model for its
        # get_user, which this class replaces.
        pass

    def authenticate(self, request):
        view = request.parser_context.get("view") if request.parser_context else None
        self._deferrable = request.method in getattr(view, "token_check_carried", ())
        return super().authenticate(request)

    def get_validated_token(self, raw_token: bytes) -> tokens.Token:
        """A token this process verified before is taken from `_verified` until it expires.

        Keyed by the token's exact bytes, so only the very token that passed the signature
        check can hit; expiry is checked on every use, and revocation is not cached at all
        (get_user asks Redis each request). A client sends one access token for its whole
        lifetime, so this turns ~100 µs of base64, JSON and HMAC into a dict lookup."""
        backend = token_backend()
        token, verified_by = _verified.get(raw_token, (None, None))
        # The backend too: a key dropped from JWT_VERIFYING_KEYS stops working at once.
        if verified_by is backend and token.payload["exp"] > time.time():
            return token
        token = super().get_validated_token(raw_token)
        if len(_verified) >= VERIFIED_TOKENS_KEPT:
            _verified.clear()  # bounded; refilled by the tokens still in use
        _verified[raw_token] = (token, backend)
        return token

    def get_user(self, validated_token) -> TokenUser:
        try:
            user_id = int(validated_token[api_settings.USER_ID_CLAIM])
        except (KeyError, TypeError, ValueError):
            raise AuthenticationFailed("Token has no user.", "token_not_valid") from None
        issued_at = float(validated_token.get("iat", 0))
        stamp = _should_stamp(user_id)
        if self._deferrable and not stamp:
            return TokenUser(user_id, pending=issued_at)  # see users.revocations
        verdict = revocations.check(user_id, issued_at, stamp=stamp)
        if verdict is revocations.UNKNOWN:  # Redis unreachable: ask PostgreSQL
            user = _load_user(user_id)
            if revocations.revoked_by_row(user, issued_at):
                raise revocations.revoked_error()
            return TokenUser(user_id, user)
        if verdict is revocations.REVOKED:
            raise revocations.revoked_error()
        return TokenUser(user_id)


# Per process: access tokens already verified, by their bytes (see get_validated_token).
VERIFIED_TOKENS_KEPT = 10_000
_verified: dict[bytes, tuple[tokens.Token, TokenBackend]] = {}

# Per process: when each user's activity was last stamped, so a busy user costs Redis one
# ZADD per interval rather than one per request (the set is bounded by active users).
_stamped: dict[int, float] = {}


def _should_stamp(user_id: int) -> bool:
    now = time.monotonic()
    if now - _stamped.get(user_id, -1e9) < settings.LAST_ACTIVE_WRITE_INTERVAL.total_seconds():
        return False
    if len(_stamped) > 100_000:
        _stamped.clear()
    _stamped[user_id] = now
    return True
