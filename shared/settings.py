"""Configuration from the environment (and an optional `.env` file), one class per service.

Every field maps to an upper-case environment variable of the same name, e.g.
`turn_timeout_s` is read from `TURN_TIMEOUT_S`. The README has the full table.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """What every service needs: where the broker and Redis are, and how to log."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    """RabbitMQ connection URL."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis connection URL (history, de-duplication)."""
    topology_prefix: str = "uhrwerk"
    """Prefix of every exchange and queue name; tests use a unique one each."""
    prefetch: int = Field(16, ge=1, le=1000)
    """How many unacknowledged messages a consumer holds at once."""
    turn_timeout_s: float = Field(30.0, gt=0, le=600)
    """A turn's deadline, counted from the moment the gateway accepts it."""
    breaker_failures: int = Field(5, ge=0, le=1000)
    """Transient failures in a row (attempts, not turns) that open a remote backend's
    circuit, so later turns fail at once (`shared/breaker.py`); 0 never opens it."""
    breaker_cooldown_s: float = Field(10.0, gt=0, le=3600)
    """How long an open circuit fails calls at once before one probe call is let through."""
    history_max_turns: int = Field(20, ge=0, le=1000)
    """Question-and-answer pairs remembered per session (oldest out first)."""
    history_max_chars: int = Field(8000, ge=0)
    """Characters remembered per session, questions and answers together."""
    history_ttl_s: int = Field(24 * 3600, ge=60)
    """A session's memory expires after this long without use."""
    result_ttl_s: int = Field(300, ge=0, le=86400)
    """A turn's answer is kept in Redis this long after its last chunk, for a watch that
    reconnects to another gateway and resumes it; 0 keeps nothing (no resume)."""
    stt_languages: str = "de,en"
    """Languages this deployment speaks, comma-separated: with STT_LANGUAGE=auto the
    stt stage detects only among these (Google gets them as alternative language
    codes), and the tts stage readies a voice for each at start."""
    model_dir: str = ""
    """Where packaged offline models are assembled (default ~/.cache/uhrwerk/models)."""
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    """`auto`: coloured console lines on a terminal, JSON lines otherwise."""
    metrics_host: str = "0.0.0.0"
    """Address a worker serves /metrics, /healthz and /readyz on."""
    metrics_port: int = Field(0, ge=0, le=65535)
    """Port of a worker's /metrics, /healthz and /readyz (defaults: stt 9101, llm 9102,
    tts 9103); 0: none. The gateway serves them on GATEWAY_PORT."""


class GoogleSettings(BaseSettings):
    """Shared knobs of the Google gRPC backends (Speech, Text-to-Speech)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    google_plaintext_endpoints: bool = False
    """Talk plaintext gRPC without credentials: only for local test servers."""
    google_attempts: int = Field(3, ge=1, le=10)
    """Tries per call for transient failures (429, 5xx, UNAVAILABLE, timeouts)."""
    google_call_timeout_s: float = Field(10.0, gt=0, le=120)
    """Upper bound of one attempt; the turn's deadline bounds all attempts together."""


