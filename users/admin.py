"""The admin of accounts and the audit log (the shared base: puppies/admin.py)."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from interactions.models import Report
from posts import rendering
from puppies.admin import ModerationAdmin
from users import moderation, profiles, revocations
from users.models import AuditLog, Block, User
from users.selectors import user_matching


@admin.register(User)
class UserAdmin(ModerationAdmin, BaseUserAdmin):
    list_display = ["username", "email", "role", "is_active", "follower_count", "date_joined"]
    list_filter = ["role", "is_active"]
    search_fields = ["=id", "=username", "=email"]
    search_help_text = "Exact id, username or email (case-insensitive)."
    ordering = ["-id"]
    actions = ["suspend", "unsuspend", "make_member", "make_moderator", "make_admin"]

    def save_model(self, request, obj, form, change):
        # A superuser's raw edit: the profile shows at once and is_active is enforced at once.
        if "email" in form.changed_data:  # a new address is unverified until its owner says
            obj.email_verified_at = None
        super().save_model(request, obj, form, change)
        rendering.author_changed(obj.pk)
        profiles.changed(obj)
        transaction.on_commit(lambda: revocations.publish(obj))

    fieldsets = [
        (None, {"fields": ["username", "email", "password"]}),
        ("Profile", {"fields": ["display_name", "bio", "avatar_url"]}),
        ("Role", {"fields": ["role", "is_active", "is_staff", "is_superuser"]}),
        (
            "Counters",
            {"fields": ["follower_count", "following_count", "post_count", "last_active_at"]},
        ),
        (
            "Safety",
            {"fields": ["blocks_made", "blocks_received", "reports_filed", "reports_received"]},
        ),
    ]
    # Role, staff and suspension change only through the actions: they are audited.
    readonly_fields = [
        "role",
        "is_active",
        "is_staff",
        "is_superuser",
        "follower_count",
        "following_count",
        "post_count",
        "last_active_at",
        "blocks_made",
        "blocks_received",
        "reports_filed",
        "reports_received",
    ]
    add_fieldsets = [
        (None, {"fields": ["username", "email", "password1", "password2"]}),
    ]

    def has_add_permission(self, request):
        return request.user.is_superuser

    def indexed_search(self, queryset, term):
        return queryset.filter(user_matching(term))

    # --- what moderators weigh on a user's page: blocks and reports, newest first ---

    @admin.display(description="blocked (by them)")
    def blocks_made(self, user: User) -> str:
        return _blocks(Block.objects.filter(blocker=user), other="blocked")

    @admin.display(description="blocked by")
    def blocks_received(self, user: User) -> str:
        return _blocks(Block.objects.filter(blocked=user), other="blocker")

    @admin.display(description="reports filed")
    def reports_filed(self, user: User) -> str:
        return _reports(Report.objects.filter(reporter=user))

    @admin.display(description="reports on their posts")
    def reports_received(self, user: User) -> str:
        return _reports(Report.objects.filter(post__author=user))

    def has_admin_permission(self, request):
        return request.user.is_superuser or request.user.role == User.Role.ADMIN

    @admin.action(description="Suspend selected users", permissions=["moderate"])
    def suspend(self, request, queryset):
        self.run_moderation(request, queryset, moderation.suspend_user, "Suspended")

    @admin.action(description="Unsuspend selected users", permissions=["moderate"])
    def unsuspend(self, request, queryset):
        self.run_moderation(request, queryset, moderation.unsuspend_user, "Unsuspended")

    def _set_role(self, request, queryset, role: str) -> None:
        def service(user, *, actor, reason):
            before = user.role
            return moderation.set_role(user, role=role, actor=actor, reason=reason).role != before

        self.run_moderation(request, queryset, service, f"Made {role}")

    @admin.action(description="Make selected users members", permissions=["admin"])
    def make_member(self, request, queryset):
        self._set_role(request, queryset, User.Role.MEMBER)

    @admin.action(description="Make selected users moderators", permissions=["admin"])
    def make_moderator(self, request, queryset):
        self._set_role(request, queryset, User.Role.MODERATOR)

    @admin.action(description="Make selected users admins", permissions=["admin"])
    def make_admin(self, request, queryset):
        self._set_role(request, queryset, User.Role.ADMIN)


LISTED = 50  # rows per list on a user's page, newest first


def _user_link(user: User) -> str:
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:users_user_change", args=[user.pk]), user.username
    )


def _listing(rows) -> str:
    """An HTML list of (link, note) rows; "none" when empty."""
    items = format_html_join("", "<li>{} {}</li>", rows)
    return format_html("<ul>{}</ul>", items) if items else "none"


def _blocks(blocks, *, other: str) -> str:
    """The blocks as links to the user on the `other` side, with when they began."""
    return _listing(
        (_user_link(getattr(b, other)), f"since {b.created_at:%Y-%m-%d %H:%M}")
        for b in blocks.select_related(other).order_by("-created_at")[:LISTED]
    )


def _reports(reports) -> str:
    return _listing(
        (
            format_html(
                '<a href="{}">report {}</a>',
                reverse("admin:interactions_report_change", args=[r.pk]),
                r.pk,
            ),
            f"on post {r.post_id} by {r.reporter.username}: {r.reason}, {r.status}, "
            f"{r.created_at:%Y-%m-%d %H:%M}",
        )
        for r in reports.select_related("reporter").order_by("-created_at")[:LISTED]
    )


@admin.register(AuditLog)
class AuditLogAdmin(ModerationAdmin):
    list_display = ["created_at", "actor", "action", "target_type", "target_id", "reason"]
    list_select_related = ["actor"]
    list_filter = ["action"]
    search_fields = ["=actor__username", "=target_id"]
    search_help_text = 'Exact moderator username, or a target like "post 12" / "user 7".'
    ordering = ["-id"]
    actions = None

    def has_change_permission(self, request, obj=None):
        return False  # append-only, for superusers too

    def indexed_search(self, queryset, term):
        kind, _, ident = term.replace(":", " ").partition(" ")
        if ident.strip().isdigit():
            return queryset.filter(target_type=kind.lower(), target_id=int(ident))
        return queryset.filter(
            Exists(User.objects.filter(user_matching(term), pk=OuterRef("actor_id")))
        )
