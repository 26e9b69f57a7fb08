"""Moderation: who may moderate whom, the audit trail, and the actions on accounts.

Every moderation action (here, posts.services.hide_post, interactions' comment hiding and
report dismissal) checks `require_moderator` and the rank (`require_outranks`) and writes
its `record_action` row inside its own transaction. The admin (puppies/admin.py,
users/admin.py) is the moderators' tool; it reaches these only through those actions.
"""

from django.db import transaction
from rest_framework.exceptions import PermissionDenied, ValidationError

from users import profiles, revocations
from users.models import AuditLog, User


def record_action(actor: User, *, action: AuditLog.Action, target, reason: str) -> AuditLog:
    """Write the audit row for a moderation action; call it inside the action's transaction."""
    return AuditLog.objects.create(
        actor=actor,
        action=action,
        target_type=target._meta.model_name,
        target_id=target.pk,
        reason=reason,
    )


def require_moderator(actor: User, *, reason: str) -> None:
    if not actor.is_active or not actor.is_moderator:
        raise PermissionDenied("Only moderators can do this.")
    if not reason.strip():
        raise ValidationError({"reason": ["Say why: the audit log records it."]})


def require_outranks(actor: User, *, author: User) -> None:
    """Content is moderated only by someone who outranks its author (a moderator does not
    hide an admin's post)."""
    if not _outranks(actor, author):
        raise PermissionDenied("You cannot moderate the content of this account.")


# What a moderator is told who tries to delete someone else's post or comment through the
# API: removal is hiding (reversible, with a reason, ranked and audited), in the admin.
HIDE_INSTEAD = (
    "Moderators remove other people's {what} by hiding it in the moderation admin "
    '({path}, action "Hide"): it asks for a reason, records it in the audit log and can '
    "be undone. DELETE is for the author."
)


def _outranks(actor: User, user: User) -> bool:
    """Moderators act on members; admins and superusers on everyone but themselves."""
    if actor.pk == user.pk:
        return False
    if actor.is_superuser or actor.role == User.Role.ADMIN:
        return not user.is_superuser or actor.is_superuser
    return not user.is_moderator


@transaction.atomic
def suspend_user(user: User, *, actor: User, reason: str) -> bool:
    """Lock `user` out at once: no login, refresh tokens blacklisted, access tokens refused.

    simplejwt's JWTAuthentication.get_user rejects inactive users, so outstanding access
    tokens stop working on their next request, and admin sessions end the same way.
    Their profile 404s meanwhile (users_visible_to shows active users only); their posts
    stay up: suspension stops a person acting, content is judged one post at a time
    (hide_post), and hiding everything would be a mass feed retraction undone on appeal.
    True if this changed anything.
    """
    require_moderator(actor, reason=reason)
    if not _outranks(actor, user):
        raise PermissionDenied("You cannot suspend this account.")
    changed = User.objects.filter(pk=user.pk, is_active=True).update(is_active=False)
    user.is_active = False
    if changed:
        revocations.revoke_refresh_tokens(user)
        transaction.on_commit(lambda: revocations.publish(user))
        profiles.changed(user)  # its copies are no longer served
        record_action(actor, action=AuditLog.Action.SUSPEND_USER, target=user, reason=reason)
    return bool(changed)


@transaction.atomic
def unsuspend_user(user: User, *, actor: User, reason: str) -> bool:
    require_moderator(actor, reason=reason)
    if not _outranks(actor, user):
        raise PermissionDenied("You cannot unsuspend this account.")
    changed = User.objects.filter(pk=user.pk, is_active=False).update(is_active=True)
    user.is_active = True
    if changed:
        transaction.on_commit(lambda: revocations.publish(user))
        profiles.changed(user)
        record_action(actor, action=AuditLog.Action.UNSUSPEND_USER, target=user, reason=reason)
    return bool(changed)


@transaction.atomic
def set_role(user: User, *, role: str, actor: User, reason: str) -> User:
    """Make `user` a member, moderator or admin. Staff access follows the role, never more."""
    require_moderator(actor, reason=reason)
    if not (actor.is_superuser or actor.role == User.Role.ADMIN) or not _outranks(actor, user):
        raise PermissionDenied("Only admins can change roles.")
    if role not in User.Role.values:
        raise ValidationError({"role": [f"One of {', '.join(User.Role.values)}."]})
    user.role = role
    user.is_staff = role != User.Role.MEMBER or user.is_superuser
    user.save(update_fields=["role", "is_staff"])
    record_action(actor, action=AuditLog.Action.SET_ROLE, target=user, reason=f"{role}: {reason}")
    return user
