"""OpenTelemetry: off by default at no cost; on, a post's trace runs from the request
through the outbox relay into the fan-out task, and log lines carry its ids."""

import json
import logging
import subprocess
import sys
import threading

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connections
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pythonjsonlogger.json import JsonFormatter

from feed import relay
from feed.models import FeedEntry
from feed.tests.factories import make_followers
from puppies import tracing
from puppies.celery import app
from puppies.tests.support import ROOT, wait_for
from users.tests.factories import UserFactory

# What a fresh web process has of OpenTelemetry: instrumentation and exporter modules,
# Django's tracing middleware, a wrapped psycopg.connect, an SDK tracer provider. (redis-py
# imports opentelemetry.sdk.metrics by itself when it is installed, and stays inert.)
PROBE = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "puppies.settings")
import puppies.wsgi
import puppies.celery
import psycopg
from django.conf import settings
print(sorted({m.split(".")[1] for m in sys.modules
              if m.startswith(("opentelemetry.instrumentation", "opentelemetry.exporter"))}))
print(any("opentelemetry" in m for m in settings.MIDDLEWARE))
print(hasattr(psycopg.connect, "__wrapped__"))
trace = sys.modules.get("opentelemetry.trace")
provider = type(trace.get_tracer_provider()).__name__ if trace else None
print(provider if provider == "TracerProvider" else None)
"""


def probe(**env: str) -> list[str]:
    """What a fresh web process imports and installs, with this environment."""
    base = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**base, "DEBUG": "true", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.splitlines()


def test_tracing_is_off_by_default_and_then_imports_nothing():
    nothing = ["[]", "False", "False", "None"]
    assert probe() == nothing
    disabled = probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:1", OTEL_SDK_DISABLED="true")
    assert disabled == nothing


def test_the_standard_otel_variables_turn_it_on():
    modules, middleware, psycopg_wrapped, provider = probe(
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:1"
    )
    assert modules == "['exporter', 'instrumentation']"
    assert (middleware, psycopg_wrapped, provider) == ("True", "True", "TracerProvider")


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    tracing.setup("puppies-test", exporter=exporter)
    connections.close_all()  # new connections are the instrumented ones
    yield exporter
    tracing.teardown()
    connections.close_all()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_one_post_create_is_one_trace_from_the_request_to_the_fan_out_task(spans, client_for):
    author = UserFactory()
    fans = make_followers(author, 3)
    stop = threading.Event()
    relay_thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    with start_worker(
        app, pool="solo", queues=["fanout"], perform_ping_check=False, shutdown_timeout=10
    ):
        relay_thread.start()
        try:
            wait_for(lambda: relay_is_listening())
            response = client_for(author).post("/v1/posts", {"content": "woof"}, format="json")
            assert response.status_code == 201
            post_id = response.json()["id"]
            wait_for(lambda: FeedEntry.objects.filter(post_id=post_id).count() == len(fans))
            wait_for(
                lambda: any(
                    s.name == "run/feed.tasks.fan_out_post" for s in spans.get_finished_spans()
                )
            )
        finally:
            stop.set()
            relay_thread.join(timeout=10)

    finished = spans.get_finished_spans()
    (request,) = [s for s in finished if s.name == "POST v1/posts"]
    (task,) = [s for s in finished if s.name == "run/feed.tasks.fan_out_post"]
    assert task.context.trace_id == request.context.trace_id
    by_id = {s.context.span_id: s for s in finished}
    ancestors, span = [], task
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        ancestors.append(span.name)
    assert span is request, ancestors  # the task descends from the request
    assert "apply_async/feed.tasks.fan_out_post" in ancestors  # queued by the relay
    in_trace = [s for s in finished if s.context.trace_id == request.context.trace_id]
    # PostgreSQL statements of the request and of the fan-out are in it too.
    assert {
        s.parent.span_id for s in in_trace if s.attributes.get("db.system") == "postgresql"
    } >= {
        request.context.span_id,
        task.context.span_id,
    }


def relay_is_listening() -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
        return cursor.fetchone()[0] > 0


def log_line(logger_name: str) -> dict:
    formatter = settings.LOGGING["formatters"]["json"]
    handler = logging.StreamHandler(stream := __import__("io").StringIO())
    handler.setFormatter(JsonFormatter(formatter["fmt"], rename_fields=formatter["rename_fields"]))
    handler.addFilter(tracing.TraceLogFilter())
    record = logging.getLogger(logger_name).makeRecord(
        logger_name, logging.INFO, __file__, 1, "hello", (), None
    )
    record.request_id = None
    handler.handle(record)
    return json.loads(stream.getvalue())


def test_log_lines_carry_the_trace_and_span_ids(spans):
    from opentelemetry import trace

    with trace.get_tracer("test").start_as_current_span("work") as span:
        line = log_line("puppies.test")
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")


def test_log_lines_have_null_trace_ids_when_tracing_is_off():
    line = log_line("puppies.test")
    assert line["trace_id"] is None
    assert line["span_id"] is None
