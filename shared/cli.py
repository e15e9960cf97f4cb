"""`uhrwerk`: the operators' command line.

uhrwerk history show SESSION [--identity ID] [--json]
uhrwerk history clear SESSION [--identity ID]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import aiohttp

from shared.history import HistoryStore, HistoryUnavailable, history_limits
from shared.redis_client import redis_client
from shared.settings import CommonSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="uhrwerk", description="Uhrwerk operator tools")
    commands = parser.add_subparsers(dest="command", required=True)
    ask = commands.add_parser("ask", help="ask a question through a running gateway")
    ask.add_argument("question", nargs="?", help="the question as text")
    ask.add_argument("--audio", type=Path, help="a recording (WebM/Opus, WAV, ...) instead")
    ask.add_argument("--url", default="ws://127.0.0.1:8080/ws", help="the gateway's WebSocket")
    ask.add_argument("--session", help="continue this session (16-128 chars)")
    ask.add_argument("--language", help="the watch's language, e.g. en-US (sent with hello)")
    ask.add_argument("--timezone", help="the watch's time zone, e.g. Asia/Tokyo (with hello)")
    ask.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("antwort.mp3"),
        help="where to write the spoken answer (default: antwort.mp3)",
    )
    ask.add_argument("--timeout", type=float, default=60.0, help="seconds to wait")
    history = commands.add_parser("history", help="show or clear a session's memory")
    actions = history.add_subparsers(dest="action", required=True)
    for name, text in (("show", "print what is remembered"), ("clear", "forget everything")):
        action = actions.add_parser(name, help=text)
        action.add_argument("session", help="the session id")
        action.add_argument(
            "--identity", default="anonymous", help="whose session (default: anonymous)"
        )
        if name == "show":
            action.add_argument("--json", action="store_true", help="one JSON object per line")
    return parser


async def history_command(args: argparse.Namespace, settings: CommonSettings) -> int:
    client = redis_client(settings.redis_url)
    store = HistoryStore(client, settings.topology_prefix, history_limits(settings))
    try:
        if args.action == "clear":
            cleared = await store.clear(args.identity, args.session)
            print("cleared" if cleared else "nothing remembered for that session")
            return 0
        exchanges = await store.load(args.identity, args.session)
    except HistoryUnavailable as exc:
        print(f"uhrwerk: Redis unavailable at {settings.redis_url}: {exc}", file=sys.stderr)
        return 2
    finally:
        await client.aclose()
    if not exchanges:
        print("nothing remembered for that session", file=sys.stderr)
        return 1
    for exchange in exchanges:
        if args.json:
            print(json.dumps(asdict(exchange), ensure_ascii=False))
        else:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(exchange.at))
            print(f"[{when}] user:  {exchange.user}\n{' ' * 22}model: {exchange.model}")
    return 0


async def ask_command(args: argparse.Namespace) -> int:
    if (args.question is None) == (args.audio is None):
        print("uhrwerk ask: give a question or --audio FILE, not both", file=sys.stderr)
        return 2
    if args.audio is not None:
        from shared.audio import ensure_webm_opus

        try:
            clip = ensure_webm_opus(args.audio.read_bytes())
        except (OSError, ValueError) as exc:
            print(f"uhrwerk ask: cannot read {args.audio}: {exc}", file=sys.stderr)
            return 2
        frame = {"type": "audio", "data": base64.b64encode(clip).decode(), "format": "webm"}
    else:
        frame = {"type": "text", "message": args.question}
    url = args.url + (f"?session={args.session}" if args.session else "")
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws,
        ):
            if args.language or args.timezone:
                hello = {"type": "hello", "language": args.language, "timezone": args.timezone}
                await ws.send_str(json.dumps({k: v for k, v in hello.items() if v}))
                answer = json.loads((await ws.receive(timeout=args.timeout)).data)
                if "error" in answer:
                    print(f"error ({answer.get('code')}): {answer['error']}", file=sys.stderr)
                    return 1
            await ws.send_str(json.dumps(frame))
            message = await ws.receive(timeout=args.timeout)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        print(
            f"uhrwerk ask: no answer from {args.url}: {exc or type(exc).__name__}", file=sys.stderr
        )
        return 2
    if message.type is not aiohttp.WSMsgType.TEXT:
        print(f"uhrwerk ask: unexpected frame from the gateway: {message.type}", file=sys.stderr)
        return 2
    reply = json.loads(message.data)
    if "error" in reply:
        print(f"error ({reply.get('code')}): {reply['error']}", file=sys.stderr)
        return 1
    print(f"transcript: {reply.get('transcript', '')}")
    print(f"answer:     {reply['text_response']}")
    args.output.write_bytes(base64.b64decode(reply["audio_base64"]))
    print(f"audio:      {args.output} ({reply.get('timings', {}).get('total', '?')} ms)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "ask":
        return asyncio.run(ask_command(args))
    return asyncio.run(history_command(args, CommonSettings()))


if __name__ == "__main__":
    sys.exit(main())
