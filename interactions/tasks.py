from celery import shared_task

from interactions.services import likes


@shared_task(ignore_result=True)
def drain_like_buffer() -> None:
    # Idempotent and self-serialized (a Redis lock): overlapping beats just return.
    likes.drain_like_buffer()
