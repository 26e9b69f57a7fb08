from celery import shared_task

from users import revocations


@shared_task(ignore_result=True)
def flush_activity() -> None:
    revocations.flush_activity()


@shared_task(ignore_result=True)
def reload_revocations() -> None:
    revocations.reload()
