"""Many concurrent byte streams over one link (`framing` describes the wire format).

A `Session` is one end of a link: it turns frames received from the link into per-stream reads,
and per-stream writes into frames sent on it, with per-stream flow control. It knows nothing of
WebSocket or HTTP: `send` is any coroutine that puts one message on the link, and whoever reads
the link hands each message to `receive`; `run_websocket` does both for an aiohttp WebSocket.

What a stream's users may count on:
- `read()` returns the peer's DATA in order, `b""` once the peer ended its half, and raises
  `StreamReset` when the stream was aborted (by the peer, or because the link went down) — so a
  link cut mid-stream always ends every stream's reader, never leaves it waiting.
- `write()` waits for credit when the peer has not consumed what it was sent (no unbounded
  buffering anywhere), and raises `StreamReset` once the stream is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from . import framing
from .framing import INITIAL_WINDOW, MAX_PAYLOAD, Frame, FrameError, FrameType

log = logging.getLogger("kokpit.runtime.tunnel")

Send = Callable[[bytes], Awaitable[None]]

MAX_STREAMS = 4096
"""Streams the peer may have open towards us at once; more are refused with RESET."""


class StreamReset(Exception):
    """The stream was aborted: by the peer (RESET), locally, or because the link closed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LinkClosed(StreamReset):
    """The link under the session is gone; no stream can be opened or accepted on it any more."""


class Stream:
    """One stream of a `Session`: a head each way, then bytes each way, each half ended on its own."""

    def __init__(self, session: Session, stream_id: int, *, window: int) -> None:
        self.session = session
        self.id = stream_id
        self._peer_head: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._inbox: deque[bytes] = deque()
        self._readable = asyncio.Event()
        self._remote_ended = False
        self._local_ended = False
        self._reset: StreamReset | None = None
        self._send_window = window
        self._credit = asyncio.Event()
        self._credit.set()
        self._recv_window = window
        self._window = window
        self._consumed = 0

    def __repr__(self) -> str:
        return f"Stream({self.id})"

    @property
    def done(self) -> bool:
        """True once both halves ended or the stream was reset."""
        return self._reset is not None or (self._remote_ended and self._local_ended)

    # -- heads ----------------------------------------------------------------------------------

    async def read_head(self) -> bytes:
        """The peer's HEADERS payload: the request for an accepted stream, the answer for an opened one."""
        return await asyncio.shield(self._peer_head)

    async def send_head(self, head: bytes) -> None:
        """Sends this side's head (the answer, for an accepted stream)."""
        self._check_writable()
        await self.session._send(framing.headers(self.id, head))

    # -- bytes ----------------------------------------------------------------------------------

    async def read(self) -> bytes:
        """The next chunk of the peer's bytes; `b""` when the peer ended; raises `StreamReset`."""
        while not self._inbox:
            if self._reset is not None:
                raise self._reset
            if self._remote_ended:
                return b""
            self._readable.clear()
            await self._readable.wait()
        chunk = self._inbox.popleft()
        await self._return_credit(len(chunk))
        return chunk

    async def chunks(self) -> AsyncIterator[bytes]:
        """Every chunk the peer sends, until it ends its half (raises `StreamReset` if aborted)."""
        while chunk := await self.read():
            yield chunk

    async def write(self, data: bytes) -> None:
        """Sends `data`, in as many DATA frames as the peer's credit and `MAX_PAYLOAD` ask for."""
        view = memoryview(data)
        while view:
            self._check_writable()
            if self._send_window <= 0:
                self._credit.clear()
                await self._credit.wait()
                continue
            size = min(len(view), self._send_window, MAX_PAYLOAD)
            self._send_window -= size
            await self.session._send(framing.data(self.id, bytes(view[:size])))
            view = view[size:]

    async def end(self) -> None:
        """Ends this side's half: the peer's `read()` returns `b""` after the data already sent."""
        if self._local_ended or self._reset is not None:
            return
        self._local_ended = True
        await self.session._send(framing.end(self.id))
        self.session._forget_if_done(self)

    async def reset(self, reason: str) -> None:
        """Aborts the stream both ways; the peer's reads and writes raise `StreamReset(reason)`."""
        if self._reset is not None:
            return
        self._abort(StreamReset(reason))
        with contextlib.suppress(StreamReset):
            await self.session._send(framing.reset(self.id, reason))

    # -- called by the session ------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self._reset is not None:
            raise self._reset
        if self._local_ended:
            raise StreamReset("this side of the stream already ended")

    async def _return_credit(self, size: int) -> None:
        self._consumed += size
        if self._consumed >= self._window // 4 and not self._remote_ended and self._reset is None:
            increment, self._consumed = self._consumed, 0
            self._recv_window += increment
            with contextlib.suppress(StreamReset):
                await self.session._send(framing.window(self.id, increment))

    def _on_frame(self, frame: Frame) -> None:
        if frame.type is FrameType.HEADERS:
            if self._peer_head.done():
                raise FrameError(f"stream {self.id}: a second HEADERS")
            self._peer_head.set_result(frame.payload)
        elif frame.type is FrameType.DATA:
            if self._remote_ended:
                raise FrameError(f"stream {self.id}: DATA after END")
            if len(frame.payload) > self._recv_window:
                raise FrameError(f"stream {self.id}: DATA beyond the credit given")
            self._recv_window -= len(frame.payload)
            if frame.payload:
                self._inbox.append(frame.payload)
            self._readable.set()
        elif frame.type is FrameType.END:
            self._remote_ended = True
            self._readable.set()
        elif frame.type is FrameType.RESET:
            self._abort(StreamReset(frame.reason))
        elif frame.type is FrameType.WINDOW:
            self._send_window += frame.increment
            self._credit.set()

    def _abort(self, error: StreamReset) -> None:
        if self._reset is None:
            self._reset = error
        if not self._peer_head.done():
            self._peer_head.set_exception(error)
            self._peer_head.exception()  # retrieved: nobody may ever ask for the head
        self._readable.set()
        self._credit.set()
        self.session._forget_if_done(self)


