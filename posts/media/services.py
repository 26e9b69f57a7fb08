"""Writes of the media flow: links, receiving and completing uploads, the check, cleanup.

An upload row (posts.models.MediaUpload) moves pending -> received -> ready (or
rejected), or pending -> expired; a ready one ends purged when its files are removed.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import NotFound, UnsupportedMediaType, ValidationError

from posts import services as posts_services
from posts.media import files, images, links
from posts.metrics import (
    MEDIA_CHECK_SECONDS,
    MEDIA_UPLOADS_COMPLETED,
    MEDIA_UPLOADS_REJECTED,
    MEDIA_UPLOADS_STARTED,
)
from posts.models import MediaUpload, Post
from posts.selectors import PostNotFound
from puppies.errors import Conflict, PayloadTooLarge, ServiceUnavailable
from users import services as users_services
from users.models import User

logger = logging.getLogger(__name__)
Kind, State = MediaUpload.Kind, MediaUpload.State
_BATCH = 500  # rows per cleanup pass; beat runs the next pass soon enough


# --- starting -------------------------------------------------------------------------


@transaction.atomic
def create_post_with_media(*, author: User, content: str, media: dict) -> tuple[Post, dict]:
    """A post waiting, unseen, for its image; and where to send the image."""
    post = posts_services.create_post(author=author, content=content, media=media)
    return post, links.instructions(_start(author, Kind.POST, media, post=post))


def start_avatar_upload(user: User, *, content_type: str, size: int) -> dict:
    """Where to send a new avatar; the current one stays until the new one passes."""
    claim = {"content_type": content_type, "size": size}
    return links.instructions(_start(user, Kind.AVATAR, claim))


def _start(owner: User, kind: str, claim: dict, *, post: Post | None = None) -> MediaUpload:
    upload = MediaUpload.objects.create(
        owner_id=owner.pk,
        post=post,
        kind=kind,
        content_type=claim["content_type"],
        size=claim["size"],
        incoming_name=files.incoming_name(),
    )
    MEDIA_UPLOADS_STARTED.labels(kind).inc()
    return upload


# --- the file arrives -----------------------------------------------------------------


def receive(token: str, *, content_type: str, content_length: str | None, body) -> MediaUpload:
    """A local upload link was used: store the bytes and queue their check.

    The link is its own authority (no bearer token). It takes exactly the declared
    content type and size, once; the row's state, not the token, makes it single-use.
    """
    grant = links.read_grant(token)
    upload = MediaUpload.objects.filter(pk=grant.upload_id, post_id=grant.post_id).first()
    if upload is None or upload.state == State.EXPIRED:
        raise links.UploadLinkNotFound
    if upload.state != State.PENDING:
        raise Conflict("This upload link was already used.", "upload_link_used")
    if content_type != grant.content_type:
        raise UnsupportedMediaType(
            content_type, f"This link takes {grant.content_type} only, not {content_type!r}."
        )
    length = int(content_length) if (content_length or "").isdigit() else None
    if length is None:
        raise ValidationError({"Content-Length": [f"Send exactly {grant.size} bytes."]})
    if length > grant.size:
        raise PayloadTooLarge(f"This link takes exactly {grant.size} bytes, not {length}.")
    if length < grant.size:
        raise ValidationError(
            {"file": [f"This link takes exactly {grant.size} bytes, not {length}."]}
        )
    # Claimed before reading: of two uploads racing on one link, one gets a 409.
    if not MediaUpload.objects.filter(pk=upload.pk, state=State.PENDING).update(
        state=State.RECEIVED, received_at=timezone.now()
    ):
        raise Conflict("This upload link was already used.", "upload_link_used")
    data = body.read(grant.size + 1) if body is not None else b""
    if len(data) != grant.size:  # the client hung up early: the link stays usable
        MediaUpload.objects.filter(pk=upload.pk).update(state=State.PENDING)
        raise ValidationError({"file": [f"Received {len(data)} of {grant.size} bytes."]})
    try:
        with transaction.atomic():  # the check is queued once the file is stored
            files.save(upload.incoming_name, data)
            _queue_check(upload.pk)
    except Exception:
        logger.exception("storing upload %s failed", upload.pk)
        MediaUpload.objects.filter(pk=upload.pk).update(state=State.PENDING)
        raise ServiceUnavailable("Storage is unavailable: send the file again shortly.") from None
    upload.state = State.RECEIVED
    return upload


def complete(upload: MediaUpload) -> MediaUpload:
    """The client says its file is in the bucket: check that it is, then queue its check.

    Idempotent: an upload past `pending` is left as it is.
    """
    if upload.state != State.PENDING:
        return upload
    if not files.exists(upload.incoming_name):
        raise Conflict(
            "No file has arrived at the upload link yet: send it, then call this again.",
            "upload_missing",
        )
    with transaction.atomic():
        if MediaUpload.objects.filter(pk=upload.pk, state=State.PENDING).update(
            state=State.RECEIVED, received_at=timezone.now()
        ):
            _queue_check(upload.pk)
    upload.refresh_from_db(fields=["state"])
    return upload


def post_upload(author: User, *, post_id: int) -> MediaUpload:
    """The latest upload of the author's post (404 for anyone else)."""
    upload = (
        MediaUpload.objects.filter(
            post_id=post_id, owner_id=author.pk, kind=Kind.POST, post__deleted_at__isnull=True
        )
        .order_by("-pk")
        .first()
    )
    if upload is None:
        if Post.objects.filter(pk=post_id, author_id=author.pk, deleted_at__isnull=True).exists():
            raise Conflict("This post was created without media: nothing to complete.", "no_media")
        raise PostNotFound
    return upload


