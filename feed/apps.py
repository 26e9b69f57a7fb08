from django.apps import AppConfig


class FeedConfig(AppConfig):
    name = "feed"

    def ready(self) -> None:
        from feed import metrics  # noqa: F401  registers the outbox backlog gauge
