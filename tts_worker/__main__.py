"""Run the text-to-speech worker: `python -m tts_worker`."""

from __future__ import annotations

from shared import loop, tracing
from shared.cancel import CancelFlags
from shared.contracts import SpeakRequest, Stage
from shared.logging import configure, get_logger
from shared.redis_client import redis_client
from shared.settings import TtsSettings
from shared.worker import serve
from tts_worker import backend
from tts_worker.handler import make_handler


async def main() -> None:
    settings = TtsSettings()
    configure("tts_worker", settings.log_level, settings.log_format)
    tracing.setup("tts_worker")
    synth = backend.build(settings)
    get_logger(__name__).info(
        "speech synthesis", backend=synth.name, default_language=settings.tts_language
    )
    try:
        await serve(
            stage=Stage.TTS,
            event_type=SpeakRequest,
            handler=make_handler(
                synth,
                settings.tts_language,
                CancelFlags(redis_client(settings.redis_url), settings.topology_prefix),
            ),
            backend=synth,
            settings=settings,
            service="tts_worker",
        )
    finally:
        tracing.shutdown()  # the spans still batched go out before the process ends


if __name__ == "__main__":
    loop.run(main())
