"""`uhrwerk`: the operators' command line.

uhrwerk ask QUESTION | --audio FILE [--token T] [--url URL] ...
uhrwerk history show SESSION [--identity ID] [--json]
uhrwerk history clear SESSION [--identity ID]
uhrwerk token create NAME [--replace] [--host HOST] | list | revoke NAME | first-run
uhrwerk dlq list [STAGE] [--json] | show STAGE TURN_ID|--index N
uhrwerk dlq replay STAGE TURN_ID|--all [--dry-run] [--deadline-s S]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import sys
import time
import urllib.parse
from dataclasses import asdict
from pathlib import Path

import aiohttp

from shared import mp3
from shared.contracts import Stage
from shared.dlq import dlq_command
from shared.history import HistoryStore, HistoryUnavailable, history_limits
from shared.redis_client import redis_client
from shared.settings import CommonSettings, GatewaySettings
from shared.tokens import TokenStore, TokenStoreUnavailable

FIRST_TOKEN_NAME = "watch"
"""The name `token first-run` gives the token it makes."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="uhrwerk", description="Uhrwerk operator tools")
    commands = parser.add_subparsers(dest="command", required=True)
    ask = commands.add_parser("ask", help="ask a question through a running gateway")
    ask.add_argument("question", nargs="?", help="the question as text")
    ask.add_argument("--audio", type=Path, help="a recording (WebM/Opus, WAV, ...) instead")
    ask.add_argument("--url", default="ws://127.0.0.1:8080/ws", help="the gateway's WebSocket")
    ask.add_argument("--session", help="continue this session (16-128 chars)")
    ask.add_argument(
        "--token",
        default=os.environ.get("UHRWERK_TOKEN") or None,
        help="the pairing token (default: $UHRWERK_TOKEN)",
    )
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
            "--identity",
            default="anonymous",
            help="whose session: the token's name (default: anonymous, as with AUTH_MODE=off)",
        )
        if name == "show":
            action.add_argument("--json", action="store_true", help="one JSON object per line")
    token = commands.add_parser("token", help="pair watches: create, list, revoke tokens")
    token_actions = token.add_subparsers(dest="action", required=True)
    create = token_actions.add_parser("create", help="make a token and print it once")
    create.add_argument("name", help="the watch's name, its identity (e.g. annas-watch)")
    create.add_argument("--replace", action="store_true", help="replace NAME's token")
    create.add_argument("--host", help="host name for the pairing URL (default: this one's)")
    token_actions.add_parser("list", help="the paired names")
    revoke = token_actions.add_parser("revoke", help="refuse NAME's token from now on")
    revoke.add_argument("name")
    token_actions.add_parser(
        "first-run", help="make a first token when none exists (make run does this)"
    )
    add_dlq_parser(commands)
    return parser


