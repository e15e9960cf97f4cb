"""A local HTTP server speaking the Gemini REST API's `generateContent` and
`streamGenerateContent?alt=sse`, for the real google-genai client.

Its answer is computed from the request, so tests can check that history reached it:
"Du sagtest: <last user text>. Wir sprechen seit <n> Runden."
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from typing import Any

from aiohttp import web

from tests.fakes.background import HttpFake

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def answer_for(body: dict[str, Any]) -> str:
    """The fake model's reply to a request body."""
    user_turns = [c for c in body.get("contents", []) if c.get("role", "user") == "user"]
    last = " ".join(p.get("text", "") for p in user_turns[-1]["parts"]) if user_turns else ""
    return f"Du sagtest: {last}. Wir sprechen seit {len(user_turns)} Runden."


def usage_for(body: dict[str, Any], text: str) -> dict[str, int]:
    """The usage the fake reports, as Gemini's `usageMetadata`: a "token" per word of
    the request's instruction and turns, and of the answer."""
    system = body.get("systemInstruction", {}).get("parts", [])
    turns = [part for content in body.get("contents", []) for part in content["parts"]]
    prompt = sum(len(part.get("text", "").split()) for part in [*system, *turns])
    answer = len(text.split())
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": answer,
        "totalTokenCount": prompt + answer,
    }


class FakeGemini(HttpFake):
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        """Each request: {"model", "method", "api_key", "body"}."""
        self.failures: deque[int] = deque()
        """HTTP status codes the next calls fail with, one per call."""
        self.delay_s = 0.0
        self.script: str | None = None
        """An answer to give instead of the computed one."""
        self.first_token_s = 0.0
        """Streaming: wait this long before the first word (a model's time to first token)."""
        self.token_interval_s = 0.0
        self.hold: threading.Event | None = None
        """Streaming: when set to an Event, send no word until it is set (a test's way
        to see what reaches the watch while the answer is still being made)."""
        """Streaming: and this long between words (1/40 s for 40 tokens/s)."""
        self.streams_abandoned: list[float] = []
        """time.monotonic() at which a client stopped reading a stream (barge-in)."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].partition(":")
        body = await request.json()
        self.requests.append(
            {
                "model": model,
                "method": method,
                "api_key": request.headers.get("x-goog-api-key", ""),
                "body": body,
            }
        )
        await asyncio.sleep(self.delay_s)
        if self.failures:
            status = self.failures.popleft()
            error = {"code": status, "message": "scripted failure", "status": STATUS_NAMES[status]}
            return web.json_response({"error": error}, status=status)
        text = self.script if self.script is not None else answer_for(body)
        if method == "streamGenerateContent":
            return await self._stream(request, body, text)
        return web.json_response(_response(text, "STOP") | {"usageMetadata": usage_for(body, text)})

    async def _stream(
        self, request: web.Request, body: dict[str, Any], text: str
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        words = text.split(" ")
        await asyncio.sleep(self.first_token_s)
        while self.hold is not None and not self.hold.is_set():
            await asyncio.sleep(0.01)
        for i, word in enumerate(words):
            if i:
                await asyncio.sleep(self.token_interval_s)
            last = i == len(words) - 1
            chunk = _response(word + ("" if last else " "), "STOP" if last else None)
            if last:  # Gemini's last chunk carries the usage of the whole call
                chunk["usageMetadata"] = usage_for(body, text)
            try:
                await response.write(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
            except ConnectionError:  # the client hung up: it stopped generating
                self.streams_abandoned.append(time.monotonic())
                return response
        await response.write_eof()
        return response

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(r"/{version}/models/{target:[^/]+}", self._handle)
        return app


def _response(text: str, finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": [{"text": text}]},
        "index": 0,
    }
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": "fake-gemini"}
