"""Django's PostgreSQL backend, with its per-request health check at most once a second.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` on a kept connection before the first
query of every request, so that a connection a database restart broke is replaced rather
than failing the request. That is one more round trip for every request that reads or
writes PostgreSQL (a post, a comment, a timeline page: ~5-10% of their cost here). A
connection that passed the check less than DB_HEALTH_CHECK_INTERVAL_S ago is trusted
instead: a restart within that second fails at most one request per process (a 503, see
puppies.errors), after which Django drops the connection and the next request reconnects.
0 checks on every request, as Django does.
"""

import time

from django.conf import settings
from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    _checked_at = float("-inf")

    def close_if_health_check_failed(self) -> None:
        if self.connection is not None and self.health_check_enabled and not self.health_check_done:
            now = time.monotonic()
            if now - self._checked_at < settings.DB_HEALTH_CHECK_INTERVAL_S:
                self.health_check_done = True
                return
            self._checked_at = now
        super().close_if_health_check_failed()
