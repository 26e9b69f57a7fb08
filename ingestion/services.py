"""Writes of ingestion: sources, runs (the import itself), dead letters.

A run walks the source kind's streams page by page. Pages are fetched ahead, a few at
once (ingestion.client: timeouts, retries, safety), and written one at a time, in order,
each in one transaction with the source's checkpoint and the run's counts: a run stopped
anywhere (SIGTERM between batches, SIGKILL within one) resumes at the first page not
committed, and redoing a page changes nothing because `(source, external_id)` maps each
item to what it became (ImportedItem). New items are written set-based
(posts.services.import_posts, interactions.services.comments.import_comments); changed ones go
through the edit services one by one (rare); unchanged ones cost nothing but a lookup.
"""

import hashlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

import orjson
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from psycopg.errors import DeadlockDetected
from rest_framework.exceptions import ValidationError

from feed import services as feed
from ingestion import client, metrics
from ingestion.kinds import KINDS, CommentRecord, InvalidItem, Kind, PostRecord, Record, Stream
from ingestion.models import DeadLetter, ImportedItem, IngestionRun, Source
from interactions.services import comments
from posts import services as posts
from posts.models import Post
from puppies.errors import Conflict
from users import services as users
from users.models import User

logger = logging.getLogger(__name__)
Run = IngestionRun.Status


# --- sources ---------------------------------------------------------------------------


def _check_source(kind: str, base_url: str) -> None:
    errors = {}
    if kind not in KINDS:
        errors["kind"] = [f"One of: {', '.join(sorted(KINDS))}."]
    try:
        _check_scheme(base_url)
    except client.FetchError as exc:
        errors["base_url"] = [str(exc)]
    if errors:
        raise ValidationError(errors)


def _check_scheme(url: str) -> None:
    # Only the scheme here: whether the host is public is checked on every request (it
    # may resolve elsewhere by then), and a machine without internet can still add one.
    if not url.startswith(("http://", "https://")):
        raise client.UnsafeURL(f"Only http(s) URLs can be imported: {url!r}.")


@transaction.atomic
def save_source(
    *,
    name: str,
    kind: str,
    base_url: str,
    enabled: bool = False,
    schedule: int = 3600,
    page_size: int = 100,
) -> tuple[Source, bool]:
    """Create the source `name` with its bot account, or update it; (source, created)."""
    _check_source(kind, base_url)
    fields = {
        "kind": kind,
        "base_url": base_url,
        "enabled": enabled,
        "schedule": schedule,
        "page_size": page_size,
    }
    source = Source.objects.select_for_update().filter(name=name).first()
    if source is not None:
        Source.objects.filter(pk=source.pk).update(**fields)
        source.refresh_from_db()
        return source, False
    bot = users.create_bot_user(
        username=_bot_username(name), display_name=f"{name} (imported)"[:50]
    )
    # Pulled, not pushed: see feed.models.VipAuthor.pinned.
    feed.pull_always(bot)
    return Source.objects.create(name=name, bot=bot, **fields), True


def _bot_username(name: str) -> str:
    base = "bot_" + "".join(c if c.isalnum() else "_" for c in name)[:22]
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}_{n}"
    return candidate


DEFAULT_SOURCES = [
    {
        "name": "jsonplaceholder",
        "kind": "jsonplaceholder",
        "base_url": "https://jsonplaceholder.typicode.com",
    },
    {"name": "pokeapi-berries", "kind": "pokeapi-berries", "base_url": "https://pokeapi.co/api/v2"},
    {"name": "pokeapi-pokemon", "kind": "pokeapi-pokemon", "base_url": "https://pokeapi.co/api/v2"},
]


def seed_default_sources() -> list[str]:
    """The real public APIs as sources, disabled; existing ones are left as they are."""
    added = []
    for spec in DEFAULT_SOURCES:
        if not Source.objects.filter(name=spec["name"]).exists():
            save_source(**spec, enabled=False, schedule=86_400)
            added.append(spec["name"])
    return added


# --- starting runs (the lock) -------------------------------------------------------------


