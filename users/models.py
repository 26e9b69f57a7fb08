from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F
from django.db.models.functions import Lower, Upper
from django.utils import timezone

USERNAME_RE = r"^[A-Za-z0-9_]{3,30}$"


class User(AbstractUser):
    class Role(models.TextChoices):
        MEMBER = "member"
        MODERATOR = "moderator"
        ADMIN = "admin"

    username = models.CharField(
        max_length=30,
        unique=True,
        validators=[RegexValidator(USERNAME_RE, "3 to 30 letters, digits or underscores.")],
        error_messages={"unique": "This username is taken."},
    )
    email = models.EmailField()
    first_name = None
    last_name = None
    display_name = models.CharField(max_length=50, blank=True)
    bio = models.CharField(max_length=300, blank=True)
    avatar_url = models.URLField(max_length=500, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    follower_count = models.PositiveIntegerField(default=0)
    following_count = models.PositiveIntegerField(default=0)
    post_count = models.PositiveIntegerField(default=0)
    last_active_at = models.DateTimeField(null=True, blank=True)
    # Access tokens issued before this are refused (logout, password change); see
    # users.revocations, which mirrors it (and is_active) in Redis.
    tokens_valid_after = models.DateTimeField(null=True, blank=True, editable=False)
    # Set when the owner followed the signed link mailed to `email` (users.services). Only
    # a verified address names an account at login, and only one account may verify it.
    email_verified_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = UserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="users_username_ci_unique"),
            # Unverified addresses may repeat: registering with someone else's address then
            # creates an account like any other, so registration says nothing about whether
            # the address has one (its owner alone can verify it).
            models.UniqueConstraint(
                Lower("email"),
                condition=models.Q(email_verified_at__isnull=False),
                name="users_verified_email_ci_unique",
            ),
        ]
        indexes = [
            # User search: icontains compiles to UPPER(col::text) LIKE UPPER('%q%'), which a
            # trigram GIN index on that very expression serves in any position.
            GinIndex(OpClass(Upper("username"), name="gin_trgm_ops"), name="user_username_trgm"),
            GinIndex(
                OpClass(Upper("display_name"), name="gin_trgm_ops"), name="user_display_name_trgm"
            ),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def is_moderator(self) -> bool:
        return self.role in (self.Role.MODERATOR, self.Role.ADMIN) or self.is_superuser


class Follow(models.Model):
    """`follower` follows `followee`. Counters on User are kept in step by users.services."""

    pk = models.CompositePrimaryKey("follower", "followee")
    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    followee = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # fan-out pages a followee's followers by follower_id (keyset)
            models.Index(fields=["followee", "follower"], name="follow_followee_follower"),
            # the followers / following lists, newest first
            models.Index(
                F("followee"), F("created_at").desc(), F("follower"), name="follow_followers_list"
            ),
            models.Index(
                F("follower"), F("created_at").desc(), F("followee"), name="follow_following_list"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(follower=models.F("followee")), name="follow_not_self"
            )
        ]

    def __str__(self) -> str:
        return f"{self.follower_id} follows {self.followee_id}"


class AuditLog(models.Model):
    """One moderation action: who did what to which object, and why. Append-only."""

    class Action(models.TextChoices):
        HIDE_POST = "hide_post"
        UNHIDE_POST = "unhide_post"
        HIDE_COMMENT = "hide_comment"
        UNHIDE_COMMENT = "unhide_comment"
        SUSPEND_USER = "suspend_user"
        UNSUSPEND_USER = "unsuspend_user"
        SET_ROLE = "set_role"
        DISMISS_REPORT = "dismiss_report"

    # PROTECT: the trail must outlive attempts to delete the moderator who wrote it.
    actor = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=32, choices=Action.choices)
    target_type = models.CharField(max_length=32)
    target_id = models.BigIntegerField()
    reason = models.TextField(max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(F("created_at").desc(), name="auditlog_created"),
            models.Index(fields=["target_type", "target_id"], name="auditlog_target"),
            models.Index(fields=["actor", "created_at"], name="auditlog_actor"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_id} {self.action} {self.target_type} {self.target_id}"


class RevokedTokenFamily(models.Model):
    """Every refresh token rotated from one login carries its family id (`fam`); a family
    listed here refreshes no more (a rotated-away token was replayed, or it logged out).
    Kept until every token of it has expired (then the flush job drops it)."""

    family = models.CharField(max_length=32, primary_key=True)
    user = models.ForeignKey(User, null=True, on_delete=models.CASCADE, related_name="+")
    revoked_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"refresh token family {self.family}"


class Block(models.Model):
    """`blocker` blocked `blocked`: neither sees the other (users.services.block_user)."""

    pk = models.CompositePrimaryKey("blocker", "blocked")
    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_made")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_received")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # who blocked me (what I may not see of them either), and my list, newest first
            models.Index(fields=["blocked", "blocker"], name="block_blocked_blocker"),
            models.Index(F("blocker"), F("created_at").desc(), F("blocked"), name="block_list"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(blocker=models.F("blocked")), name="block_not_self"
            )
        ]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"


class Mute(models.Model):
    """`muter` muted `muted`: one-sided, the muted user is not told (users.services)."""

    pk = models.CompositePrimaryKey("muter", "muted")
    muter = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    muted = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # who muted me: my mentions and comments do not notify them
            models.Index(fields=["muted", "muter"], name="mute_muted_muter"),
            models.Index(F("muter"), F("created_at").desc(), F("muted"), name="mute_list"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(muter=models.F("muted")), name="mute_not_self"
            )
        ]

    def __str__(self) -> str:
        return f"{self.muter_id} mutes {self.muted_id}"
