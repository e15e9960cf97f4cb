"""Run the language-model worker: `python -m llm_worker`."""

from __future__ import annotations

from llm_worker import backend
from llm_worker.handler import make_handler
from shared import loop, tracing
from shared.cancel import CancelFlags
from shared.contracts import Stage, TextTurn
from shared.history import HistoryStore, history_limits
from shared.logging import configure, get_logger
from shared.redis_client import redis_client
from shared.session_lock import SessionLocks
from shared.settings import LlmSettings
from shared.worker import serve


async def main() -> None:
    settings = LlmSettings()
    configure("llm_worker", settings.log_level, settings.log_format)
    tracing.setup("llm_worker")
    llm = backend.build(settings)
    get_logger(__name__).info("language model", backend=llm.name, model=llm.model_name)
    client = redis_client(settings.redis_url)
    history = HistoryStore(client, settings.topology_prefix, history_limits(settings))
    locks = SessionLocks(client, settings.topology_prefix)
    cancels = CancelFlags(client, settings.topology_prefix)
    try:
        await serve(
            stage=Stage.LLM,
            event_type=TextTurn,
            handler=make_handler(llm, history, locks, settings, cancels),
            backend=llm,
            settings=settings,
            service="llm_worker",
            checks_ledger=True,  # in the handler's opening script (llm_worker.memory)
        )
    finally:
        tracing.shutdown()  # the spans still batched go out before the process ends


if __name__ == "__main__":
    loop.run(main())
