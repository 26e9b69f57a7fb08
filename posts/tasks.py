from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from posts.media import services


@shared_task(
    ignore_result=True,
    soft_time_limit=settings.MEDIA_CHECK_TIME_LIMIT_S,
    time_limit=settings.MEDIA_CHECK_TIME_LIMIT_S + 10,
)
def check_media(upload_id: int) -> None:
    """Check an uploaded image; publish its post or set the avatar (idempotent)."""
    try:
        services.check_upload(upload_id)
    except SoftTimeLimitExceeded:  # a hostile file must not hold a worker: refuse it
        services.give_up(upload_id)


@shared_task(ignore_result=True)
def sync_media_visibility(post_id: int) -> None:
    services.sync_visibility(post_id)


@shared_task(ignore_result=True)
def clean_up_media() -> dict[str, int]:
    return services.clean_up()