def _stale_before() -> timezone.datetime:
    return timezone.now() - timedelta(seconds=settings.INGEST_RUN_STALE_S)


def start_run(source: Source, *, trigger: str, dispatch: bool = True) -> tuple[IngestionRun, bool]:
    """A new queued run of `source`, or the one already queued or running: (run, started).

    The source row is locked while deciding, and a partial unique index allows one active
    run per source. An active run whose heartbeat is older than INGEST_RUN_STALE_S lost its
    worker: it is marked interrupted and the new run resumes from the checkpoint.
    """
    with transaction.atomic():
        Source.objects.select_for_update().filter(pk=source.pk).values_list("pk").get()
        active = IngestionRun.objects.filter(source=source, status__in=IngestionRun.ACTIVE).first()
        if active is not None:
            if active.heartbeat_at >= _stale_before():
                return active, False
            _finish(
                active, Run.INTERRUPTED, "No progress for a while: its worker died.", owned=False
            )
        run = IngestionRun.objects.create(source=source, trigger=trigger)
        if dispatch:
            transaction.on_commit(lambda: _dispatch_run(run.pk))
    return run, True


def _dispatch_run(run_id: int) -> None:
    from ingestion.tasks import run_ingestion

    try:
        run_ingestion.delay(run_id)
    except Exception:  # broker down: the run stays queued, goes stale and is taken over
        logger.warning("ingestion run %s not dispatched", run_id, exc_info=True)


def start_due_runs() -> list[int]:
    """Beat: start a run of every enabled source whose schedule has elapsed since its last."""
    started = []
    for source in Source.objects.filter(enabled=True):
        last = source.runs.order_by("-id").values_list("created_at", flat=True).first()
        if last is None or timezone.now() - last >= timedelta(seconds=source.schedule):
            run, new = start_run(source, trigger="beat")
            if new:
                started.append(run.pk)
    return started


# --- executing a run --------------------------------------------------------------------


def _claim(run_id: int) -> IngestionRun | None:
    """Move the run to running if it is queued (or running with a dead worker): this
    worker owns it then. None if it is someone else's or over (a redelivered task).

    The heartbeat doubles as a fencing token: every write of the run's pages requires
    the heartbeat this worker last wrote, so a worker that was only slow, not dead,
    cannot write on once another took its run over (or the run was interrupted)."""
    now = timezone.now()
    claimed = IngestionRun.objects.filter(pk=run_id, status=Run.QUEUED).update(
        status=Run.RUNNING, started_at=now, heartbeat_at=now
    ) or IngestionRun.objects.filter(
        pk=run_id, status=Run.RUNNING, heartbeat_at__lt=_stale_before()
    ).update(heartbeat_at=now)
    return (
        IngestionRun.objects.select_related("source", "source__bot").get(pk=run_id)
        if claimed
        else None
    )


def execute_run(
    run_id: int,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[int], None] | None = None,
) -> IngestionRun:
    """Import the run's source, page by page, until the end, a stop, or too many failures."""
    run = _claim(run_id)
    if run is None:
        return IngestionRun.objects.get(pk=run_id)
    started = time.monotonic()
    source = run.source
    status, error = Run.FAILED, ""
    try:
        with client.Fetcher() as fetcher:
            status = _import(run, source, KINDS[source.kind], fetcher, should_stop, on_progress)
    except _Fenced:
        logger.warning("ingestion run %s was taken over; this worker stops", run_id)
        return IngestionRun.objects.get(pk=run_id)
    except _TooManyFailures as exc:
        error = str(exc)
    except Exception as exc:
        logger.exception("ingestion run %s failed", run_id)
        error = f"{type(exc).__name__}: {exc}"
    _finish(run, status, error)
    metrics.RUN_DURATION.labels(source.name, status).observe(time.monotonic() - started)
    run.refresh_from_db()
    return run


