"""Reports of posts: filing one, and closing them (by a moderator, or with the post)."""

from django.db import IntegrityError, transaction

from interactions.models import Report
from posts.models import Post
from users import moderation
from users.models import AuditLog, User


def report_post(
    reporter: User, *, post: Post, reason: str, details: str = ""
) -> tuple[Report, bool]:
    """File a report for moderators; (report, created). A repeat open report returns the first."""
    open_reports = Report.objects.filter(post=post, reporter=reporter, status=Report.Status.OPEN)
    existing = open_reports.first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            report = Report.objects.create(
                post=post, reporter=reporter, reason=reason, details=details
            )
    except IntegrityError:  # a concurrent identical report won the unique constraint
        return open_reports.get(), False
    return report, True


def settle_reports(post: Post, *, resolved: bool) -> int:
    """Close the post's open reports: resolved (action taken) or dismissed (none needed)."""
    status = Report.Status.RESOLVED if resolved else Report.Status.DISMISSED
    return Report.objects.filter(post=post, status=Report.Status.OPEN).update(status=status)


@transaction.atomic
def dismiss_reports(post: Post, *, actor: User, reason: str) -> int:
    """A moderator found nothing wrong with a reported post: close its open reports."""
    moderation.require_moderator(actor, reason=reason)
    dismissed = settle_reports(post, resolved=False)
    if dismissed:
        moderation.record_action(
            actor, action=AuditLog.Action.DISMISS_REPORT, target=post, reason=reason
        )
    return dismissed
