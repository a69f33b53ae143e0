"""The simulator's gateway: HELLO, heartbeats, IDENTIFY/READY, close codes, zlib-stream,
RESUME with the replay of missed dispatches, INVALID_SESSION, RECONNECT."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed

from discord_sim_support import raw_discord, raw_gateway, running_simulator
from mjgate.discord_sim import Simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with running_simulator() as simulator:
        yield simulator


async def test_identify_answers_ready_and_heartbeats_are_acked(sim: Simulator) -> None:
    async with raw_gateway(sim) as gateway:
        assert gateway.received[0]["d"]["heartbeat_interval"] == 500  # the floor at speed 0.05
        ready = await gateway.identify(sim.account.token)
        assert ready["s"] == 1
        data = ready["d"]
        assert data["session_id"] and data["resume_gateway_url"].startswith("wss://")
        assert data["user"]["id"] == sim.account.user_id
        assert data["guilds"] == [{"id": sim.account.guild_id, "unavailable": False}]
        assert data["private_channels"][0]["id"] == sim.account.dm_channel_id
        await gateway.send(1, 1)
        assert (await gateway.recv())["op"] == 11
    assert sim.counters["heartbeats"] == 1 and sim.counters["identifies"] == 1


async def test_stopped_acks_leave_heartbeats_unanswered(sim: Simulator) -> None:
    sim.stop_acks()
    async with raw_gateway(sim) as gateway:
        await gateway.send(1, None)
        with pytest.raises(TimeoutError):
            await gateway.recv(within=0.3)


async def test_zlib_stream_payloads_decode_across_split_frames(sim: Simulator) -> None:
    sim.split_frames()
    async with raw_gateway(sim, compress=True) as gateway:
        ready = await gateway.identify(sim.account.token)
        assert ready["t"] == "READY"
        await gateway.send(1, ready["s"])
        assert (await gateway.recv())["op"] == 11
        assert gateway.frames == 6  # HELLO, READY and the ACK, each in two frames


async def test_bad_token_is_closed_with_4004(sim: Simulator) -> None:
    async with raw_gateway(sim) as gateway:
        await gateway.send(2, {"token": "nope", "properties": {}})
        with pytest.raises(ConnectionClosed) as closed:
            await gateway.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4004


async def test_payload_before_identify_is_closed_with_4003(sim: Simulator) -> None:
    async with raw_gateway(sim) as gateway:
        await gateway.send(3, {"status": "online"})
        with pytest.raises(ConnectionClosed) as closed:
            await gateway.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4003


async def test_revoked_token_closes_live_sockets_and_refuses_rest(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        sim.account_problem("bad_token")
        with pytest.raises(ConnectionClosed) as closed:
            await discord.gateway.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4004
        answer = await discord.http.get(f"/guilds/{discord.guild_id}/application-command-index")
        assert answer.status_code == 401
        assert answer.json() == {"message": "401: Unauthorized", "code": 0}


async def test_resume_replays_what_was_missed_then_resumed(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        seq = discord.gateway.seq
        assert seq is not None
        session_id = discord.session_id
        sim.hold_dispatches()
        nonce = await discord.imagine("a lighthouse at night")
        sim.drop_connections()
        with pytest.raises(ConnectionClosed):
            await discord.gateway.recv()
    # Held dispatches were never sent; the job goes on while no socket is attached.
    async with raw_gateway(sim) as gateway:
        sim.release_dispatches()
        await gateway.send(6, {"token": sim.account.token, "session_id": session_id, "seq": seq})
        replayed = [await gateway.dispatch()]
        while replayed[-1]["t"] != "RESUMED":
            replayed.append(await gateway.dispatch())
        seqs = [p["s"] for p in replayed]
        assert seqs == list(range(seq + 1, seq + 1 + len(seqs)))
        assert replayed[0]["t"] == "INTERACTION_SUCCESS" and replayed[0]["d"]["nonce"] == nonce
        assert replayed[1]["d"]["nonce"] == nonce
    assert sim.counters["resumes"] == 1


async def test_resume_of_an_expired_session_is_invalid(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        session_id, seq = discord.session_id, discord.gateway.seq
    sim.expire_sessions()
    async with raw_gateway(sim) as gateway:
        await gateway.send(6, {"token": sim.account.token, "session_id": session_id, "seq": seq})
        invalid = await gateway.recv()
        assert invalid["op"] == 9 and invalid["d"] is False
        ready = await gateway.identify(sim.account.token)  # a fresh identify still works
        assert ready["d"]["session_id"] != session_id


async def test_reconnect_is_asked_with_op_7(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        sim.ask_reconnect()
        payload = await discord.gateway.recv()
        assert payload["op"] == 7


async def test_dropped_connections_close_with_the_given_code(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        sim.drop_connections(4009)
        with pytest.raises(ConnectionClosed) as closed:
            await discord.gateway.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4009
