"""Streams over one link: many at once, in order, flow-controlled, and always ended when the link is."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kokpit.runtime.tunnel import LinkClosed, Session, StreamReset
from kokpit.runtime.tunnel.framing import FrameError


class Link:
    """Two sessions joined by in-memory queues, each end's messages delivered in order."""

    def __init__(self, *, window: int = 256 * 1024) -> None:
        self.to_server: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.to_client: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.client = Session(self.to_server.put, dialer=True, window=window)
        self.server = Session(self.to_client.put, dialer=False, window=window)
        self.messages = 0
        self._tasks = [
            asyncio.create_task(self._pump(self.to_server, self.server)),
            asyncio.create_task(self._pump(self.to_client, self.client)),
        ]

    async def _pump(self, queue: asyncio.Queue[bytes | None], session: Session) -> None:
        while (message := await queue.get()) is not None:
            self.messages += 1
            await session.receive(message)
        session.close("link cut")

    def cut(self) -> None:
        self.to_server.put_nowait(None)
        self.to_client.put_nowait(None)

    async def aclose(self) -> None:
        self.cut()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def echo_server(session: Session) -> None:
    """Answers every stream with its head, then echoes its bytes back upper-cased."""

    async def serve(stream_head: bytes, stream: object) -> None:
        from kokpit.runtime.tunnel import Stream

        assert isinstance(stream, Stream)
        await stream.send_head(b"re:" + stream_head)
        async for chunk in stream.chunks():
            await stream.write(chunk.upper())
        await stream.end()

    tasks = []
    try:
        while True:
            stream = await session.accept()
            tasks.append(asyncio.create_task(serve(await stream.read_head(), stream)))
    except LinkClosed:
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_many_concurrent_streams_each_get_their_own_bytes_back_in_order() -> None:
    link = Link(window=1024)
    server = asyncio.create_task(echo_server(link.server))
    rng = random.Random(7)

    async def one(n: int) -> None:
        stream = await link.client.open(f"req{n}".encode())
        body = bytes(rng.randrange(97, 123) for _ in range(rng.randrange(0, 20_000)))

        async def send() -> None:
            for start in range(0, len(body), 777):
                await stream.write(body[start : start + 777])
            await stream.end()

        sender = asyncio.create_task(send())
        assert await stream.read_head() == f"re:req{n}".encode()
        got = b"".join([chunk async for chunk in stream.chunks()])
        await sender
        assert got == body.upper()

    await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(50))), 10)
    assert len(link.client) == 0
    await link.aclose()
    await server


async def test_a_writer_waits_for_credit_while_the_reader_does_not_read() -> None:
    link = Link(window=1000)
    stream = await link.client.open(b"")
    accepted = await link.server.accept()
    writer = asyncio.create_task(stream.write(b"x" * 5000))
    await asyncio.sleep(0.05)
    assert not writer.done(), "sent 5000 bytes on a window of 1000 without the reader reading"
    received = b""
    while len(received) < 5000:
        received += await accepted.read()
    await asyncio.wait_for(writer, 1)
    assert received == b"x" * 5000
    await link.aclose()


async def test_a_link_cut_mid_stream_ends_readers_writers_and_accept_on_both_sides() -> None:
    link = Link(window=100)
    stream = await link.client.open(b"watch")
    accepted = await link.server.accept()
    await accepted.write(b"event1")
    assert await stream.read() == b"event1"
    reader = asyncio.create_task(stream.read())
    writer = asyncio.create_task(stream.write(b"y" * 1000))  # the server does not read: blocks on credit
    head = asyncio.create_task(stream.read_head())
    await asyncio.sleep(0.01)
    link.cut()
    with pytest.raises(StreamReset, match="link cut"):
        await asyncio.wait_for(reader, 1)
    with pytest.raises(StreamReset, match="link cut"):
        await asyncio.wait_for(writer, 1)
    with pytest.raises(StreamReset):
        await asyncio.wait_for(head, 1)
    with pytest.raises(LinkClosed):
        await link.server.accept()
    with pytest.raises(LinkClosed):
        await link.client.open(b"again")
    await link.aclose()


async def test_a_reset_reaches_the_peer_with_its_reason_and_frees_the_stream() -> None:
    link = Link()
    stream = await link.client.open(b"")
    accepted = await link.server.accept()
    await stream.reset("client went away")
    with pytest.raises(StreamReset, match="client went away"):
        await asyncio.wait_for(accepted.read(), 1)
    with pytest.raises(StreamReset):
        await accepted.write(b"late")
    assert len(link.client) == 0
    assert len(link.server) == 0
    await link.aclose()


async def test_ending_one_half_leaves_the_other_open() -> None:
    link = Link()
    stream = await link.client.open(b"")
    accepted = await link.server.accept()
    await stream.end()
    assert await accepted.read() == b""
    await accepted.write(b"answer")
    await accepted.end()
    assert await stream.read() == b"answer"
    assert await stream.read() == b""
    assert len(link.client) == len(link.server) == 0
    await link.aclose()


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        pytest.param(b"\x02\x00\x00\x00\x02data", "begins with DATA", id="DATA on a stream never opened"),
        pytest.param(b"\x07\x00\x00\x00\x01", "unknown frame type", id="garbage"),
    ],
)
async def test_a_peer_breaking_the_protocol_is_refused(message: bytes, problem: str) -> None:
    session = Session(asyncio.Queue[bytes]().put, dialer=True)
    with pytest.raises(FrameError, match=problem):
        await session.receive(message)


async def test_data_beyond_the_credit_given_is_a_protocol_error() -> None:
    session = Session(asyncio.Queue[bytes]().put, dialer=False, window=10)
    await session.receive(b"\x01\x00\x00\x00\x01head")
    with pytest.raises(FrameError, match="beyond the credit"):
        await session.receive(b"\x02\x00\x00\x00\x01" + b"z" * 11)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=40), max_size=30))
def test_random_messages_never_break_a_session_except_with_frame_error(messages: list[bytes]) -> None:
    async def go() -> None:
        sent: asyncio.Queue[bytes] = asyncio.Queue()
        session = Session(sent.put, dialer=True, window=64)
        for message in messages:
            try:
                await session.receive(message)
            except FrameError:
                session.close("protocol error")
                break
        session.close()
        with pytest.raises(LinkClosed):  # streams accepted before the close come first, then the close
            for _ in range(len(messages) + 1):
                stream = await session.accept()
                with pytest.raises(StreamReset):
                    await stream.read()

    asyncio.run(go())
