"""OpenTelemetry tracing of a turn across the services; off unless an OTLP endpoint is set.

With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set and
not empty, `setup` installs the SDK: spans go in batches to that collector over
OTLP/HTTP (protobuf). The gateway opens a "turn" span per question; each stage opens
one span per delivery ("stt", "llm", "tts") whose parent comes from the message's
W3C `traceparent` header, and every event it publishes carries its own span as the
parent of the next (`inject`, called by `shared.broker.Publisher`). So one turn is
one trace from the watch's question to its last sentence.

Off (the default), nothing is installed: no span is started, `inject` finds no
context to write and `annotate` no span to write to, so a turn pays a few context
look-ups. A message that does carry a `traceparent` (a gateway with tracing on in
front of a worker without) has it passed on unchanged, so the trace stays whole.

The headers `traceparent` and `tracestate` sit next to the contract's own headers;
`shared.contracts.decode` reads only the fields it knows and ignores the rest.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import AsyncIterator, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import context, trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from shared.logging import get_logger

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
"""Either turns tracing on (the exporter reads them itself); empty means off."""
TRACEPARENT = "traceparent"
T = TypeVar("T")
PREFIX = "uhrwerk."
"""Every attribute this project sets is named `uhrwerk.<name>`."""
SHUTDOWN_TIMEOUT_S = 3.0
"""How long a stopping service waits for its last spans to be sent."""

log = get_logger(__name__)

_propagator = TraceContextTextMapPropagator()
"""W3C Trace Context only: `traceparent` and `tracestate`, nothing else in the headers."""
_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None
"""None while tracing is off: then no span is ever started."""


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for tracing: an OTLP endpoint, and the SDK not
    disabled (`OTEL_SDK_DISABLED=true`). An empty endpoint (compose's `${VAR:-}`) is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def setup(service_name: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Install the SDK with a batching OTLP/HTTP exporter if `enabled`; whether it did.

    `OTEL_SERVICE_NAME` wins over `service_name`; the exporter and the batch
    processor read their own variables (`OTEL_EXPORTER_OTLP_*`, `OTEL_BSP_*`). The SDK
    is imported only here, so a service with tracing off never loads it.
    """
    if not enabled(environ):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = environ.get("OTEL_SERVICE_NAME", "").strip() or service_name
    # `shutdown` is called on the way out; the SDK's own at-exit one would be unbounded.
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: name}), shutdown_on_exit=False
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    install(provider)
    endpoint = next(environ[v] for v in ENDPOINT_VARIABLES if environ.get(v, "").strip())
    log.info("tracing on", endpoint=endpoint, service_name=name)
    return True


def install(provider: TracerProvider | None) -> None:
    """Trace with `provider` from now on (None: off again). `setup` calls it; tests
    call it with a provider of their own, since the global one can be set only once."""
    global _provider, _tracer
    _provider = provider
    _tracer = None if provider is None else provider.get_tracer("uhrwerk")


