"""Connecting to RabbitMQ and publishing events where their contract says they go, or
a failed input to its stage's dead-letter queue."""

from __future__ import annotations

import asyncio
import time

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from yarl import URL

from shared import tracing
from shared.contracts import (
    TO_GATEWAY,
    AudioTurn,
    Envelope,
    SpeakRequest,
    Stage,
    TextTurn,
    encode,
)
from shared.logging import get_logger
from shared.topology import DEAD_REASON_HEADER

log = get_logger(__name__)

ROUTES: dict[type[Envelope], Stage] = {
    AudioTurn: Stage.STT,
    TextTurn: Stage.LLM,
    SpeakRequest: Stage.TTS,
}
"""Which stage consumes each event type; a `Reply` or `Heard` goes to its `reply_to`
queue (`shared.contracts.TO_GATEWAY`)."""


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else url


RECONNECT_INTERVAL_S = 1.0
"""Pause between a lost connection's reconnect attempts (aio-pika's default is 5 s):
after an outage every service is back within about a second of the broker, not 5."""


async def connect(url: str, name: str) -> AbstractRobustConnection:
    """`connect_robust`, retried until the broker answers; it reconnects by itself after."""
    delay = 0.5
    while True:
        try:
            return await aio_pika.connect_robust(
                url,
                client_properties={"connection_name": name},
                timeout=10,
                reconnect_interval=RECONNECT_INTERVAL_S,
            )
        except (OSError, aio_pika.exceptions.AMQPConnectionError, TimeoutError) as exc:
            log.warning(
                "broker unreachable, retrying",
                url=redact(url),
                error=str(exc) or type(exc).__name__,
                retry_in_s=delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def open_channel(connection: AbstractRobustConnection, prefetch: int) -> AbstractChannel:
    """A channel with publisher confirms, where unroutable messages raise."""
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    await channel.set_qos(prefetch_count=prefetch)
    return channel


class Publisher:
    """Publishes events and waits for the broker's confirm of each."""

    def __init__(self, channel: AbstractChannel, exchange: AbstractExchange) -> None:
        self._channel = channel
        self._exchange = exchange

    async def publish(self, event: Envelope) -> None:
        """Send `event` to its stage's queue, or a `Reply` or `Heard` to its gateway.

        Returns once the broker has confirmed it. A reply whose gateway instance is gone
        (no reply queue) is dropped with a log line: nobody is left to read it. A turn
        no work queue takes raises `aio_pika.exceptions.DeliveryError`. The current
        trace context (the stage's span, the gateway's turn) goes along in its headers.
        """
        message = encode(event)
        if message.headers is not None:
            tracing.inject(message.headers)
        if isinstance(event, TO_GATEWAY):
            try:
                await self._channel.default_exchange.publish(
                    message, routing_key=event.reply_to, mandatory=True
                )
            except aio_pika.exceptions.DeliveryError:
                log.warning("gateway gone, reply dropped", reply_to=event.reply_to)
        else:
            await self._exchange.publish(
                message, routing_key=ROUTES[type(event)].value, mandatory=True
            )


async def dead_letter(
    dlx: AbstractExchange, message: AbstractIncomingMessage, stage: Stage, reason: str
) -> None:
    """Keep a failed input, as it came, in `<prefix>.<stage>.dead` with the reason."""
    headers = dict(message.headers or {})
    headers[DEAD_REASON_HEADER] = reason[:1000]
    # Whole seconds, an integer: AMQP headers carry a Python float as 32 bits, which
    # put today's time off by up to a minute.
    headers["x-uhrwerk-dead-at"] = int(time.time())
    await dlx.publish(
        aio_pika.Message(
            bytes(message.body),
            headers=headers,
            content_type=message.content_type,
            correlation_id=message.correlation_id,
            reply_to=message.reply_to,
            message_id=message.message_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key=stage.value,
    )