def avatar_upload(user: User) -> MediaUpload:
    upload = MediaUpload.objects.filter(owner_id=user.pk, kind=Kind.AVATAR).order_by("-pk").first()
    if upload is None:
        raise NotFound("No avatar upload was started.")
    return upload


def _queue_check(upload_id: int) -> None:
    from posts import tasks

    transaction.on_commit(lambda: tasks.check_media.delay(upload_id))


# --- the check (a Celery task) --------------------------------------------------------


def check_upload(upload_id: int) -> None:
    """Check a received file; publish its post (or set the avatar), or reject it.

    Idempotent: only a `received` upload is checked, and only one check moves it on.
    """
    upload = MediaUpload.objects.filter(pk=upload_id, state=State.RECEIVED).first()
    if upload is None:
        return
    started = time.perf_counter()
    try:
        data = files.read(upload.incoming_name, upload.size + 1)
        if data is None:
            raise images.Rejected("missing", "The uploaded file is gone; upload it again.")
        if len(data) != upload.size:
            raise images.Rejected(
                "size_mismatch", f"The file is not the declared {upload.size} bytes."
            )
        image = images.check(data, upload.content_type, square=upload.kind == Kind.AVATAR)
    except images.Rejected as rejected:
        _reject(upload, rejected)
    else:
        _accept(upload, image)
    finally:
        MEDIA_CHECK_SECONDS.labels(upload.kind).observe(time.perf_counter() - started)


def give_up(upload_id: int) -> None:
    """The check ran out of its time budget (MEDIA_CHECK_TIME_LIMIT_S): refuse the file."""
    upload = MediaUpload.objects.filter(pk=upload_id, state=State.RECEIVED).first()
    if upload is not None:
        _reject(upload, images.Rejected("too_slow", "This image took too long to check."))


def _accept(upload: MediaUpload, image: images.CheckedImage) -> None:
    owner = upload.post_id if upload.kind == Kind.POST else upload.owner_id
    stem = f"{upload.kind}s/{owner}/{files.random_stem()}"
    if upload.kind == Kind.POST:
        stored = [
            files.save(f"{stem}.{image.extension}", image.data),
            files.save(f"{stem}_thumb.{image.thumbnail_extension}", image.thumbnail),
        ]
    else:  # an avatar is its square version only
        stored = [files.save(f"{stem}.{image.thumbnail_extension}", image.thumbnail)]
    # Files first, rows second: if this transaction fails, media_gc finds the orphans.
    with transaction.atomic():
        locked = MediaUpload.objects.select_for_update().filter(pk=upload.pk).first()
        if locked is None or locked.state != State.RECEIVED:
            files.delete_after_commit(stored)
            return
        locked.state, locked.names, locked.finished_at = State.READY, stored, timezone.now()
        locked.save(update_fields=["state", "names", "finished_at"])
        files.delete_after_commit([upload.incoming_name])
        if upload.kind == Kind.POST:
            _publish(locked, image)
        else:
            _set_avatar(locked)
    MEDIA_UPLOADS_COMPLETED.labels(upload.kind).inc()


def _publish(upload: MediaUpload, image: images.CheckedImage) -> None:
    media = {
        "url": files.url(upload.names[0]),
        "content_type": upload.content_type,
        "width": image.width,
        "height": image.height,
        "thumbnail_url": files.url(upload.names[1]),
        "blurhash": image.blurhash,
    }
    post = posts_services.publish_media(upload.post_id, media=media)
    if post is None:  # deleted while its file was checked: nothing will show it
        upload.state = State.PURGED
        upload.save(update_fields=["state"])
        files.delete_after_commit(upload.names)
    elif post.hidden_at is not None:  # hidden while pending: keep its files out of reach
        files.visibility_changed(post)


