"""The one way every service connects to Redis (history, leases, ledger, cancel marks)."""

from __future__ import annotations

import redis.asyncio as redis


def redis_client(url: str) -> redis.Redis:
    """A Redis client that fails fast, so an outage degrades a turn instead of stalling it."""
    return redis.Redis.from_url(
        url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=10
    )
