"""The fault suite's figures for the README: every fault under steady load, one table.

    python -m bench.faults [--watches N] [--short] [--fault rabbitmq ...]   (make faults)

Runs the scenarios of `tests/faults` with the long timing (16 watches; 8 s of load
before each fault, 15 s after the first answer that shows recovery) on a RabbitMQ node
and a redis-server of their own, and prints per fault: questions asked, answered
(through `resume` after a reconnect, too), errors by code, lost (no answer and no error
within the turn timeout + 5 s), lost with a killed gateway, duplicates, dropped
connections, and the seconds from the fault (or the dependency's return) to the first
answered question asked after it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
from pathlib import Path

from tests.faults.harness import FAULTS, LONG, SHORT, run_all, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watches", type=int, default=None, help="default: 16 (8 with --short)")
    parser.add_argument("--short", action="store_true", help="the test suite's short timing")
    parser.add_argument("--fault", action="append", choices=list(FAULTS), help="default: all")
    args = parser.parse_args()
    timing = SHORT if args.short else LONG
    if args.watches is not None:
        timing = dataclasses.replace(timing, watches=args.watches)
    with tempfile.TemporaryDirectory(prefix="uhrwerk-faults-") as folder:
        results = asyncio.run(run_all(Path(folder), timing, args.fault))
    print(table(results))


if __name__ == "__main__":
    main()
