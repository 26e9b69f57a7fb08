from django.contrib import admin
from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Value, When, Window
from django.urls import reverse
from django.utils.html import format_html

from interactions.models import Comment, Report
from interactions.services import comments, reports
from posts import services as posts
from puppies.admin import ModerationAdmin
from users.models import User
from users.selectors import user_matching


def _by_author(queryset, term: str):
    return queryset.filter(
        Exists(User.objects.filter(user_matching(term), pk=OuterRef("author_id")))
    )


@admin.register(Comment)
class CommentAdmin(ModerationAdmin):
    list_display = ["id", "post_id", "author", "excerpt", "created_at", "hidden_at"]
    list_select_related = ["author"]
    search_fields = ["=id", "=post_id", "=author__username"]
    search_help_text = 'Exact comment id, "post 12" for a post\'s comments, or an exact username.'
    ordering = ["-id"]
    raw_id_fields = ["post", "author"]
    readonly_fields = ["hidden_at", "deleted_at"]
    actions = ["hide", "unhide"]

    @admin.display(description="content")
    def excerpt(self, comment: Comment) -> str:
        return comment.content[:80]

    def indexed_search(self, queryset, term):
        kind, _, ident = term.partition(" ")
        if kind.lower() == "post" and ident.strip().isdigit():
            return queryset.filter(post_id=int(ident))
        if term.isdigit():
            return queryset.filter(pk=int(term))
        return _by_author(queryset, term)

    @admin.action(description="Hide selected comments", permissions=["moderate"])
    def hide(self, request, queryset):
        def hide(comment, *, actor, reason):
            return comments.set_comment_hidden(comment, hidden=True, actor=actor, reason=reason)

        self.run_moderation(request, queryset, hide, "Hidden")

    @admin.action(description="Unhide selected comments", permissions=["moderate"])
    def unhide(self, request, queryset):
        def unhide(comment, *, actor, reason):
            return comments.set_comment_hidden(comment, hidden=False, actor=actor, reason=reason)

        self.run_moderation(request, queryset, unhide, "Unhidden")


class ReportStatusFilter(admin.SimpleListFilter):
    """Open reports by default: the queue is what still needs a decision."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [*Report.Status.choices, ("all", "All")]

    def choices(self, changelist):
        current = self.value() or Report.Status.OPEN
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or Report.Status.OPEN
        return queryset if value == "all" else queryset.filter(status=value)


@admin.register(Report)
class ReportAdmin(ModerationAdmin):
    """The reports queue: open first, then posts with the most open reports, newest first."""

    list_display = [
        "id",
        "post_link",
        "post_author",
        "reason",
        "open_reports",
        "reporter",
        "status",
        "created_at",
    ]
    list_display_links = ["id"]
    list_select_related = ["post", "post__author", "reporter"]
    list_filter = [ReportStatusFilter, "reason"]
    search_fields = ["=post_id"]
    search_help_text = "Exact post id."
    readonly_fields = ["post_link", "post_content"]
    fields = ["post_link", "post_content", "reporter", "reason", "details", "status", "created_at"]
    actions = ["hide_posts", "dismiss"]

    def get_queryset(self, request):
        # A window over the listed reports (the status filter applies first): one pass and a
        # sort, where a correlated COUNT per row took ~15 ms per 1,000 open reports.
        return (
            super()
            .get_queryset(request)
            .annotate(
                post_reports_n=Window(Count("pk"), partition_by=[F("post_id")]),
                open_first=Case(
                    When(status=Report.Status.OPEN, then=Value(0)),
                    default=Value(1),
                    output_field=IntegerField(),
                ),
            )
            .order_by("open_first", "-post_reports_n", "-created_at", "-id")
        )

    def indexed_search(self, queryset, term):
        return queryset.filter(post_id=int(term)) if term.isdigit() else queryset.none()

    @admin.display(description="reports on post (listed)", ordering="-post_reports_n")
    def open_reports(self, report: Report) -> int:
        return report.post_reports_n

    @admin.display(description="post")
    def post_link(self, report: Report) -> str:
        url = reverse("admin:posts_post_change", args=[report.post_id])
        hidden = " (hidden)" if report.post.hidden_at else ""
        return format_html('<a href="{}">{}</a>{}', url, report.post.content[:60], hidden)

    @admin.display(description="post content")
    def post_content(self, report: Report) -> str:
        return report.post.content

    @admin.display(description="post author")
    def post_author(self, report: Report) -> str:
        return report.post.author.username

    @admin.action(
        description="Hide the reported posts (resolves their reports)", permissions=["moderate"]
    )
    def hide_posts(self, request, queryset):
        posts_ = {report.post_id: report.post for report in queryset}.values()
        self.run_moderation(request, list(posts_), posts.hide_post, "Posts hidden")

    @admin.action(description="Dismiss the reports on these posts", permissions=["moderate"])
    def dismiss(self, request, queryset):
        posts_ = {report.post_id: report.post for report in queryset}.values()
        self.run_moderation(request, list(posts_), reports.dismiss_reports, "Posts cleared")
