"""Failure vocabulary: what went wrong (code), whether retrying can help (category).

Every error the watch sees carries one of these codes beside a human sentence, so a
client can react to the code and show the sentence. Human texts are German like the
original watch protocol; the first three are the seed server's own words.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCategory(StrEnum):
    """Decides whether a failed backend call is tried again (`shared.retry`). Either
    way, a turn that ends in an error is dead-lettered with its reason, except
    `no_speech`, which is an answer, not a fault."""

    TRANSIENT = "transient"
    """May succeed if tried again: rate limits, 5xx, timeouts, refused connections."""
    PERMANENT = "permanent"
    """Will fail again the same way: bad input, bad credentials, unknown model."""


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    UNKNOWN_TYPE = "unknown_type"
    MISSING_AUDIO = "missing_audio"
    INVALID_FIELD = "invalid_field"
    INVALID_BASE64 = "invalid_base64"
    UNSUPPORTED_AUDIO = "unsupported_audio"
    AUDIO_TOO_LONG = "audio_too_long"
    EMPTY_TEXT = "empty_text"
    TEXT_TOO_LONG = "text_too_long"
    TOO_LARGE = "too_large"
    BINARY_FRAME = "binary_frame"
    BUSY = "busy"
    INVALID_SESSION = "invalid_session"
    MEMORY_UNAVAILABLE = "memory_unavailable"
    NO_SPEECH = "no_speech"
    TIMEOUT = "timeout"
    BACKEND_UNAVAILABLE = "backend_unavailable"
    BACKEND_REJECTED = "backend_rejected"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"
    SHUTTING_DOWN = "shutting_down"
    UNKNOWN_TURN = "unknown_turn"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN_ORIGIN = "forbidden_origin"
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    TOO_MANY_CONNECTIONS = "too_many_connections"


MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.INVALID_JSON: "Ungültiges JSON-Format.",
    ErrorCode.UNKNOWN_TYPE: "Unbekannter Nachrichtentyp.",
    ErrorCode.MISSING_AUDIO: "Keine Audio-Daten empfangen.",
    ErrorCode.INVALID_FIELD: "Ein Feld der Nachricht hat einen ungültigen Wert.",
    ErrorCode.INVALID_BASE64: "Die Audio-Daten sind kein gültiges Base64.",
    ErrorCode.UNSUPPORTED_AUDIO: "Audio muss WebM mit Opus sein (audio/webm; codecs=opus).",
    ErrorCode.AUDIO_TOO_LONG: "Die Aufnahme ist zu lang.",
    ErrorCode.EMPTY_TEXT: "Die Nachricht enthält keinen Text.",
    ErrorCode.TEXT_TOO_LONG: "Der Text ist zu lang.",
    ErrorCode.TOO_LARGE: "Die Nachricht ist zu groß.",
    ErrorCode.BINARY_FRAME: "Nur JSON-Textnachrichten werden angenommen.",
    ErrorCode.BUSY: "Zu viele gleichzeitige Anfragen; bitte warte auf die Antwort.",
    ErrorCode.INVALID_SESSION: (
        "Ungültige Sitzungskennung (16 bis 128 Zeichen aus A-Z, a-z, 0-9, '-' und '_')."
    ),
    ErrorCode.MEMORY_UNAVAILABLE: "Das Gedächtnis ist gerade nicht erreichbar.",
    ErrorCode.NO_SPEECH: "Ich habe nichts verstanden. Bitte noch einmal sprechen.",
    ErrorCode.TIMEOUT: "Die Antwort hat zu lange gedauert. Bitte versuche es noch einmal.",
    ErrorCode.BACKEND_UNAVAILABLE: "Der Sprachdienst ist gerade nicht erreichbar.",
    ErrorCode.BACKEND_REJECTED: "Der Sprachdienst hat die Anfrage abgelehnt.",
    ErrorCode.UNAVAILABLE: "Uhrwerk ist gerade nicht erreichbar.",
    ErrorCode.INTERNAL: "Interner Fehler bei der Verarbeitung.",
    ErrorCode.SHUTTING_DOWN: (
        "Uhrwerk wird gerade neu gestartet. Bitte gleich noch einmal versuchen."
    ),
    ErrorCode.UNKNOWN_TURN: "Zu dieser Anfrage liegt keine Antwort (mehr) vor.",
    ErrorCode.UNAUTHORIZED: (
        "Diese Uhr ist nicht gekoppelt: Bitte öffne den Kopplungslink mit ihrem Token."
    ),
    ErrorCode.FORBIDDEN_ORIGIN: "Diese Seite darf sich nicht mit Uhrwerk verbinden.",
    ErrorCode.RATE_LIMITED: "Zu viele Fragen in kurzer Zeit.",
    ErrorCode.OVERLOADED: (
        "Uhrwerk ist gerade überlastet. Bitte versuche es in ein paar Sekunden noch einmal."
    ),
    ErrorCode.TOO_MANY_CONNECTIONS: (
        "Zu viele offene Verbindungen. Bitte schließe andere Fenster mit Uhrwerk."
    ),
}


class PipelineError(Exception):
    """A failure that ends a turn with an error reply to the watch.

    `detail` is for logs and the dead-letter reason only: it never reaches the watch,
    which sees `MESSAGES[code]` (or `message` where a stage has a better sentence).
    """

    def __init__(
        self,
        code: ErrorCode,
        category: ErrorCategory = ErrorCategory.PERMANENT,
        detail: str = "",
        message: str | None = None,
    ) -> None:
        super().__init__(detail or code.value)
        self.code = code
        self.category = category
        self.detail = detail
        self.message = message or MESSAGES[code]


class ContractError(PipelineError):
    """A broker message that does not match its contract: never retried."""

    def __init__(self, detail: str) -> None:
        super().__init__(ErrorCode.INTERNAL, ErrorCategory.PERMANENT, detail)
