"""What the Google backends share: error classification, credentials, gRPC channels.

Stages import this module, never each other.
"""

from __future__ import annotations

import os
import sys

import grpc
from google.api_core import exceptions as core_exceptions

from shared.errors import ErrorCategory
from shared.settings import GoogleSettings

TRANSIENT_HTTP = frozenset({408, 429, 500, 502, 503, 504})

# google-auth otherwise probes the cloud metadata server for seconds when no
# credentials are configured; we are never on GCE by accident.
os.environ.setdefault("NO_GCE_CHECK", "true")


class MissingCredentials(SystemExit):
    """Raised at start when a Google backend has nothing to authenticate with."""


def classify(exc: BaseException) -> ErrorCategory:
    """Transient (retry) or permanent (give up) for any Google client failure."""
    # google-genai's errors only where google-genai is loaded (the llm stage): importing
    # it here took 2-3 s, blocking the stt and tts workers' loop on their first failure.
    genai_errors = sys.modules.get("google.genai.errors")

    if isinstance(exc, TimeoutError | ConnectionError):
        return ErrorCategory.TRANSIENT
    if isinstance(exc, core_exceptions.GoogleAPICallError):
        if exc.code in TRANSIENT_HTTP or isinstance(
            exc, core_exceptions.ServiceUnavailable | core_exceptions.DeadlineExceeded
        ):
            return ErrorCategory.TRANSIENT
        return ErrorCategory.PERMANENT
    if isinstance(exc, core_exceptions.RetryError):
        return ErrorCategory.TRANSIENT
    if genai_errors is not None and isinstance(exc, genai_errors.APIError):
        return ErrorCategory.TRANSIENT if exc.code in TRANSIENT_HTTP else ErrorCategory.PERMANENT
    if isinstance(exc, grpc.aio.AioRpcError):
        transient = {
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.INTERNAL,
        }
        return ErrorCategory.TRANSIENT if exc.code() in transient else ErrorCategory.PERMANENT
    if isinstance(exc, OSError):
        return ErrorCategory.TRANSIENT
    name = type(exc).__module__
    if name.startswith(("aiohttp", "httpx", "httpcore")):
        return ErrorCategory.TRANSIENT  # connection-level failures of the HTTP clients
    return ErrorCategory.PERMANENT


def has_application_credentials() -> bool:
    """Whether google-auth finds credentials (without probing a metadata server)."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        google.auth.default()
    except DefaultCredentialsError:
        return False
    return True


def choose_backend(setting: str, settings: GoogleSettings) -> str:
    """ "google" or "local" for a Speech/TTS worker: `auto` takes Google where it can
    authenticate (or where a plaintext test endpoint needs no credentials)."""
    if setting != "auto":
        return setting
    usable = settings.google_plaintext_endpoints or has_application_credentials()
    return "google" if usable else "local"


def require_application_credentials(service: str) -> None:
    """Exit with one line saying what to set when no Google credentials are found."""
    if not has_application_credentials():
        raise MissingCredentials(
            f"{service}: no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a "
            "service-account JSON file (or GOOGLE_PLAINTEXT_ENDPOINTS=true for a local "
            "test server)"
        )


def plaintext_channel(endpoint: str) -> grpc.aio.Channel:
    """An unauthenticated gRPC channel for a local test server (create inside the loop)."""
    return grpc.aio.insecure_channel(endpoint)
