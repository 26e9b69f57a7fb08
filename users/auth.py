"""Authentication: log in by username or email; JWT for the API."""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.utils import timezone
from rest_framework_simplejwt.authentication import JWTAuthentication as BaseJWTAuthentication

from users.models import User


class UsernameOrEmailBackend(ModelBackend):
    """`username` may be the username (any case) or the email address."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        field = "email__iexact" if "@" in username else "username__iexact"
        user = User.objects.filter(**{field: username}).first()
        if user is None:
            User().set_password(password)  # same work as a real check: no timing oracle
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


class JWTAuthentication(BaseJWTAuthentication):
    """simplejwt, plus a cheap `last_active_at` heartbeat (one UPDATE per window)."""

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        now = timezone.now()
        if user.last_active_at is None or (
            now - user.last_active_at > settings.LAST_ACTIVE_WRITE_INTERVAL
        ):
            User.objects.filter(pk=user.pk).update(last_active_at=now)
            user.last_active_at = now
        return user