def add_dlq_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`uhrwerk dlq`: the logic is in `shared.dlq`."""
    stages = [stage.value for stage in Stage]
    dlq = commands.add_parser("dlq", help="inspect and replay the dead-letter queues")
    actions = dlq.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="counts per stage, or one stage's messages")
    listing.add_argument("stage", nargs="?", choices=stages)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = actions.add_parser("show", help="one message's headers and envelope as JSON")
    show.add_argument("stage", choices=stages)
    show.add_argument("turn_id", nargs="?", help="the turn's id (all its chunks)")
    show.add_argument("--index", type=int, help="the message at this position, from 0")
    replay = actions.add_parser("replay", help="send messages back to the stage's work queue")
    replay.add_argument("stage", choices=stages)
    replay.add_argument("turn_id", nargs="?", help="the turn's id (all its chunks)")
    replay.add_argument("--all", action="store_true", help="every message in the queue")
    replay.add_argument("--dry-run", action="store_true", help="say what would be replayed")
    replay.add_argument(
        "--deadline-s",
        type=float,
        help="the replayed turn's fresh deadline from now (default: TURN_TIMEOUT_S)",
    )


def pairing_urls(token: str, settings: GatewaySettings, host: str | None) -> list[str]:
    """Where to open the watch page with the token: on this machine and on the network."""
    scheme = "https" if settings.gateway_tls_cert else "http"
    hosts = [host] if host else ["127.0.0.1", socket.gethostname()]
    query = urllib.parse.urlencode({"token": token})
    return [f"{scheme}://{h}:{settings.gateway_port}/?{query}" for h in dict.fromkeys(hosts)]


def print_token(name: str, token: str, settings: GatewaySettings, host: str | None) -> None:
    print(f"Token for {name!r} (shown this once; only its hash is kept):\n    {token}")
    print("Pair a watch by opening the watch page with it:")
    for url in pairing_urls(token, settings, host):
        print(f"    {url}")


async def token_command(args: argparse.Namespace, settings: GatewaySettings) -> int:
    client = redis_client(settings.redis_url)
    store = TokenStore(client, settings.topology_prefix)
    try:
        if args.action == "create":
            try:
                token = await store.create(args.name, replace=args.replace)
            except ValueError as exc:
                print(f"uhrwerk token create: {exc}", file=sys.stderr)
                return 1
            print_token(args.name, token, settings, args.host)
            return 0
        if args.action == "revoke":
            if not await store.revoke(args.name):
                print(f"uhrwerk token revoke: no token named {args.name!r}", file=sys.stderr)
                return 1
            print(f"revoked {args.name!r}: new connections with its token are refused")
            return 0
        if args.action == "list":
            for paired in await store.paired():
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(paired.created))
                print(f"{paired.name}\tcreated {when}")
            return 0
        return await first_run(store, settings)
    except TokenStoreUnavailable as exc:
        print(f"uhrwerk: Redis unavailable at {settings.redis_url}: {exc}", file=sys.stderr)
        # `make run` goes on without it: the gateway says what is missing.
        return 0 if args.action == "first-run" else 2
    finally:
        await client.aclose()


async def first_run(store: TokenStore, settings: GatewaySettings) -> int:
    """Before `make run` starts the gateway: with AUTH_MODE=token and nothing to pair
    with yet, a first token and its URL, like Jupyter prints its token URL."""
    if settings.auth_mode == "off":
        print("uhrwerk: AUTH_MODE=off, every client gets in: keep port 8080 to this machine")
        return 0
    if settings.auth_token.get_secret_value():
        print(f"uhrwerk: watches pair with AUTH_TOKEN (identity {settings.auth_token_name!r})")
        return 0
    paired = await store.paired()
    if paired:
        names = ", ".join(p.name for p in paired)
        print(f"uhrwerk: paired: {names} (`uhrwerk token create NAME` pairs another watch)")
        return 0
    try:
        token = await store.create(FIRST_TOKEN_NAME)
    except ValueError:  # made in the meantime by another first run
        return 0
    print_token(FIRST_TOKEN_NAME, token, settings, None)
    return 0


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
    query = {"token": args.token, "session": args.session}
    present = urllib.parse.urlencode({k: v for k, v in query.items() if v})
    url = args.url + ("&" if "?" in args.url else "?") + present if present else args.url
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
    except aiohttp.WSServerHandshakeError as exc:
        # Not the exception's text: it names the URL, and with it the token.
        reason = {401: "a valid token (--token or $UHRWERK_TOKEN)", 403: "another origin"}
        needs = reason.get(exc.status, f"something else (HTTP {exc.status})")
        print(f"uhrwerk ask: {args.url} refused the connection: it needs {needs}", file=sys.stderr)
        return 2
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
    audio = base64.b64decode(reply["audio_base64"])
    args.output.write_bytes(audio)
    total = reply.get("timings", {}).get("total", "?")
    print(f"audio:      {args.output} ({mp3.duration_s(audio):.1f} s of speech)")
    print(f"answered in {total} ms")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "ask":
        return asyncio.run(ask_command(args))
    if args.command == "token":
        return asyncio.run(token_command(args, GatewaySettings()))
    if args.command == "dlq":
        return asyncio.run(dlq_command(args, CommonSettings()))
    return asyncio.run(history_command(args, CommonSettings()))


if __name__ == "__main__":
    sys.exit(main())