def _finish(run: IngestionRun, status: str, error: str = "", *, owned: bool = True) -> None:
    """End the run; by its worker (`owned`: only while it still holds it) or by a takeover."""
    with transaction.atomic():
        runs = IngestionRun.objects.filter(pk=run.pk, status__in=IngestionRun.ACTIVE)
        if owned:
            runs = runs.filter(heartbeat_at=run.heartbeat_at)
        ended = runs.update(status=status, finished_at=timezone.now(), error=error[:2000])
        if ended and status == Run.SUCCEEDED:  # the next run starts over, updating
            Source.objects.filter(pk=run.source_id).update(checkpoint={})


class _TooManyFailures(Exception):
    pass


class _Fenced(Exception):
    """The run is no longer this worker's (taken over, or interrupted meanwhile)."""


def _import(
    run: IngestionRun,
    source: Source,
    kind: Kind,
    fetcher: client.Fetcher,
    should_stop: Callable[[], bool],
    on_progress: Callable[[int], None] | None,
) -> str:
    checkpoint = source.checkpoint or {}
    first_stream, first_page = checkpoint.get("stream", 0), checkpoint.get("page", 0)
    letters_open = DeadLetter.objects.filter(source=source, resolved_at__isnull=True).exists()
    for index in range(first_stream, len(kind.streams)):
        stream = kind.streams[index]
        failures_in_a_row = 0
        start = first_page if index == first_stream else 0
        for page in _pages(fetcher, stream, source, start):
            outcome = _write_page(
                run, source, stream, page, {"stream": index, "page": page.number + 1}, letters_open
            )
            letters_open = letters_open or bool(outcome.failures)
            if on_progress is not None:
                on_progress(outcome.fetched)
            failures_in_a_row = failures_in_a_row + 1 if page.items is None else 0
            if failures_in_a_row >= settings.INGEST_MAX_PAGE_FAILURES:
                raise _TooManyFailures(
                    f"{failures_in_a_row} pages in a row failed; last: {page.error}"
                )
            if should_stop():
                return Run.INTERRUPTED
            if page.last:
                break
    return Run.SUCCEEDED


@dataclass
class _Page:
    number: int
    url: str
    items: list | None = None  # None: the page itself failed (error says why)
    error: str = ""
    body: str = ""
    last: bool = False
    # What the items become, validated in the fetching thread: while it runs there, the
    # run's thread waits on the database with the previous page (the GIL is free then).
    pairs: list = field(default_factory=list)
    failures: list = field(default_factory=list)


@dataclass
class _DetailFailure:
    ref: object
    url: str | None
    error: str


def _pages(fetcher: client.Fetcher, stream: Stream, source: Source, first: int) -> Iterator[_Page]:
    """The stream's pages from `first` on, in order, INGEST_CONCURRENCY fetched ahead (and
    as many item details at once for a detailed stream); stops after the last page."""
    ahead = max(1, settings.INGEST_CONCURRENCY)
    with (
        ThreadPoolExecutor(ahead, "ingest-page") as pool,
        ThreadPoolExecutor(ahead, "ingest-item") as details,
    ):

        def fetch(number: int) -> _Page:
            return _fetch_page(fetcher, stream, source, number, details)

        pending = deque(pool.submit(fetch, n) for n in range(first, first + ahead))
        following = first + ahead
        try:
            while pending:
                page = pending.popleft().result()
                yield page
                if page.last:
                    return
                pending.append(pool.submit(fetch, following))
                following += 1
        finally:
            for future in pending:
                future.cancel()


def _fetch_page(
    fetcher: client.Fetcher,
    stream: Stream,
    source: Source,
    number: int,
    details: ThreadPoolExecutor,
) -> _Page:
    url = stream.page_url(source.base_url, number, source.page_size)
    try:
        payload = fetcher.get_json(url)
        items = stream.items(payload)
        last = stream.is_last(payload, items, source.page_size)
    except client.InvalidJSON as exc:
        return _Page(number, url, error=str(exc), body=exc.body[:2000].decode(errors="replace"))
    except (client.FetchError, InvalidItem) as exc:
        return _Page(number, url, error=str(exc))
    if stream.detailed:
        items = list(details.map(lambda ref: _fetch_detail(fetcher, stream, source, ref), items))
    pairs, failures = _records_of(stream, source, items, number)
    return _Page(number, url, items=items, last=last, pairs=pairs, failures=failures)


