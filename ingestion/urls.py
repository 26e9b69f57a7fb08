from django.urls import path

from ingestion import views

urlpatterns = [
    path("ingestion/sources", views.SourcesView.as_view(), name="ingestion-sources"),
    path("ingestion/status", views.StatusView.as_view(), name="ingestion-status"),
    path(
        "ingestion/sources/<int:source_id>/runs",
        views.StartRunView.as_view(),
        name="ingestion-start-run",
    ),
    path("ingestion/runs/<int:run_id>", views.RunView.as_view(), name="ingestion-run"),
    path("ingestion/dead-letters", views.DeadLettersView.as_view(), name="ingestion-dead-letters"),
    path(
        "ingestion/dead-letters/<int:letter_id>/retry",
        views.RetryDeadLetterView.as_view(),
        name="ingestion-retry-dead-letter",
    ),
]
