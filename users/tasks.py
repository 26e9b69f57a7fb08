from celery import shared_task

from users import revocations, token_families, verification


@shared_task(ignore_result=True)
def flush_activity() -> None:
    revocations.flush_activity()


@shared_task(ignore_result=True)
def reload_revocations() -> None:
    revocations.reload()


@shared_task(ignore_result=True)
def send_verification_email(user_id: int) -> None:
    verification.send_verification_email(user_id)


@shared_task(ignore_result=True)
def flush_expired_tokens() -> None:
    token_families.flush_expired_tokens()
