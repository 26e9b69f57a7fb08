"""The Django admin as the moderators' tool, plus the pieces every app's admin shares.

Access follows the role (users.services.set_role makes moderators and admins staff):
moderators see posts, comments, reports, users and the audit log, and act on them only
through actions that call the moderation services, each asking for a reason that the
audit log records. Raw edits stay with superusers.

Every list is kept cheap on big tables: related rows come in the same query
(list_select_related), ordering follows an index, counts are estimated when unfiltered,
and search only runs exact lookups that an index answers (no icontains table scans).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from rest_framework.exceptions import APIException

from posts import rendering
from users import profiles, revocations, services
from users.models import AuditLog, Block, User


def is_moderator(request) -> bool:
    user = request.user
    return user.is_active and getattr(user, "is_moderator", False)


def user_matching(term: str) -> Q:
    """An indexed match on a user: id, lower(email) or lower(username), "@name" allowed."""
    term = term.strip().removeprefix("@")
    if term.isdigit():
        return Q(pk=int(term))
    if "@" in term:
        return Q(Exact(Lower("email"), term.lower()))
    return Q(Exact(Lower("username"), term.lower()))


class ReasonActionForm(ActionForm):
    reason = forms.CharField(
        required=False,
        max_length=1000,
        label="Reason",
        widget=forms.TextInput(attrs={"placeholder": "why (kept in the audit log)", "size": 40}),
    )


class EstimatedCountPaginator(Paginator):
    """Unfiltered lists of big tables take PostgreSQL's row estimate instead of COUNT(*)."""

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > 10_000:  # small tables: an exact count is cheap and nicer
                return int(row[0])
        return super().count


class ModerationAdmin(admin.ModelAdmin):
    """Moderators may look and run the moderation actions; nobody adds or deletes rows here."""

    action_form = ReasonActionForm
    paginator = EstimatedCountPaginator
    show_full_result_count = False  # a second COUNT(*) of the whole table per page view
    list_per_page = 50

    def has_module_permission(self, request):
        return is_moderator(request) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_moderator(request) or super().has_view_permission(request, obj)

    def has_moderate_permission(self, request):
        return is_moderator(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False  # moderation hides; deleting would lose the trail

    def indexed_search(self, queryset, term: str):
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return self.indexed_search(queryset, term), False

    def run_moderation(self, request, queryset, service, done: str) -> None:
        """Apply `service(obj, actor=..., reason=...)` to each selected row and report back."""
        reason = request.POST.get("reason", "").strip()
        if not reason:
            self.message_user(request, "Give a reason: it goes into the audit log.", messages.ERROR)
            return
        changed = 0
        for obj in queryset:
            try:
                changed += bool(service(obj, actor=request.user, reason=reason))
            except APIException as exc:
                self.message_user(request, f"{obj}: {exc.detail}", messages.ERROR)
        self.message_user(request, f"{done}: {changed} of {len(queryset)}.", messages.SUCCESS)


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
        blocks = Block.objects.filter(blocker=user).select_related("blocked")
        return _listing(
            (_user_link(b.blocked), f"since {b.created_at:%Y-%m-%d %H:%M}")
            for b in blocks.order_by("-created_at")[:LISTED]
        )

    @admin.display(description="blocked by")
    def blocks_received(self, user: User) -> str:
        blocks = Block.objects.filter(blocked=user).select_related("blocker")
        return _listing(
            (_user_link(b.blocker), f"since {b.created_at:%Y-%m-%d %H:%M}")
            for b in blocks.order_by("-created_at")[:LISTED]
        )

    @admin.display(description="reports filed")
    def reports_filed(self, user: User) -> str:
        from interactions.models import Report

        return _reports(Report.objects.filter(reporter=user))

    @admin.display(description="reports on their posts")
    def reports_received(self, user: User) -> str:
        from interactions.models import Report

        return _reports(Report.objects.filter(post__author=user))

    def has_admin_permission(self, request):
        return request.user.is_superuser or request.user.role == User.Role.ADMIN

    @admin.action(description="Suspend selected users", permissions=["moderate"])
    def suspend(self, request, queryset):
        self.run_moderation(request, queryset, services.suspend_user, "Suspended")

    @admin.action(description="Unsuspend selected users", permissions=["moderate"])
    def unsuspend(self, request, queryset):
        self.run_moderation(request, queryset, services.unsuspend_user, "Unsuspended")

    def _set_role(self, request, queryset, role: str) -> None:
        def service(user, *, actor, reason):
            before = user.role
            return services.set_role(user, role, actor=actor, reason=reason).role != before

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
