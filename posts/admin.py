from django.contrib import admin
from django.db.models import Exists, OuterRef

from posts import rendering, services
from posts.models import Post
from puppies.admin import ModerationAdmin
from users.models import User
from users.selectors import user_matching


class HiddenFilter(admin.SimpleListFilter):
    title = "hidden by a moderator"
    parameter_name = "hidden"

    def lookups(self, request, model_admin):
        return [("yes", "Hidden"), ("no", "Not hidden")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(hidden_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(hidden_at__isnull=True)
        return queryset


@admin.register(Post)
class PostAdmin(ModerationAdmin):
    list_display = ["id", "author", "excerpt", "status", "like_count", "created_at", "hidden_at"]
    list_select_related = ["author"]
    list_filter = [HiddenFilter, "status"]
    search_fields = ["=id", "=author__username"]
    search_help_text = "Exact post id, or the author's exact username."
    ordering = ["-id"]  # the primary key index; created_at has only a partial index
    raw_id_fields = ["author"]
    readonly_fields = ["like_count", "comment_count", "hidden_at", "deleted_at"]
    actions = ["hide", "unhide"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        rendering.post_changed(obj)  # a superuser's raw edit shows at once too

    @admin.display(description="content")
    def excerpt(self, post: Post) -> str:
        return post.content[:80]

    def indexed_search(self, queryset, term):
        if term.isdigit():
            return queryset.filter(pk=int(term))
        return queryset.filter(
            Exists(User.objects.filter(user_matching(term), pk=OuterRef("author_id")))
        )

    @admin.action(description="Hide selected posts", permissions=["moderate"])
    def hide(self, request, queryset):
        self.run_moderation(request, queryset, services.hide_post, "Hidden")

    @admin.action(description="Unhide selected posts", permissions=["moderate"])
    def unhide(self, request, queryset):
        self.run_moderation(request, queryset, services.unhide_post, "Unhidden")
