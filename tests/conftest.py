"""Shared fixtures: the fake Google servers and a unique broker prefix per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import tracing
from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import FakeGoogleGrpc

os.environ.setdefault("NO_GCE_CHECK", "true")


@pytest.fixture
def fake_grpc() -> Iterator[FakeGoogleGrpc]:
    server = FakeGoogleGrpc().start_in_background()
    yield server
    server.stop_background()


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    server = FakeGemini().start_in_background()
    yield server
    server.stop_background()


@pytest.fixture
def prefix() -> str:
    """A topology prefix no other test uses, so queues never collide."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Tracing on in this process (`shared.tracing`), spans kept in memory as each ends."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.install(provider)
    yield spans
    tracing.install(None)
    provider.shutdown()
