"""Whole interviews against the real gateway: to the report in both encodings, through
dropped sockets, and with answers lost on the way in or their acknowledgement on the way out."""

from __future__ import annotations

import logging

import pytest
from interviews import CODE, TEXT, answer, run, assert_matches_server, comparable, should_answer, until
from link import Link

from viva_client import Encoding, Viva
from viva_client.protocol import ServerMessage


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_a_whole_interview_to_the_report(base: str, token: str, encoding: Encoding) -> None:
    async def scenario() -> None:
        viva = Viva(base, token)
        assert "coding-python" in [plan["id"] for plan in (await viva.plans())["plans"]]
        created = await viva.create_session("coding-python")
        session_id = created["session_id"]
        shown: list[ServerMessage] = []
        sent: list[str] = []
        async with viva.connect(session_id, encoding=encoding) as interview:
            await interview.start()
            async for message in interview:
                shown.append(message)
                if should_answer(interview):
                    sent.append(await answer(interview))
            # The iteration ended by itself: the session ended and the server closed with 1000.
            await assert_matches_server(viva, interview, shown)
            model = interview.model
        assert shown[0]["type"] == "session.ready"
        assert [m["type"] for m in shown].count("session.ready") == 1
        assert [m["id"] for m in shown if m["type"] == "answer.received"] == sent
        assert model.status == "ended" and model.ended_reason == "completed" and model.report_ready
        assert model.open_turn is None and model.awaiting_answer is None
        # Both kinds of answers were given, as the plan's questions expect.
        answers = [e["answer"] for e in model.transcript if e["entry"] == "answer"]
        assert {"format": "code", "language": "python", "source": CODE} in answers
        assert {"format": "text", "text": TEXT} in answers

        report = await viva.report(session_id)
        assert report["session_id"] == session_id and report["ended_reason"] == "completed"
        assert report["dimensions"] == model.scores["dimensions"] and report["overall"] == model.scores["overall"]
        assert [a["answer_id"] for a in report["answers"]] == list(range(1, len(sent) + 1))
        mine = await viva.my_sessions(limit=5)
        assert [(s["session_id"], s["status"], s["answers"]) for s in mine["items"]] == [
            (session_id, "ended", len(sent))
        ]
        assert mine["next_cursor"] is None and mine["unreadable"] == []

    run(scenario())


def test_resume_after_dropped_sockets_loses_and_doubles_nothing(base: str, token: str) -> None:
    async def scenario() -> None:
        link = Link(base)
        viva = Viva(await link.start(), token)
        direct = Viva(base, token)
        session_id = (await direct.create_session("senior-backend"))["session_id"]
        shown: list[ServerMessage] = []
        behind: list[int] = []  # per reconnect: durable events the replay owes the client
        async with viva.connect(session_id) as interview:
            await interview.start()
            async for message in interview:
                shown.append(message)
                if message["type"] == "session.ready" and len(shown) > 1:
                    assert message["resumed"]
                    behind.append(message["seq"] - interview.last_seq)
                if should_answer(interview):
                    if link.cuts == 3:
                        await answer(interview)
                        continue
                    # The interview can only go on after an answer: from it on, the network
                    # loses everything for the client, then drops once the answer is stored.
                    link.hold("down")
                    before = await answers_stored(direct, session_id)
                    await answer(interview)

                    async def stored() -> bool:
                        return await answers_stored(direct, session_id) > before

                    await until(stored, "the answer was stored")
                    link.cut()
            await assert_matches_server(direct, interview, shown)
        await link.stop()
        assert len(behind) == 3 and all(owed > 0 for owed in behind)
        assert interview.model.ended_reason == "completed"

    run(scenario())


async def answers_stored(viva: Viva, session_id: str) -> int:
    return sum(e["entry"] == "answer" for e in (await viva.session(session_id))["transcript"])


def test_an_answer_lost_on_the_way_is_resent_and_stored_once(
    base: str, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="viva_client")

    async def scenario() -> None:
        link = Link(base)
        viva = Viva(await link.start(), token)
        direct = Viva(base, token)
        session_id = (await direct.create_session("senior-backend"))["session_id"]
        lost = ending = ""
        shown: list[ServerMessage] = []
        async with viva.connect(session_id) as interview:
            await interview.start()
            async for message in interview:
                shown.append(message)
                if should_answer(interview) and not ending:
                    if lost:
                        ending = await interview.end()  # the first answer is all this test needs
                        continue
                    link.hold("up")  # the answer never reaches the gateway ...
                    lost = await answer(interview)
                    link.cut()  # ... and the socket drops before anything else
            await assert_matches_server(direct, interview, shown)
        await link.stop()
        assert [m["id"] for m in shown if m["type"] == "answer.received"] == [lost]
        assert f"re-sending unacknowledged answer {lost}" in caplog.messages
        stored = [e for e in comparable((await direct.session(session_id))["transcript"]) if e["entry"] == "answer"]
        assert [e["answer"] for e in stored] == [{"format": "text", "text": TEXT}]

    run(scenario())


def test_an_answer_whose_acknowledgement_was_lost_is_resent_and_answered_once(
    base: str, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="viva_client")

    async def scenario() -> None:
        link = Link(base)
        viva = Viva(await link.start(), token)
        direct = Viva(base, token)
        session_id = (await direct.create_session("senior-backend"))["session_id"]
        unacked = ending = ""
        shown: list[ServerMessage] = []
        async with viva.connect(session_id) as interview:
            await interview.start()
            async for message in interview:
                shown.append(message)
                if should_answer(interview) and not ending:
                    if unacked:
                        ending = await interview.end()
                        continue
                    link.hold("down")  # the gateway's replies never reach the client
                    unacked = await answer(interview)

                    async def stored() -> bool:
                        return await answers_stored(direct, session_id) == 1

                    await until(stored, "the answer was stored")
                    link.cut()
            await assert_matches_server(direct, interview, shown)
        await link.stop()
        received = [m for m in shown if m["type"] == "answer.received"]
        assert [m["id"] for m in received] == [unacked]
        assert f"re-sending unacknowledged answer {unacked}" in caplog.messages
        # The gateway answered the re-send with the original acknowledgement (same seq), which
        # the replay had already shown: the client did not show it twice.
        assert f"not shown again: answer.received {received[0]['seq']}" in caplog.messages
        assert await answers_stored(direct, session_id) == 1

    run(scenario())
