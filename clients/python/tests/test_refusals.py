"""What the client does when the server says no: close codes that forbid reconnecting, bad
tickets, and REST errors, each raised with the API's own error body."""

from __future__ import annotations

import uuid

import pytest
from interviews import answer, run, should_answer

from viva_client import ApiError, Interview, SessionClosed, Viva


def test_a_second_client_takes_the_session_and_the_first_stops_on_4009(base: str, token: str) -> None:
    async def scenario() -> None:
        viva = Viva(base, token)
        session_id = (await viva.create_session("senior-backend"))["session_id"]
        async with viva.connect(session_id) as first:
            await first.start()
            async for message in first:
                if message["type"] == "turn.started":
                    break
            async with viva.connect(session_id, encoding="msgpack") as second:
                with pytest.raises(SessionClosed) as replaced:
                    async for _ in first:
                        pass
                assert replaced.value.code == 4009
                assert [m async for m in first] == []  # stopped for good: no reconnect
                # Had the first come back, it would have replaced the second (4009 here): the
                # second runs the interview to its end undisturbed.
                async for _ in second:
                    if should_answer(second):
                        await answer(second)
                assert second.model.status == "ended" and second.model.ended_reason == "completed"

    run(scenario())


def test_deleting_the_user_stops_the_socket_on_4010(base: str, token: str) -> None:
    async def scenario() -> None:
        viva = Viva(base, token)
        session_id = (await viva.create_session("senior-backend"))["session_id"]
        barrier = ""
        async with viva.connect(session_id) as interview:
            await interview.start()
            with pytest.raises(SessionClosed) as deleted:
                async for message in interview:
                    # No frame of the client's may cross the deletion: the gateway closes with
                    # 4013 instead of 4010 a socket whose frame reaches a session already
                    # stopped. A ping's pong says every frame sent before it was handled.
                    if message["type"] == "turn.started" and message["seq"] == 1:
                        barrier = await interview.ping()
                    if message["type"] == "pong" and message.get("id") == barrier:
                        assert await viva.request("DELETE", "/v1/me") is None
            assert deleted.value.code == 4010
        with pytest.raises(ApiError) as gone:
            await viva.session(session_id)
        assert (gone.value.status, gone.value.code) == (404, "not_found")

    run(scenario())


def test_a_bad_ticket_is_a_clear_error(base: str, token: str) -> None:
    async def scenario() -> None:
        viva = Viva(base, token)
        session_id = (await viva.create_session("senior-backend"))["session_id"]

        async def bogus() -> str:
            return "not-a-ticket"

        with pytest.raises(ApiError) as refused:
            async with Interview(base, session_id, bogus):
                pass
        assert (refused.value.status, refused.value.code) == (401, "unauthorized")
        assert refused.value.body == {"error": {"code": "unauthorized", "message": refused.value.message}}
        assert str(refused.value).startswith("HTTP 401 unauthorized: ")

        # A ticket is single-use: good once, refused the second time.
        ticket = (await viva.ticket(session_id))["ticket"]

        async def same() -> str:
            return ticket

        async with Interview(base, session_id, same) as interview:
            assert (await anext(interview))["type"] == "session.ready"
        with pytest.raises(ApiError) as used:
            async with Interview(base, session_id, same):
                pass
        assert (used.value.status, used.value.code) == (401, "unauthorized")

        # Another user gets no ticket for the session, and so no socket: 404, never a hint.
        stranger = Viva(base, f"dev:py-{uuid.uuid4().hex[:12]}")
        with pytest.raises(ApiError) as hidden:
            async with stranger.connect(session_id):
                pass
        assert (hidden.value.status, hidden.value.code) == (404, "not_found")

    run(scenario())


def test_rest_errors_carry_the_api_error_body(base: str, token: str) -> None:
    async def scenario() -> None:
        viva = Viva(base, token)
        with pytest.raises(ApiError) as unknown:
            await viva.create_session("no-such-plan")
        assert (unknown.value.status, unknown.value.code) == (400, "bad_request")
        assert "no-such-plan" in unknown.value.message

        session_id = (await viva.create_session("senior-backend"))["session_id"]
        with pytest.raises(ApiError) as early:
            await viva.report(session_id)
        assert (early.value.status, early.value.code) == (409, "not_ready")

        with pytest.raises(ApiError) as anonymous:
            await Viva(base, "not-a-dev-token").my_sessions()
        assert (anonymous.value.status, anonymous.value.code) == (401, "unauthorized")

    run(scenario())