def _fetch_detail(fetcher: client.Fetcher, stream: Stream, source: Source, ref: object) -> object:
    url = stream.item_url(source.base_url, ref)
    if url is None:
        return _DetailFailure(ref, None, "The listing gives no URL for this item.")
    try:
        return fetcher.get_json(url)
    except client.FetchError as exc:
        return _DetailFailure(ref, url, str(exc))


@dataclass
class _Failure:
    external_id: str
    payload: dict
    error: str


@dataclass
class _Outcome:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failures: list[_Failure] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # external ids now imported as they are


def _records_of(
    stream: Stream, source: Source, items: list, page: int
) -> tuple[list, list[_Failure]]:
    """(record, origin) pairs of the page's items, and the items that are not valid."""
    pairs, failures = [], []
    for position, item in enumerate(items):
        if isinstance(item, _DetailFailure):
            key = stream.item_key(item.ref) or f"{stream.name}:{page}:{position}"
            failures.append(
                _Failure(
                    key, {"stream": stream.name, "url": item.url, "item": item.ref}, item.error
                )
            )
            continue
        origin = {
            "stream": stream.name,
            "url": stream.item_url(source.base_url, item),
            "item": item,
        }
        try:
            records = stream.records(item)
        except InvalidItem as exc:
            key = stream.item_key(item) or f"{stream.name}:{page}:{position}"
            failures.append(_Failure(key, origin, f"Invalid item: {exc}"))
            continue
        pairs.extend((record, origin) for record in records)
    return pairs, failures


def _write_page(
    run: IngestionRun,
    source: Source,
    stream: Stream,
    page: _Page,
    checkpoint: dict,
    letters_open: bool,
) -> _Outcome:
    """One page, one transaction: its items, its dead letters, the checkpoint, the counts.

    Tried again if PostgreSQL broke a deadlock by aborting it (a like drain updating the
    same posts' counters in another order): the page is redone from the start."""
    for attempt in range(_DEADLOCK_TRIES):
        try:
            return _write_page_once(run, source, stream, page, checkpoint, letters_open)
        except OperationalError as exc:
            if not isinstance(exc.__cause__, DeadlockDetected) or attempt + 1 == _DEADLOCK_TRIES:
                raise
            logger.warning("ingestion page %s of run %s deadlocked; again", page.number, run.pk)
    raise AssertionError("unreachable")


_DEADLOCK_TRIES = 3


def _write_page_once(
    run: IngestionRun,
    source: Source,
    stream: Stream,
    page: _Page,
    checkpoint: dict,
    letters_open: bool,
) -> _Outcome:
    if page.items is None:
        outcome = _Outcome(fetched=0)
        payload = {"stream": stream.name, "url": page.url, "page": page.number}
        if page.body:
            payload["body"] = page.body
        outcome.failures.append(_Failure(f"page:{stream.name}:{page.number}", payload, page.error))
    else:
        outcome = _Outcome(fetched=len(page.items))
    with transaction.atomic():
        # Not waiting for the commit to reach disk (~30 ms a page here): a crash may lose
        # the last pages committed, but their checkpoint goes with them, so the next run
        # simply imports them again, idempotently. Nothing else was told they were done.
        _lock_source(source, synchronous_commit=False)
        if page.pairs:
            _write_records(source, page.pairs, outcome)
        outcome.failures.extend(page.failures)
        _record_failures(source, run, outcome.failures)
        if letters_open and outcome.done:
            _resolve(source, outcome.done)
        heartbeat = timezone.now()
        owned = IngestionRun.objects.filter(
            pk=run.pk, status=Run.RUNNING, heartbeat_at=run.heartbeat_at
        ).update(
            fetched=F("fetched") + outcome.fetched,
            created=F("created") + outcome.created,
            updated=F("updated") + outcome.updated,
            failed=F("failed") + len(outcome.failures),
            heartbeat_at=heartbeat,
        )
        if not owned:  # rolls the page back: whoever holds the run now writes it
            raise _Fenced
        Source.objects.filter(pk=source.pk).update(checkpoint=checkpoint)
        transaction.on_commit(lambda: _count(source, outcome))
    run.heartbeat_at = heartbeat
    return outcome


