"""Refresh token families: revoking a family when a rotated-away token comes back, and
dropping expired tokens and families. users.auth asks it on every refresh."""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from users import revocations
from users.models import RevokedTokenFamily, User

logger = logging.getLogger(__name__)

# Rotation blacklists each refresh token as it issues the next one; all of them carry the
# family id of the login they descend from (this claim, set by users.auth). A blacklisted
# token presented again means two parties hold the family (a thief and its owner): the
# family stops refreshing, and the user's access tokens end, so the thief is out at once.
FAMILY_CLAIM = "fam"


def revoke_family(payload: dict, *, user: User | None) -> bool:
    """List the token's family as revoked -> whether this listed it (False: already was)."""
    family = payload.get(FAMILY_CLAIM)
    if not family:
        return False  # a token from before families: only itself is blacklisted
    expires = timezone.now() + settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    _, created = RevokedTokenFamily.objects.get_or_create(
        family=str(family)[:32], defaults={"user": user, "expires_at": expires}
    )
    return created


def family_revoked(payload: dict) -> bool:
    family = payload.get(FAMILY_CLAIM)
    return bool(family) and RevokedTokenFamily.objects.filter(family=str(family)[:32]).exists()


@transaction.atomic
def refresh_token_reused(payload: dict) -> None:
    """A blacklisted refresh token was presented again: revoke its whole family, and end
    the user's access tokens unless a logout or password change since its issue did."""
    user = User.objects.filter(pk=payload.get("user_id")).first()
    if not revoke_family(payload, user=user) or user is None:
        return
    logger.warning(
        "refresh token reused: family %s of user %s revoked", payload.get("fam"), user.pk
    )
    cutoff = user.tokens_valid_after
    if cutoff is None or float(payload.get("iat", 0)) >= cutoff.timestamp():
        revocations.revoke_tokens(user)


def flush_expired_tokens() -> int:
    """Drop refresh tokens past their expiry (blacklisted ones with them) and revoked
    families none of whose tokens can still be alive -> rows dropped (simplejwt's
    flushexpiredtokens, and the families)."""
    now = timezone.now()
    tokens, _ = OutstandingToken.objects.filter(expires_at__lte=now).delete()
    families, _ = RevokedTokenFamily.objects.filter(expires_at__lte=now).delete()
    return tokens + families
