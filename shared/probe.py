"""`python -m shared.probe URL`: exit 0 when URL answers 200 within 3 s, else 1.

The compose healthchecks call this rather than an inline `python -c "…"`: podman's
Docker-compatible API splits a healthcheck's arguments at spaces, and images without
curl still have Python.
"""

from __future__ import annotations

import sys
import urllib.request


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m shared.probe URL", file=sys.stderr)
        return 2
    try:
        with urllib.request.urlopen(argv[0], timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"{argv[0]}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