def _count(source: Source, outcome: _Outcome) -> None:
    for name in ("created", "updated", "unchanged"):
        if getattr(outcome, name):
            metrics.RECORDS.labels(source.name, name).inc(getattr(outcome, name))
    if outcome.failures:
        metrics.FAILED.labels(source.name).inc(len(outcome.failures))


def _lock_source(source: Source, *, synchronous_commit: bool = True) -> None:
    """Serializes the writes of a run and of dead-letter retries of the same source, so
    both cannot import the same new item at once. (In the same round trip, the
    transaction's synchronous_commit.)"""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT set_config('synchronous_commit', %s, true) FROM {Source._meta.db_table}"  # noqa: S608 (table names from the models)
            " WHERE id = %s FOR UPDATE",
            ["on" if synchronous_commit else "off", source.pk],
        )


def checksum(content: str) -> str:
    return hashlib.md5(content.encode(), usedforsecurity=False).hexdigest()


def _write_records(source: Source, pairs: list[tuple[Record, dict]], outcome: _Outcome) -> None:
    """Create what is new, update what changed, skip what is the same; a comment whose
    post is not imported becomes a failure. Called in a transaction, source locked."""
    bot = source.bot
    new_posts: dict[str, PostRecord] = {}
    new_comments: dict[str, tuple[CommentRecord, dict]] = {}
    seen: set[str] = set()
    wanted = {record.external_id for record, _ in pairs}
    wanted |= {record.parent_id for record, _ in pairs if isinstance(record, CommentRecord)}
    table = ImportedItem._meta.db_table
    with connection.cursor() as cursor:
        # The ids as one JSON parameter: quoting one string beats binding a thousand values.
        cursor.execute(
            f"SELECT external_id, post_id, comment_id, checksum FROM {table}"  # noqa: S608 (table names from the models)
            " WHERE source_id = %s AND external_id IN (SELECT json_array_elements_text(%s::json))",
            [source.pk, orjson.dumps(sorted(wanted)).decode()],
        )
        known = {row[0]: row[1:] for row in cursor.fetchall()}
    changed: list[tuple[str, str]] = []
    for record, origin in pairs:
        key = record.external_id
        if key in seen:  # the same item twice in a page (upstream duplicates)
            outcome.unchanged += 1
            continue
        seen.add(key)
        if key in known:
            post_id, comment_id, old_checksum = known[key]
            if old_checksum == checksum(record.content):
                outcome.unchanged += 1
            elif _apply_change(bot, post_id, comment_id, record.content):
                changed.append((key, checksum(record.content)))
                outcome.updated += 1
            else:  # deleted or hidden here since: a moderator's decision holds
                outcome.unchanged += 1
            outcome.done.append(key)
        elif isinstance(record, PostRecord):
            new_posts[key] = record
        else:
            new_comments[key] = (record, origin)

    rows: list[tuple[str, int | None, int | None, str]] = []
    post_ids = {key: values[0] for key, values in known.items() if values[0] is not None}
    created = posts.import_posts(author=bot, contents=[r.content for r in new_posts.values()])
    for record, pk in zip(new_posts.values(), created, strict=True):
        rows.append((record.external_id, pk, None, checksum(record.content)))
        post_ids[record.external_id] = pk
        outcome.done.append(record.external_id)
    outcome.created += len(created)

    placeable = []
    for record, origin in new_comments.values():
        if record.parent_id in post_ids:
            placeable.append(record)
        else:
            outcome.failures.append(
                _Failure(
                    record.external_id, origin, f"Its post {record.parent_id} is not imported."
                )
            )
    comment_ids = comments.import_comments(
        bot, items=[(post_ids[r.parent_id], r.content) for r in placeable]
    )
    for record, pk in zip(placeable, comment_ids, strict=True):
        if pk is None:  # its post was deleted or hidden here: no comment, as for anyone
            outcome.unchanged += 1
            continue
        rows.append((record.external_id, None, pk, checksum(record.content)))
        outcome.created += 1
        outcome.done.append(record.external_id)

    with connection.cursor() as cursor:
        if rows:
            cursor.execute(
                f"INSERT INTO {table} (source_id, external_id, post_id, comment_id, checksum)"  # noqa: S608 (table names from the models)
                " SELECT %s, e, p, c, s FROM json_to_recordset(%s::json)"
                " AS t(e text, p bigint, c bigint, s text)",
                [
                    source.pk,
                    orjson.dumps([dict(zip("epcs", row, strict=True)) for row in rows]).decode(),
                ],
            )
        if changed:
            cursor.execute(
                f"UPDATE {table} AS i SET checksum = c.checksum"  # noqa: S608 (table names from the models)
                " FROM unnest(%s::text[], %s::text[]) AS c(external_id, checksum)"
                " WHERE i.source_id = %s AND i.external_id = c.external_id",
                [[k for k, _ in changed], [c for _, c in changed], source.pk],
            )


