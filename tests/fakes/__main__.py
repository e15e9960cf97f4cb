"""Serve the fake Google servers for `make demo`: `python -m tests.fakes`."""

from __future__ import annotations

import argparse
import asyncio

from tests.fakes.gemini import FakeGemini
from tests.fakes.google_grpc import FakeGoogleGrpc


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grpc-port", type=int, default=50071)
    parser.add_argument("--gemini-port", type=int, default=50072)
    args = parser.parse_args()
    grpc_server, gemini = FakeGoogleGrpc(), FakeGemini()
    await grpc_server.start(args.grpc_port)
    await gemini.start(args.gemini_port)
    print(f"fake Speech/TTS on 127.0.0.1:{grpc_server.port}, fake Gemini on {gemini.base_url}")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
