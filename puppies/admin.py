"""The pieces every app's Django admin shares: the admin is the moderators' tool.

Access follows the role (users.moderation.set_role makes moderators and admins staff):
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
from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property
from rest_framework.exceptions import APIException


def is_moderator(request) -> bool:
    user = request.user
    return user.is_active and getattr(user, "is_moderator", False)


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
