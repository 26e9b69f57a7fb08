from django.apps import AppConfig


class FeedConfig(AppConfig):
    name = "feed"

    def ready(self) -> None:
        from feed import metrics, selectors

        metrics.register_outbox_gauges(
            backlog=selectors.outbox_backlog, oldest_age=selectors.outbox_oldest_age
        )
