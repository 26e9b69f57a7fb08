"""The outbox relay: hands each feed event to the broker as its transaction commits.

A post's transaction writes its OutboxEvent and NOTIFYs `feed_outbox` (feed.sql.EMIT);
PostgreSQL delivers the notification at commit, and only then. This listener, a thread
of every Celery worker, turns it into a `fan_out_post` task, so the web request never
talks to the broker. One listener per database is active: it holds an advisory lock,
and the other workers' listeners wait as standbys and take over when it dies.

Notifications are not durable. A listener that starts (or takes over) first dispatches
every event still unprocessed, and the `relay_outbox` beat job re-dispatches what stays
unprocessed (a broker outage, a lost notification), so the relay makes fan-out prompt
and the outbox makes it certain.
"""

import logging
import threading

import psycopg
from django.db import connection

from feed import services
from feed.sql import OUTBOX_CHANNEL
from puppies import tracing

logger = logging.getLogger(__name__)

_LOCK = 0x0F_EED_0B0  # the advisory lock whose holder is the active listener
_STANDBY_S = 2.0  # how often a standby (or a listener that lost its connection) retries
_WAIT_S = 1.0  # how long a listen waits before it looks at `stop` (and retries) again
_REFUSED_KEPT = 10_000


def run(stop: threading.Event) -> None:
    """Relay until `stop` is set (a worker's thread; see puppies.celery)."""
    while not stop.is_set():
        try:
            _listen(stop)
        except Exception:  # PostgreSQL or the broker went away: retry, standby-paced
            logger.warning("outbox relay interrupted; retrying", exc_info=True)
        finally:
            connection.close()  # the ORM connection of this thread (the catch-up's)
        stop.wait(_STANDBY_S)


def _listen(stop: threading.Event) -> None:
    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        connect_timeout=db["OPTIONS"].get("connect_timeout", 5),
        autocommit=True,
    ) as conn:
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK]).fetchone()[0]:
            return  # another worker relays; stand by
        conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
        caught_up = services.relay_outbox(due_after_s=0)  # committed while nobody listened
        logger.info("outbox relay listening (%s events caught up)", caught_up)
        refused: list[int] = []  # events the broker did not take: tried again each wait
        while not stop.is_set():
            for note in conn.notifies(timeout=_WAIT_S):
                event_id, _, parent = note.payload.partition(" ")
                with tracing.continued(parent):  # the writer's trace, when tracing is on
                    if not services.dispatch(int(event_id)):
                        refused.append(int(event_id))
            refused = _retry(refused)


def _retry(refused: list[int]) -> list[int]:
    """Dispatch the refused events again, oldest first, while the broker takes them; what
    is left waits for the next try (past _REFUSED_KEPT, for the beat job's re-dispatch).

    Without this a broker blip (or a slow connect on a loaded machine) delayed a fan-out
    until `relay_outbox` found it OUTBOX_REDISPATCH_AFTER_S later; now it is seconds."""
    for n, event_id in enumerate(refused):
        if not services.dispatch(event_id):
            return refused[n : n + _REFUSED_KEPT]
    return []