def _set_avatar(upload: MediaUpload) -> None:
    replaced = list(
        MediaUpload.objects.select_for_update()
        .filter(owner_id=upload.owner_id, kind=Kind.AVATAR, state=State.READY)
        .exclude(pk=upload.pk)
    )
    for old in replaced:
        files.delete_after_commit(old.names)
    MediaUpload.objects.filter(pk__in=[old.pk for old in replaced]).update(state=State.PURGED)
    users_services.update_profile(
        User.objects.get(pk=upload.owner_id), avatar_url=files.url(upload.names[0])
    )


def _reject(upload: MediaUpload, rejected: images.Rejected) -> None:
    with transaction.atomic():
        moved = MediaUpload.objects.filter(pk=upload.pk, state=State.RECEIVED).update(
            state=State.REJECTED, error=rejected.message[:200], finished_at=timezone.now()
        )
        if moved and upload.post_id is not None:
            posts_services.reject_media(upload.post_id, error=rejected.message)
        files.delete_after_commit([upload.incoming_name])
    if moved:
        MEDIA_UPLOADS_REJECTED.labels(upload.kind, rejected.reason).inc()


# --- visibility and cleanup (Celery tasks, beat) -------------------------------------


def sync_visibility(post_id: int) -> None:
    """Serve a post's files while it is visible; move them out of reach while it is not."""
    with transaction.atomic():
        # The lock orders a hide and an unhide that follow each other closely.
        upload = (
            MediaUpload.objects.select_for_update()
            .filter(post_id=post_id, state=State.READY)
            .first()
        )
        if upload is None:
            return
        post = Post.objects.filter(pk=post_id).first()
        shown = post is not None and post.is_visible
        for name in upload.names:
            if shown:
                files.move(files.HIDDEN + name, name)
            else:
                files.move(name, files.HIDDEN + name)


def clean_up() -> dict[str, int]:
    """One beat pass: expire uploads that never arrived (and their posts), re-queue
    checks a lost worker dropped, remove deleted posts' files after the grace period."""
    return {
        "expired": expire_pending(),
        "requeued": requeue_stuck(),
        "purged": purge_deleted_posts(),
    }


def expire_pending() -> int:
    cutoff = timezone.now() - timedelta(seconds=settings.MEDIA_PENDING_TTL_S)
    stale = (
        MediaUpload.objects.filter(state=State.PENDING, created_at__lt=cutoff)
        .select_related("owner", "post")
        .order_by("created_at")[:_BATCH]
    )
    expired = 0
    for upload in stale:
        with transaction.atomic():
            if not MediaUpload.objects.filter(pk=upload.pk, state=State.PENDING).update(
                state=State.EXPIRED, finished_at=timezone.now()
            ):
                continue
            post = upload.post
            if post is not None and post.status == Post.Status.PENDING_MEDIA:
                posts_services.delete_post(post, actor=upload.owner)
            # A presigned POST may have delivered bytes nobody confirmed.
            files.delete_after_commit([upload.incoming_name])
        MEDIA_UPLOADS_REJECTED.labels(upload.kind, "expired").inc()
        expired += 1
    return expired


def requeue_stuck() -> int:
    """Checks queued more than an upload link's lifetime ago and never finished."""
    cutoff = timezone.now() - timedelta(seconds=settings.MEDIA_UPLOAD_TTL_S)
    stuck = list(
        MediaUpload.objects.filter(state=State.RECEIVED, received_at__lt=cutoff).values_list(
            "pk", flat=True
        )[:_BATCH]
    )
    with transaction.atomic():
        for upload_id in stuck:
            _queue_check(upload_id)
    return len(stuck)


def purge_deleted_posts() -> int:
    cutoff = timezone.now() - timedelta(seconds=settings.MEDIA_DELETE_GRACE_S)
    done = list(
        MediaUpload.objects.filter(
            kind=Kind.POST, state=State.READY, post__deleted_at__lt=cutoff
        ).order_by("pk")[:_BATCH]
    )
    for upload in done:
        files.delete([*upload.names, *(files.HIDDEN + name for name in upload.names)])
    MediaUpload.objects.filter(pk__in=[u.pk for u in done]).update(state=State.PURGED)
    return len(done)


def known_names() -> set[str]:
    """Every stored name a row accounts for (media_gc removes the others)."""
    names: set[str] = set()
    rows = MediaUpload.objects.filter(state__in=[State.PENDING, State.RECEIVED, State.READY])
    for incoming, stored in rows.values_list("incoming_name", "names").iterator(chunk_size=5000):
        names.add(incoming)
        names.update(stored)
        names.update(files.HIDDEN + name for name in stored)
    return names


def is_orphan(name: str, *, known: set[str], now=None) -> bool:
    """A stored file no row accounts for, old enough not to be an upload in flight (or a
    check between storing its files and committing its row)."""
    if name in known:
        return False
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.MEDIA_GC_MIN_AGE_S)
    try:
        return files.modified_at(name) < cutoff
    except FileNotFoundError:
        return False