def _apply_change(bot: User, post_id: int | None, comment_id: int | None, content: str) -> bool:
    """The item's text changed at the source: through the edit services, so its renderings,
    hashtags and mentions follow. False if it is gone or hidden here."""
    if post_id is not None:
        post = Post.objects.visible().filter(pk=post_id).first()
        if post is None:
            return False
        posts.edit_post(post, editor=bot, content=content)
        return True
    return comments.import_comment_change(comment_id, author=bot, content=content)


# --- dead letters ---------------------------------------------------------------------------


_jitter = secrets.SystemRandom()  # spreads retries; not a secret, but no seeded generator


def _backoff(attempts: int) -> timedelta:
    seconds = settings.INGEST_DEAD_LETTER_BACKOFF_S * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, 86_400) * _jitter.uniform(1.0, 1.5))


def _record_failures(source: Source, run: IngestionRun | None, failures: list[_Failure]) -> None:
    """Open a dead letter per failure, or refresh the open one of the same item."""
    if not failures:
        return
    now = timezone.now()
    rows = {f.external_id: f for f in failures}.values()
    with connection.cursor() as cursor:
        cursor.executemany(
            _OPEN_LETTER,
            [
                (
                    source.pk,
                    run.pk if run else None,
                    f.external_id[:200],
                    _json(f.payload),
                    f.error[:4000],
                    now + _backoff(1),
                    now,
                )
                for f in rows
            ],
        )


_OPEN_LETTER = f"""
    INSERT INTO {DeadLetter._meta.db_table} (source_id, run_id, external_id, payload, error,
        attempts, next_attempt_at, created_at, resolved_at)
    VALUES (%s, %s, %s, %s, %s, 1, %s, %s, NULL)
    ON CONFLICT (source_id, external_id) WHERE resolved_at IS NULL
    DO UPDATE SET run_id = EXCLUDED.run_id, payload = EXCLUDED.payload, error = EXCLUDED.error
"""  # noqa: S608 (table names from the models)


def _json(value: object):
    from psycopg.types.json import Jsonb

    return Jsonb(value)


def _resolve(source: Source, external_ids: list[str]) -> int:
    return DeadLetter.objects.filter(
        source=source, resolved_at__isnull=True, external_id__in=external_ids
    ).update(resolved_at=timezone.now(), next_attempt_at=None)


def request_retry(letter: DeadLetter) -> DeadLetter:
    """The retry endpoint and admin action: retry this letter now (even a given-up one)."""
    if letter.resolved_at is not None:
        raise Conflict("This dead letter is already resolved.")
    DeadLetter.objects.filter(pk=letter.pk).update(next_attempt_at=timezone.now())
    transaction.on_commit(lambda: _dispatch_retry(letter.pk))
    letter.refresh_from_db()
    return letter


def _dispatch_retry(letter_id: int) -> None:
    from ingestion.tasks import retry_dead_letter

    try:
        retry_dead_letter.delay(letter_id)
    except Exception:  # broker down: beat's reprocess job picks it up (it is due now)
        logger.warning("dead letter %s retry not dispatched", letter_id, exc_info=True)


