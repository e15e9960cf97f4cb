"""`uhrwerk`: the operators' command line.

uhrwerk history show SESSION [--identity ID] [--json]
uhrwerk history clear SESSION [--identity ID]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict

from shared.history import HistoryStore, HistoryUnavailable, history_limits
from shared.ledger import redis_client
from shared.settings import CommonSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="uhrwerk", description="Uhrwerk operator tools")
    commands = parser.add_subparsers(dest="command", required=True)
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = CommonSettings()
    return asyncio.run(history_command(args, settings))


if __name__ == "__main__":
    sys.exit(main())