def shutdown(timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
    """Send the spans still batched and stop the exporter (a stopping service), for at
    most `timeout_s`: with the collector unreachable the exporter's retries would hold
    the exit for its whole timeout (7.7 s measured), past compose's grace period."""
    provider = _provider
    install(None)
    if provider is None:
        return
    stopping = threading.Thread(target=provider.shutdown, name="tracing-shutdown", daemon=True)
    stopping.start()
    stopping.join(timeout_s)
    if stopping.is_alive():
        log.warning("spans not exported before exit", timeout_s=timeout_s)


def inject(headers: MutableMapping[str, Any]) -> None:
    """Write the current span's context into an outgoing message's headers; nothing
    when there is no span (tracing off and nothing passed on)."""
    _propagator.inject(headers)


def session_hash(session_id: str) -> str:
    """A session's id stands for its memory: spans carry a short hash of it instead."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:16]


def consumed(
    stage: str, headers: Mapping[str, Any] | None, turn_id: str | None = None
) -> AbstractContextManager[Span]:
    """The span of one delivery to `stage` (kind CONSUMER), current inside the block,
    its parent taken from the message's `traceparent`. Off: no span, but an incoming
    context stays current, so what the stage publishes passes it on."""
    headers = headers or {}
    if _tracer is None and TRACEPARENT not in headers:
        return _NOTHING  # off, and nothing to pass on: the common case costs nothing
    return _consumed(stage, headers, turn_id)


_NOTHING = nullcontext(INVALID_SPAN)
"""A reusable, stateless stand-in for a span's block while tracing is off."""


@contextmanager
def _consumed(stage: str, headers: Mapping[str, Any], turn_id: str | None) -> Iterator[Span]:
    carrier = _text_headers(headers) if TRACEPARENT in headers else None
    parent = None if carrier is None else _propagator.extract(carrier)
    if _tracer is None:
        if parent is None:
            yield INVALID_SPAN
            return
        token = context.attach(parent)
        try:
            yield INVALID_SPAN
        finally:
            context.detach(token)
        return
    attributes: dict[str, AttributeValue] = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.rabbitmq.destination.routing_key": stage,
    }
    if turn_id:
        attributes[PREFIX + "turn_id"] = turn_id
    session = headers.get("session_id")
    if isinstance(session, bytes):
        session = session.decode("utf-8", "replace")
    if isinstance(session, str):
        attributes[PREFIX + "session"] = session_hash(session)
    with _tracer.start_as_current_span(
        stage, context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span


def start_turn(turn_id: str, session_id: str, protocol: int, kind: str) -> Span:
    """The gateway's root span of a turn (kind SERVER), not yet current: `current`
    makes it so around the publish; `end_turn` ends it. Off: the invalid span."""
    if _tracer is None:
        return INVALID_SPAN
    return _tracer.start_span(
        "turn",
        kind=SpanKind.SERVER,
        attributes={
            PREFIX + "turn_id": turn_id,
            PREFIX + "session": session_hash(session_id),
            PREFIX + "protocol": protocol,
            PREFIX + "kind": kind,
        },
    )


def current(span: Span) -> AbstractContextManager[Span]:
    """`with current(span):` makes `span` the current one without ending it after."""
    if not span.is_recording():
        return _NOTHING
    return trace.use_span(span, end_on_exit=False)


def end_turn(span: Span, outcome: str, error_code: str = "", **attributes: AttributeValue) -> None:
    """End a turn's span with how it ended (and any last `uhrwerk.<name>` attributes);
    an error status unless it was delivered, cancelled (a barge-in), handed over (a
    draining gateway let go of it; its answer can be resumed elsewhere) or abandoned
    (the watch went away)."""
    if not span.is_recording():
        return
    span.set_attributes({PREFIX + name: value for name, value in attributes.items()})
    span.set_attribute(PREFIX + "outcome", outcome)
    if error_code:
        span.set_attribute(PREFIX + "error_code", error_code)
    if outcome not in ("delivered", "cancelled", "handed_over", "abandoned"):
        span.set_status(Status(StatusCode.ERROR, error_code or outcome))
    span.end()


def annotate(**attributes: AttributeValue) -> None:
    """Set `uhrwerk.<name>` attributes on the current span (a stage's, inside its
    handler); nothing when there is none."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({PREFIX + name: value for name, value in attributes.items()})


def failed(error_code: str, detail: str = "", outcome: str = "failed") -> None:
    """Mark the current span as failed with the pipeline's error code."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({PREFIX + "outcome": outcome, PREFIX + "error_code": error_code})
        span.set_status(
            Status(StatusCode.ERROR, f"{error_code}: {detail}" if detail else error_code)
        )


def counted(stream: AsyncIterator[T], name: str) -> AsyncIterator[T]:
    """`stream` unchanged; once it ends (or is closed), how many pieces it gave is set
    as `uhrwerk.<name>` on the current span (e.g. the model's output tokens: llama.cpp
    streams one token per piece). Without a span, `stream` itself."""
    span = trace.get_current_span()
    if not span.is_recording():
        return stream
    return _counting(stream, span, name)


async def _counting(stream: AsyncIterator[T], span: Span, name: str) -> AsyncIterator[T]:
    count = 0
    try:
        async for piece in stream:
            count += 1
            yield piece
    finally:
        span.set_attribute(PREFIX + name, count)
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _text_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    """The propagation headers as text: AMQP may hand strings over as bytes."""
    carrier = {}
    for name in (TRACEPARENT, "tracestate"):
        value = headers.get(name)
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        if isinstance(value, str):
            carrier[name] = value
    return carrier
