"""Email verification's link and mail. The link is a signed, expiring token
(django.core.signing) naming the account and the address it was sent to: changing either
makes it invalid; nothing is stored until it is used (users.services.verify_email)."""

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from rest_framework.exceptions import ValidationError

from users.models import User

_VERIFY_SALT = "users.email-verification"


def verification_token(user: User) -> str:
    return signing.dumps({"u": user.pk, "e": user.email.lower()}, salt=_VERIFY_SALT, compress=True)


def send_verification_email(user_id: int) -> bool:
    """Mail the account's address a link to verify it -> whether one was sent (not for a
    verified address, an inactive account, or a bot's address that cannot receive mail)."""
    user = User.objects.filter(pk=user_id, is_active=True, email_verified_at__isnull=True).first()
    if user is None or not user.has_usable_password():
        return False
    link = settings.EMAIL_VERIFICATION_URL.format(token=verification_token(user))
    send_mail(
        "Verify your Puppies email address",
        f"Hello {user.username},\n\nopen this link to verify this address for your Puppies "
        f"account:\n\n{link}\n\nIt works for {settings.EMAIL_VERIFICATION_TTL_S // 3600} "
        "hours. If you did not sign up, ignore this mail: the address stays unverified and "
        "cannot be used to log in.\n",
        None,  # DEFAULT_FROM_EMAIL
        [user.email],
    )
    return True


def read_token(token: str) -> dict:
    """The claims of a link's token ("u" the account, "e" its address then), or a
    ValidationError on `token` if it is altered or expired."""
    try:
        return signing.loads(token, salt=_VERIFY_SALT, max_age=settings.EMAIL_VERIFICATION_TTL_S)
    except signing.SignatureExpired:
        raise ValidationError({"token": ["This link has expired: ask for a new one."]}) from None
    except signing.BadSignature:
        raise ValidationError({"token": ["This link is not valid."]}) from None
