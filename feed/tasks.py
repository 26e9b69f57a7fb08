from celery import shared_task

from feed import services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def fan_out_post(event_id: int) -> None:
    services.process_event(event_id)


@shared_task(acks_late=True, ignore_result=True)
def wake_feed(owner_id: int) -> None:
    services.wake_feed(owner_id)


def wake_feed_once(owner_id: int) -> None:
    """Ask a worker to rebuild a dormant feed (once a minute at most per owner)."""
    if services.claim_wake(owner_id):
        try:
            wake_feed.apply_async((owner_id,), retry=False)
        except Exception:  # broker down: the reader keeps pulling; the next read asks again
            services.release_wake(owner_id)


@shared_task(ignore_result=True)
def relay_outbox() -> None:
    services.relay_outbox()


@shared_task(ignore_result=True)
def trim_feeds() -> None:
    services.trim_feeds()
    services.purge_outbox()


@shared_task(ignore_result=True)
def mark_dormant_feeds() -> None:
    services.mark_dormant_feeds()


@shared_task(ignore_result=True)
def refresh_vips() -> None:
    services.refresh_vips()


@shared_task(ignore_result=True)
def refresh_popular_posts() -> None:
    services.refresh_popular_posts()
