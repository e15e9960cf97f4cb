"""A local gRPC server speaking Google's Speech v1 `Recognize` and Text-to-Speech v1
`SynthesizeSpeech`, built from the proto-plus classes the client packages ship.

The real client libraries connect to it over plaintext gRPC; it records every request
so tests can assert what the clients sent, and can be scripted to fail or stall.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from typing import Any

import grpc
from google.cloud.speech_v1.types import cloud_speech
from google.cloud.texttospeech_v1.types import cloud_tts

from tests.fakes.audio import mp3, webm_words
from tests.fakes.background import BackgroundServer

SECONDS_PER_CHAR = 0.05
"""Length of the fake speech: proportional to the text, like real speech."""


def spoken_language(title: str) -> tuple[str, str]:
    """A clip titled "en-US|What time is it" is English speech; untagged, no language."""
    tag, bar, words = title.partition("|")
    return (tag, words) if bar else ("", title)


class FakeGoogleGrpc(BackgroundServer):
    def __init__(self) -> None:
        self.recognize_requests: list[cloud_speech.RecognizeRequest] = []
        self.synthesize_requests: list[cloud_tts.SynthesizeSpeechRequest] = []
        self.recognize_failures: deque[grpc.StatusCode] = deque()
        """Status codes the next Recognize calls fail with, one per call."""
        self.synthesize_failures: deque[grpc.StatusCode] = deque()
        self.delay_s = 0.0
        """Stall every call this long (for timeout and crash tests)."""
        self.synthesize_s: tuple[float, float] = (0.0, 0.0)
        """Each SynthesizeSpeech takes a random time in this range (shuffled latencies)."""
        self.port = 0
        self._server: grpc.aio.Server | None = None

    async def _recognize(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.recognize_requests.append(request)
        await asyncio.sleep(self.delay_s)
        if self.recognize_failures:
            await context.abort(self.recognize_failures.popleft(), "scripted failure")
        spoken, words = spoken_language(webm_words(request.audio.content))
        # Like Google: the spoken language is heard when it is the asked one or an
        # alternative, and each result names its language in lower case.
        offered = [request.config.language_code, *request.config.alternative_language_codes]
        heard = spoken if spoken in offered else request.config.language_code
        results = []
        if words:
            alternative = cloud_speech.SpeechRecognitionAlternative(
                transcript=words, confidence=0.93
            )
            results.append(
                cloud_speech.SpeechRecognitionResult(
                    alternatives=[alternative], language_code=heard.lower()
                )
            )
        return cloud_speech.RecognizeResponse(results=results)

    async def _synthesize(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.synthesize_requests.append(request)
        await asyncio.sleep(self.delay_s + random.uniform(*self.synthesize_s))
        if self.synthesize_failures:
            await context.abort(self.synthesize_failures.popleft(), "scripted failure")
        seconds = max(0.3, len(request.input.text) * SECONDS_PER_CHAR)
        return cloud_tts.SynthesizeSpeechResponse(audio_content=mp3(seconds))

    async def start(self, port: int = 0) -> int:
        speech = grpc.method_handlers_generic_handler(
            "google.cloud.speech.v1.Speech",
            {
                "Recognize": grpc.unary_unary_rpc_method_handler(
                    self._recognize,
                    request_deserializer=cloud_speech.RecognizeRequest.deserialize,
                    response_serializer=cloud_speech.RecognizeResponse.serialize,
                )
            },
        )
        tts = grpc.method_handlers_generic_handler(
            "google.cloud.texttospeech.v1.TextToSpeech",
            {
                "SynthesizeSpeech": grpc.unary_unary_rpc_method_handler(
                    self._synthesize,
                    request_deserializer=cloud_tts.SynthesizeSpeechRequest.deserialize,
                    response_serializer=cloud_tts.SynthesizeSpeechResponse.serialize,
                )
            },
        )
        self._server = grpc.aio.server()
        self._server.add_generic_rpc_handlers((speech, tts))
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port}")
        await self._server.start()
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(0)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"
