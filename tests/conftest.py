"""Shared fixtures: the fake Google servers and a unique broker prefix per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

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
