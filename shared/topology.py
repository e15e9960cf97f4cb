"""The broker layout, declared idempotently by every service at start.

    gateway ──► exchange "<p>" (direct) ──stt──► queue "<p>.stt" ──► stt_worker
                                        ──llm──► queue "<p>.llm" ──► llm_worker
                                        ──tts──► queue "<p>.tts" ──► tts_worker
    workers ──► default exchange ──► "<p>.reply.<gateway id>" ──► that gateway

Work queues are quorum queues: they lost nothing when the broker was killed, where
classic durable queues duplicated far more. A message a worker rejects, or one
redelivered more than DELIVERY_LIMIT times (a worker crashing on it again and again),
goes through the dead-letter exchange "<p>.dlx" to "<p>.<stage>.dead", so nothing
loops forever and nothing is silently lost.

Reply queues are durable classic queues with an expiry instead of exclusive ones,
because exclusive queues do not survive a broker restart; an abandoned one (its
gateway gone) is deleted by the broker after `reply_queue_expires_s`.
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from shared.contracts import Stage

DELIVERY_LIMIT = 5
"""Redeliveries before a work message is dead-lettered (quorum `x-delivery-limit`)."""

DEAD_REASON_HEADER = "x-uhrwerk-dead-reason"
"""Header that says why a worker dead-lettered a message."""


@dataclass(frozen=True)
class Topology:
    """Names of everything on the broker, all under one prefix."""

    prefix: str = "uhrwerk"

    @property
    def exchange(self) -> str:
        return self.prefix

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.prefix}.dlx"

    def queue(self, stage: Stage) -> str:
        return f"{self.prefix}.{stage.value}"

    def dead_queue(self, stage: Stage) -> str:
        return f"{self.prefix}.{stage.value}.dead"

    def reply_queue(self, gateway_id: str) -> str:
        return f"{self.prefix}.reply.{gateway_id}"


@dataclass
class Declared:
    exchange: AbstractExchange
    dead_letter_exchange: AbstractExchange
    queues: dict[Stage, AbstractQueue]


async def declare(channel: AbstractChannel, topology: Topology) -> Declared:
    """Declare exchanges, work queues and dead-letter queues; safe to repeat."""
    exchange = await channel.declare_exchange(
        topology.exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    dlx = await channel.declare_exchange(
        topology.dead_letter_exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    queues: dict[Stage, AbstractQueue] = {}
    for stage in Stage:
        queue = await channel.declare_queue(
            topology.queue(stage),
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-dead-letter-exchange": topology.dead_letter_exchange,
                "x-delivery-limit": DELIVERY_LIMIT,
            },
        )
        await queue.bind(exchange, routing_key=stage.value)
        dead = await channel.declare_queue(
            topology.dead_queue(stage), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead.bind(dlx, routing_key=stage.value)
        queues[stage] = queue
    return Declared(exchange, dlx, queues)


async def declare_reply_queue(
    channel: AbstractChannel, topology: Topology, gateway_id: str, expires_s: int
) -> AbstractQueue:
    """The reply queue of one gateway instance."""
    return await channel.declare_queue(
        topology.reply_queue(gateway_id),
        durable=True,
        arguments={"x-expires": expires_s * 1000},
    )