class Session:
    """`Session` multiplexes streams over one link; `dialer` is true on the side that dialed it."""

    def __init__(self, send: Send, *, dialer: bool, window: int = INITIAL_WINDOW) -> None:
        self._send_message = send
        self._send_lock = asyncio.Lock()
        self._window = window
        self._next_id = 1 if dialer else 2
        self._peer_parity = 0 if dialer else 1
        self._last_peer_id = 0
        self._streams: dict[int, Stream] = {}
        self._incoming: asyncio.Queue[Stream | None] = asyncio.Queue()
        self._closed: LinkClosed | None = None

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def __len__(self) -> int:
        """The number of streams open now."""
        return len(self._streams)

    async def open(self, head: bytes) -> Stream:
        """Opens a stream whose first frame carries `head`; raises `LinkClosed` when the link is gone."""
        if self._closed is not None:
            raise self._closed
        stream_id = self._next_id
        if stream_id > framing.MAX_STREAM_ID:
            raise LinkClosed("stream ids exhausted: the link must be dialed again")
        self._next_id += 2
        stream = Stream(self, stream_id, window=self._window)
        self._streams[stream_id] = stream
        try:
            await self._send(framing.headers(stream_id, head))
        except StreamReset as error:
            stream._abort(error)
            raise
        return stream

    async def accept(self) -> Stream:
        """The next stream the peer opened (its head in `read_head()`); raises `LinkClosed`."""
        stream = await self._incoming.get()
        if stream is None:
            self._incoming.put_nowait(None)  # every later accept() sees the close too
            assert self._closed is not None
            raise self._closed
        return stream

    async def receive(self, message: bytes) -> None:
        """Handles one message from the link; raises `FrameError` when the peer broke the protocol
        (the caller then closes the link)."""
        frame = framing.decode(message)
        stream = self._streams.get(frame.stream)
        if stream is not None:
            stream._on_frame(frame)
            self._forget_if_done(stream)
            return
        if frame.stream % 2 != self._peer_parity:
            return  # a late frame for a stream of ours that is already gone
        if frame.stream <= self._last_peer_id:
            return  # a late frame for a stream of the peer's that is already gone
        if frame.type is not FrameType.HEADERS:
            raise FrameError(f"stream {frame.stream} begins with {frame.type.name}, not HEADERS")
        self._last_peer_id = frame.stream
        if len(self._streams) >= MAX_STREAMS:
            with contextlib.suppress(StreamReset):
                await self._send(framing.reset(frame.stream, "too many streams"))
            return
        stream = Stream(self, frame.stream, window=self._window)
        self._streams[frame.stream] = stream
        stream._on_frame(frame)
        self._incoming.put_nowait(stream)

    def close(self, reason: str = "link closed") -> None:
        """The link is gone: every stream is reset with `reason`, `accept()` raises `LinkClosed`."""
        if self._closed is not None:
            return
        self._closed = LinkClosed(reason)
        for stream in list(self._streams.values()):
            stream._abort(self._closed)
        self._streams.clear()
        self._incoming.put_nowait(None)

    async def _send(self, frame: Frame) -> None:
        if self._closed is not None:
            raise self._closed
        message = framing.encode(frame)
        try:
            async with self._send_lock:
                await self._send_message(message)
        except (ConnectionError, RuntimeError, OSError) as error:
            self.close(f"link closed: {error or type(error).__name__}")
            assert self._closed is not None
            raise self._closed from None

    def _forget_if_done(self, stream: Stream) -> None:
        if stream.done and self._streams.get(stream.id) is stream:
            del self._streams[stream.id]


async def run_websocket(ws: Any, session: Session) -> None:
    """`run_websocket` feeds every binary message of the aiohttp WebSocket `ws` (client or server
    side) to `session` until the link ends, then closes the session (every open stream ends) and
    the WebSocket. A text message or a malformed frame ends the link too."""
    import aiohttp

    reason = "link closed"
    try:
        async for message in ws:
            if message.type is aiohttp.WSMsgType.BINARY:
                try:
                    await session.receive(message.data)
                except FrameError as error:
                    reason = f"protocol error: {error}"
                    log.warning("closing tunnel link: %s", reason)
                    break
            elif message.type is aiohttp.WSMsgType.ERROR:
                reason = f"link error: {ws.exception()}"
                break
            else:
                reason = f"protocol error: unexpected {message.type.name} message"
                break
    finally:
        session.close(reason)
        with contextlib.suppress(Exception):
            await ws.close()


def websocket_sender(ws: Any) -> Send:
    """The `send` of a `Session` over the aiohttp WebSocket `ws`."""

    async def send(message: bytes) -> None:
        if ws.closed:
            raise ConnectionError("websocket closed")
        await ws.send_bytes(message)

    return send
