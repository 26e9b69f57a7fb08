from celery import shared_task

from posts.media import services


@shared_task(ignore_result=True)
def check_media(upload_id: int) -> None:
    """Check an uploaded image; publish its post or set the avatar (idempotent)."""
    services.check_upload(upload_id)


@shared_task(ignore_result=True)
def sync_media_visibility(post_id: int) -> None:
    services.sync_visibility(post_id)


@shared_task(ignore_result=True)
def clean_up_media() -> dict[str, int]:
    return services.clean_up()