def retry_dead_letter(letter_id: int, *, fetcher: client.Fetcher | None = None) -> bool:
    """One more attempt at a dead letter: refetch what it names (or revalidate the stored
    item), write it; True if it is resolved now. A failure counts an attempt and backs off,
    and past INGEST_MAX_ATTEMPTS the letter is given up (no next attempt)."""
    letter = DeadLetter.objects.select_related("source", "source__bot").filter(pk=letter_id).first()
    if letter is None or letter.resolved_at is not None:
        return False
    source, payload = letter.source, letter.payload
    own = fetcher is None
    fetcher = fetcher or client.Fetcher()
    try:
        stream = KINDS[source.kind].stream(payload["stream"])
        error = _retry(letter, source, stream, payload, fetcher)
    except (client.FetchError, InvalidItem, KeyError) as exc:
        error = str(exc) if not isinstance(exc, KeyError) else f"Unknown stream {exc}."
    finally:
        if own:
            fetcher.close()
    if error is None:
        metrics.REPROCESSED.labels("resolved").inc()
        return True
    attempts = letter.attempts + 1
    given_up = attempts >= settings.INGEST_MAX_ATTEMPTS
    DeadLetter.objects.filter(pk=letter.pk, resolved_at__isnull=True).update(
        attempts=attempts,
        error=error[:4000],
        next_attempt_at=None if given_up else timezone.now() + _backoff(attempts),
    )
    metrics.REPROCESSED.labels("given_up" if given_up else "failed").inc()
    return False


def _retry(
    letter: DeadLetter, source: Source, stream: Stream, payload: dict, fetcher
) -> str | None:
    """Write what the letter names; None on success, else why not."""
    page_number = payload.get("page")
    is_page = letter.external_id.startswith("page:")
    if is_page:
        items = stream.items(fetcher.get_json(payload["url"]))
        if stream.detailed:
            items = [_fetch_detail(fetcher, stream, source, ref) for ref in items]
    elif payload.get("url"):
        items = [fetcher.get_json(payload["url"])]
    else:
        items = [payload.get("item")]
    pairs, failures = _records_of(stream, source, items, page_number or 0)
    outcome = _Outcome(fetched=len(items))
    with transaction.atomic():
        _lock_source(source)
        if pairs:
            _write_records(source, pairs, outcome)
        failed = [*failures, *outcome.failures]
        if failed and not is_page:  # the one item still fails: nothing of it is kept
            transaction.set_rollback(True)
            return failed[0].error
        # A page came back: its bad items get letters of their own, and the page's is done.
        _record_failures(source, None, failed)
        DeadLetter.objects.filter(pk=letter.pk).update(
            resolved_at=timezone.now(), next_attempt_at=None, attempts=F("attempts") + 1
        )
        if outcome.done:
            _resolve(source, outcome.done)
        transaction.on_commit(lambda: _count(source, outcome))
    return None


def reprocess_dead_letters(limit: int = 500, *, due_only: bool = True) -> dict[str, int]:
    """Beat and `manage.py reprocess_dead_letters`: retry the due letters (all open ones
    not given up, with `due_only=False`), oldest first, each leased while it is tried."""
    now = timezone.now()
    lease = now + timedelta(seconds=max(settings.INGEST_HTTP_TIMEOUT_S * 10, 300))
    with transaction.atomic():
        due = DeadLetter.objects.select_for_update(skip_locked=True).filter(
            resolved_at__isnull=True, next_attempt_at__isnull=False
        )
        if due_only:
            due = due.filter(next_attempt_at__lte=now)
        ids = list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
        # Leased: a concurrent reprocess (another beat tick) skips them meanwhile.
        DeadLetter.objects.filter(pk__in=ids).update(next_attempt_at=lease)
    counts = {"resolved": 0, "failed": 0}
    with client.Fetcher() as fetcher:
        for letter_id in ids:
            counts["resolved" if retry_dead_letter(letter_id, fetcher=fetcher) else "failed"] += 1
    return counts