class GatewaySettings(CommonSettings):
    """The WebSocket gateway."""

    gateway_id: str = ""
    """Names this instance's reply queue; random per start when empty."""
    gateway_host: str = "0.0.0.0"
    gateway_port: int = Field(8080, ge=1, le=65535)
    gateway_tls_cert: str = ""
    """PEM certificate (chain) to serve HTTPS and WSS: a watch's browser gives the page
    the microphone only in a secure context. `make cert` makes a self-signed one."""
    gateway_tls_key: str = ""
    """The certificate's PEM private key."""
    max_message_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    """Largest WebSocket frame answered with an error; 4x this closes the connection."""
    max_audio_seconds: float = Field(60.0, gt=0)
    """Longest accepted recording (Google's synchronous Recognize takes up to 60 s)."""
    max_text_chars: int = Field(2000, ge=1)
    """Longest accepted text question."""
    max_pending_turns: int = Field(4, ge=1)
    """Turns one connection may have in flight at once."""
    max_audio_bytes: int = Field(4 * 1024 * 1024, ge=1024, le=10 * 1024 * 1024)
    """Largest accepted recording, whole or streamed (Google's synchronous Recognize
    takes up to 10 MB; a minute of MediaRecorder's Opus is well under 1 MB)."""
    max_connections: int = Field(10000, ge=1)
    """Open WebSockets per gateway; more are refused (`too_many_connections`)."""
    max_connections_per_identity: int = Field(10, ge=0)
    """Open WebSockets per identity (a paired watch); 0: no limit."""
    max_connections_per_address: int = Field(100, ge=0)
    """Open WebSockets per client address; 0: no limit (behind a reverse proxy every
    connection comes from the proxy's address)."""
    questions_per_minute: float = Field(20.0, ge=0)
    """Questions per identity and minute, as a token bucket; 0: no limit."""
    question_burst: int = Field(10, ge=1)
    """Questions an identity may ask in quick succession before the rate applies."""
    idle_timeout_s: float = Field(300.0, ge=0)
    """A connection that sent no frame and had no answer for this long is closed with
    code 4408; 0: never."""
    overload_queue_depth: int = Field(20, ge=0)
    """Ready messages in a work queue at which new turns get `overloaded` at once
    instead of waiting into their timeout; 0: never."""
    overload_check_s: float = Field(0.5, gt=0, le=60)
    """How often the gateway reads the work queues' depths."""
    reply_queue_expires_s: int = Field(300, ge=10)
    """An abandoned gateway reply queue is deleted by the broker after this long."""
    gateway_drain_s: float = Field(8.0, ge=0, le=600)
    """On SIGTERM the gateway takes no new turns and waits this long for those in flight
    (a typical turn takes 2-5 s; Docker's default stop grace is 10 s), then fails the
    rest with `shutting_down` and closes every socket with 1001."""
    auth_mode: Literal["token", "off"] = "token"
    """`token`: only watches presenting a paired token get in (`uhrwerk token create`);
    `off`: everyone is `anonymous`, for a gateway reachable only from this machine."""
    auth_token: SecretStr = SecretStr("")
    """One static token besides the stored ones (compose files, tests); empty: none."""
    auth_token_name: str = Field("default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    """The identity a watch presenting AUTH_TOKEN has."""
    auth_hello_timeout_s: float = Field(5.0, gt=0, le=60)
    """A socket opened without `?token=` must send a `hello` with its token this soon."""
    allowed_origins: str = ""
    """Browser origins allowed to open /ws, comma-separated (`https://watch.example`);
    empty: only the gateway's own (the page it serves). No Origin header: allowed."""

    @field_validator("auth_token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if 0 < len(value.get_secret_value()) < 16:
            raise ValueError("AUTH_TOKEN must be at least 16 characters (or empty)")
        return value


class SttSettings(CommonSettings, GoogleSettings):
    """The speech-to-text worker."""

    stt_backend: Literal["auto", "google", "local", "null"] = "auto"
    """`auto`: Google where credentials are configured, the local Whisper otherwise;
    `null`: a fixed transcript without work (only for `bench.pipeline`)."""
    stt_language: str = "de-DE"
    """BCP-47 language of the speech, or `auto`: detect it per turn among STT_LANGUAGES.
    A turn whose session named a language (`hello`) is heard in that one."""
    stt_google_endpoint: str = "speech.googleapis.com:443"
    """host:port of the Speech API."""
    stt_local_model: str = ""
    """A CTranslate2 Whisper model folder; empty: Whisper base from its PyPI packages."""
    stt_detect_margin: float = Field(10.0, ge=1.0, le=1000.0)
    """With STT_LANGUAGE=auto, the local recogniser takes another language than the
    first of STT_LANGUAGES only when Whisper finds it this many times likelier: its
    detection hears short German questions as English (measured: bench.language_detection)."""
    stt_beam_size: int = Field(1, ge=1, le=10)
    """Beam search width of the local recogniser (1 is greedy and fastest)."""
    stt_window_s: int = Field(12, ge=1, le=30)
    """Seconds of audio the local recogniser's encoder sees at once for a clip that fits
    in them (longer clips get Whisper's own 30 s, which 30 here means for every clip);
    its cost grows with the window: 12 s recognises a 3 s question in a quarter of the
    time, as accurately (bench.whisper_window)."""
    stt_threads: int = Field(2, ge=1, le=64)
    metrics_port: int = Field(9101, ge=0, le=65535)


class LlmSettings(CommonSettings):
    """The language-model worker."""

    llm_backend: Literal["auto", "google", "local", "openai", "null"] = "auto"
    """`auto`: Gemini where an API key is configured, the local model otherwise;
    `openai`: any OpenAI-compatible chat-completions server (Ollama, llama.cpp, vLLM);
    `null`: one fixed sentence without work (only for `bench.pipeline`)."""
    assistant_timezone: str = "Europe/Berlin"
    """IANA time zone for turns whose watch named none."""
    assistant_language: str = "de-DE"
    """Language of a typed question that reads as neither German nor English."""
    max_answer_sentences: int = Field(12, ge=1, le=200)
    """A streamed answer stops after this many sentences (a watch is no audiobook)."""
    max_answer_chars: int = Field(1500, ge=50)
    """… or after this many characters, whichever comes first."""
    local_intents: bool = True
    """Answer time, date and weekday questions from the clock, without a model."""
    gemini_search: bool = True
    """Ground Gemini's answers with Google Search (weather, news, opening hours)."""
    openai_base_url: str = "http://127.0.0.1:11434/v1"
    """Base URL of the OpenAI-compatible server (default: Ollama on this machine)."""
    openai_api_key: str = "none"
    """Its API key; local servers accept any."""
    openai_model: str = ""
    """Model name the server knows; empty: the first it lists."""
    openai_attempts: int = Field(3, ge=1, le=10)
    openai_call_timeout_s: float = Field(30.0, gt=0, le=300)
    gemini_model: str = "gemini-flash-latest"
    """Gemini model name; pin a versioned one (e.g. gemini-3.5-flash-lite) in production."""
    gemini_api_key: str = ""
    """API key for Gemini (also read from GOOGLE_API_KEY)."""
    google_api_key: str = ""
    gemini_attempts: int = Field(3, ge=1, le=10)
    gemini_call_timeout_s: float = Field(20.0, gt=0, le=300)
    max_output_tokens: int = Field(512, ge=16)
    llm_local_model: str = ""
    """A packaged model's short name (`qwen2.5-coder-1.5b`, `qwen2.5-coder-0.5b`) or a
    chat GGUF file; empty: `qwen2.5-coder-1.5b`, chosen by `bench.answer_quality`."""
    llm_local_max_tokens: int = Field(160, ge=16)
    """Answer length cap of the local model (about 22 tokens/s on 2 cores)."""
    llm_local_context: int = Field(4096, ge=512)
    llm_threads: int = Field(2, ge=1, le=64)
    llm_local_history_turns: int = Field(8, ge=0, le=1000)
    """The most exchanges the local model is shown. Its window of the history moves
    on in jumps (to half of this) rather than by one exchange a turn, so the evaluated
    history stays reusable from one turn to the next (see llm_worker.llama)."""
    llm_prewarm_s: float = Field(600.0, ge=0)
    """For this long after a turn, the local model keeps the session's next prompt
    (history and clock, all but the question) evaluated while it is idle, re-evaluating
    the clock when the minute changes: a follow-up question then costs only its own
    words (first token 1.9-2.5 s → 0.5-0.7 s measured). 0 turns it off."""
    metrics_port: int = Field(9102, ge=0, le=65535)
    system_instruction: str = (
        "Du bist Uhrwerk, ein Sprachassistent auf einer Smartwatch. Antworte kurz, "
        "in ein bis drei Sätzen, in der Sprache der Frage, als gesprochener Text: "
        "ohne Markdown, Listen, Emojis oder Links."
    )

    offline_instruction: str = (
        "Du hast keinen Internetzugang: Nach Wetter, Nachrichten oder anderem Aktuellen "
        "gefragt, sag ehrlich, dass du das nicht wissen kannst, statt etwas zu erfinden."
    )
    """Added for backends without live data (local model, own model server)."""

    @property
    def api_key(self) -> str:
        return self.gemini_api_key or self.google_api_key


class TtsSettings(CommonSettings, GoogleSettings):
    """The text-to-speech worker."""

    tts_backend: Literal["auto", "google", "local", "null"] = "auto"
    """`auto`: Google where credentials are configured, the local engines otherwise;
    `null`: a tiny silent MP3 without work (only for `bench.pipeline`)."""
    tts_local_engine: Literal["auto", "pico", "piper", "espeak"] = "auto"
    """`auto`: pico2wave for German, Piper for English, espeak-ng for the rest."""
    tts_language: str = "de-DE"
    """Language of answers whose turn names none."""
    tts_voice: str = "de-DE-Wavenet-F"
    """Google voice for TTS_LANGUAGE."""
    tts_voices: str = "en-US=en-US-Wavenet-F,en-GB=en-GB-Wavenet-F"
    """Google voices for other languages, `tag=voice` comma-separated; a language not
    listed is sent without a voice name and Google picks its default one."""

    def google_voices(self) -> dict[str, str]:
        """Voice per language tag, TTS_VOICE for TTS_LANGUAGE included."""
        pairs = (item.split("=", 1) for item in self.tts_voices.split(",") if "=" in item)
        voices = {tag.strip().lower(): voice.strip() for tag, voice in pairs}
        voices[self.tts_language.lower()] = self.tts_voice
        return voices

    tts_google_endpoint: str = "texttospeech.googleapis.com:443"
    metrics_port: int = Field(9103, ge=0, le=65535)
