"""OpenTelemetry tracing: off unless the standard OTEL_* variables turn it on.

On when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, or
`OTEL_TRACES_EXPORTER=otlp`; `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` keep
it off. Everything else (service name, sampler, headers, protocol details) is read by the
SDK from its own variables. Off, nothing of OpenTelemetry is imported and nothing is
instrumented: the request path runs exactly as without this module.

`setup()` runs once per process: gunicorn workers (puppies/wsgi.py), the Celery worker's
main process before it forks its pool (the SDK's batch processor restarts its thread in
each child) and beat (puppies/celery.py). It instruments Django, psycopg, Redis and
Celery; Celery carries the context in task headers, so a task queued by a request
continues the request's trace. A post's fan-out is queued by the outbox relay in a
worker, not by the request: the request's context travels in the outbox notification
(`traceparent`, see feed.services._emit and feed.relay), and the relay queues the task in
it. An event re-dispatched later by beat starts a trace of its own.
"""

import logging
import os
from contextlib import nullcontext

_trace = None  # the opentelemetry.trace module, once tracing is on
_instrumentors: list = []


def wanted() -> bool:
    """The OTEL_* environment asks for traces."""
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def setup(service: str = "puppies", exporter=None) -> bool:
    """Turn tracing on in this process if the environment asks (or an exporter is given,
    as tests do); True when it is on."""
    global _trace
    if _trace is not None:
        return True
    if exporter is None and not wanted():
        return False
    from opentelemetry import trace
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    if not isinstance(trace.get_tracer_provider(), TracerProvider):  # once per process
        # OTEL_SERVICE_NAME, when set, wins over this default (Resource.create merges it).
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
        provider = TracerProvider(resource=resource)
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
    for instrumentor, options in (
        (DjangoInstrumentor(), {}),
        (PsycopgInstrumentor(), {"skip_dep_check": True}),
        (RedisInstrumentor(), {}),
        (CeleryInstrumentor(), {}),
    ):
        instrumentor.instrument(**options)
        _instrumentors.append(instrumentor)
    _trace = trace
    return True


def teardown() -> None:
    """Undo the instrumentation (tests); the tracer provider stays."""
    global _trace
    for instrumentor in _instrumentors:
        instrumentor.uninstrument()
    _instrumentors.clear()
    _trace = None


def traceparent() -> str | None:
    """The current span as a W3C `traceparent` value, or None (tracing off, no span)."""
    if _trace is None:
        return None
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")


def continued(parent: str | None):
    """A context manager that makes `parent` (a `traceparent`) the current context."""
    if _trace is None or not parent:
        return nullcontext()
    from opentelemetry import context
    from opentelemetry.propagate import extract

    return _Attached(context, extract({"traceparent": parent}))


class _Attached:
    def __init__(self, context_api, ctx):
        self.context_api, self.ctx = context_api, ctx

    def __enter__(self):
        self.token = self.context_api.attach(self.ctx)

    def __exit__(self, *exc):
        self.context_api.detach(self.token)


class TraceLogFilter(logging.Filter):
    """Puts `trace_id` and `span_id` of the current span on every log record (None when
    tracing is off or no span is current)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = record.span_id = None
        if _trace is not None:
            span = _trace.get_current_span().get_span_context()
            if span.is_valid:
                record.trace_id = format(span.trace_id, "032x")
                record.span_id = format(span.span_id, "016x")
        return True
