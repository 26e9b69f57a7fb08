"""Admin pages for sources, runs and dead letters, on the moderators' admin base.

Staff (moderators and admins) look and use the actions (run now, retry now); adding and
editing sources is for superusers, through the same service as the command.
"""

from django import forms
from django.contrib import admin, messages
from rest_framework.exceptions import APIException

from ingestion import services
from ingestion.kinds import KINDS
from ingestion.models import DeadLetter, IngestionRun, Source
from puppies.admin import ModerationAdmin


class SourceForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=[(name, name) for name in sorted(KINDS)])
    base_url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = Source
        fields = ["name", "kind", "base_url", "enabled", "schedule", "page_size"]


@admin.register(Source)
class SourceAdmin(ModerationAdmin):
    form = SourceForm
    list_display = ["id", "name", "kind", "base_url", "enabled", "schedule", "bot", "checkpoint"]
    list_select_related = ["bot"]
    search_fields = ["=id", "=name"]
    ordering = ["id"]
    actions = ["run_now"]

    def has_add_permission(self, request):
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        return ["name"] if obj is not None else []  # the name says which source to update

    def indexed_search(self, queryset, term):
        return queryset.filter(pk=int(term)) if term.isdigit() else queryset.filter(name=term)

    def save_model(self, request, obj, form, change):
        try:
            saved, _ = services.save_source(
                **{n: form.cleaned_data.get(n, getattr(obj, n)) for n in SourceForm.Meta.fields}
            )
        except APIException as exc:
            self.message_user(request, str(exc.detail), messages.ERROR)
            return
        obj.pk = saved.pk

    @admin.action(description="Run selected sources now", permissions=["moderate"])
    def run_now(self, request, queryset):
        for source in queryset:
            run, started = services.start_run(source, trigger="admin")
            verb = "started" if started else "is already"
            self.message_user(request, f"{source}: run {run.pk} {verb} {run.status}.")


@admin.register(IngestionRun)
class IngestionRunAdmin(ModerationAdmin):
    list_display = [
        "id",
        "source",
        "status",
        "trigger",
        "started_at",
        "finished_at",
        "fetched",
        "created",
        "updated",
        "failed",
    ]
    list_select_related = ["source"]
    list_filter = ["status", "source"]
    search_fields = ["=id"]
    ordering = ["-id"]
    actions = None

    def has_change_permission(self, request, obj=None):
        return False

    def indexed_search(self, queryset, term):
        return queryset.filter(pk=int(term)) if term.isdigit() else queryset.none()


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("given_up", "Given up"), ("resolved", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True, next_attempt_at__isnull=False)
        if self.value() == "given_up":
            return queryset.filter(resolved_at__isnull=True, next_attempt_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(DeadLetter)
class DeadLetterAdmin(ModerationAdmin):
    list_display = [
        "id",
        "source",
        "external_id",
        "error",
        "attempts",
        "next_attempt_at",
        "resolved_at",
    ]
    list_select_related = ["source"]
    list_filter = [OpenFilter, "source"]
    search_fields = ["=id", "=external_id"]
    ordering = ["-id"]
    actions = ["retry_now"]

    def has_change_permission(self, request, obj=None):
        return False

    def indexed_search(self, queryset, term):
        return (
            queryset.filter(pk=int(term)) if term.isdigit() else queryset.filter(external_id=term)
        )

    @admin.action(description="Retry selected dead letters now", permissions=["moderate"])
    def retry_now(self, request, queryset):
        retried = 0
        for letter in queryset.filter(resolved_at__isnull=True):
            services.request_retry(letter)
            retried += 1
        self.message_user(request, f"Retrying {retried} of {len(queryset)}.", messages.SUCCESS)
