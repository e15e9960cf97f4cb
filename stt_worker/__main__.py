"""Run the speech-to-text worker: `python -m stt_worker`."""

from __future__ import annotations

from shared import loop, tracing
from shared.contracts import AudioTurn, Stage
from shared.logging import configure, get_logger
from shared.settings import SttSettings
from shared.worker import serve
from stt_worker import backend
from stt_worker.handler import make_handler


async def main() -> None:
    settings = SttSettings()
    configure("stt_worker", settings.log_level, settings.log_format)
    tracing.setup("stt_worker")
    stt = backend.build(settings)
    get_logger(__name__).info("speech backend", backend=stt.name, language=settings.stt_language)
    try:
        await serve(
            stage=Stage.STT,
            event_type=AudioTurn,
            handler=make_handler(stt, settings),
            backend=stt,
            settings=settings,
            service="stt_worker",
        )
    finally:
        tracing.shutdown()  # the spans still batched go out before the process ends


if __name__ == "__main__":
    loop.run(main())
