"""`resume` in the protocol: what a watch may send, what it is told back."""

from __future__ import annotations

import json

import pytest

from gateway import frames
from gateway.protocol import Limits, ResumeRequest, parse
from shared.contracts import Reply
from shared.errors import ErrorCode, PipelineError
from shared.results import StoredTurn


def test_a_resume_names_a_turn() -> None:
    turn_id = "0123456789abcdef0123456789abcdef"
    assert parse(json.dumps({"type": "resume", "turn_id": turn_id}), Limits()) == ResumeRequest(
        turn_id
    )


@pytest.mark.parametrize("turn_id", [None, "", 42, ["a"], "a" * 129, "../etc", "a:b", "\ud800"])
def test_a_resume_without_a_turn_id_like_ours_is_invalid_field(turn_id: object) -> None:
    frame = {"type": "resume"} if turn_id is None else {"type": "resume", "turn_id": turn_id}
    with pytest.raises(PipelineError) as raised:
        parse(json.dumps(frame), Limits())
    assert raised.value.code is ErrorCode.INVALID_FIELD
    assert "turn_id" in raised.value.message


def test_frames_of_drain_and_resume() -> None:
    assert json.loads(frames.turn("t1", resumed=True)) == {
        "type": "turn",
        "turn_id": "t1",
        "resumed": True,
    }
    assert json.loads(frames.turn("t1")) == {"type": "turn", "turn_id": "t1"}
    refused = json.loads(frames.error(ErrorCode.UNKNOWN_TURN, turn_id="t1", protocol=2))
    assert refused == {
        "type": "error",
        "error": "Zu dieser Anfrage liegt keine Antwort (mehr) vor.",
        "code": "unknown_turn",
        "turn_id": "t1",
    }
    going = json.loads(frames.error(ErrorCode.SHUTTING_DOWN))
    assert going["code"] == "shutting_down" and "neu gestartet" in going["error"]


def reply(seq: int, final: bool = False, error: str = "") -> Reply:
    return Reply(
        turn_id="t1",
        session_id="s",
        reply_to="",
        deadline_ms=0,
        seq=seq,
        final=final,
        error_code=error,
    )


@pytest.mark.parametrize(
    ("chunks", "complete"),
    [
        ([], False),
        ([reply(0)], False),
        ([reply(1, final=True)], False),
        ([reply(0), reply(2, final=True)], False),
        ([reply(0), reply(1), reply(2, final=True)], True),
        ([reply(0, final=True)], True),
        ([reply(0), reply(1, error="timeout")], True),
    ],
)
def test_a_kept_turn_is_complete_with_every_sentence_or_an_error(
    chunks: list[Reply], complete: bool
) -> None:
    stored = StoredTurn("t1", "anna", chunks={c.seq: c for c in chunks})
    assert stored.complete is complete
