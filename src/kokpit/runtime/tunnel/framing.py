"""The tunnel's wire format: many byte streams multiplexed over one message-oriented link.

An agent behind a firewall keeps one WebSocket open to the hub; every request the hub proxies into
the member becomes a *stream* on it. WebSocket already delimits messages, so a frame is exactly one
binary WebSocket message and needs no length prefix:

    +--------+----------------------+--------------------------+
    | type:1 | stream id:4 (uint32, | payload (rest of message) |
    |        | big-endian, > 0)     |                          |
    +--------+----------------------+--------------------------+

    type  name     payload                          meaning
    1     HEADERS  opaque head (the caller's JSON)  first frame of a new stream (from its opener),
                                                    or the answer's head (from the other side)
    2     DATA     bytes (at most MAX_PAYLOAD)      the next piece of the sender's half of the stream
    3     END      empty                            the sender will send no more DATA (half-close)
    4     RESET    UTF-8 reason                     the stream is aborted, both halves, at once
    5     WINDOW   uint32 big-endian increment > 0  the sender may be sent that many more DATA bytes

Stream ids are chosen by the side that opens the stream: odd by the side that dialed the link,
even by the side that accepted it, so both may open streams without agreeing first (HTTP/2's rule).
Flow control is per stream and counts DATA payload bytes only: each side starts with
`INITIAL_WINDOW` bytes of credit for every stream and the reader returns credit with WINDOW as it
consumes, so one slow reader never makes the link buffer without bound, nor stalls other streams.

This module is pure: `encode` and `decode` turn frames into bytes and back, and `decode` refuses
anything malformed with `FrameError` (the link is then closed: a peer that sends garbage is not
trusted with the streams that remain).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

MAX_STREAM_ID = 2**32 - 1
MAX_PAYLOAD = 64 * 1024
"""The largest DATA payload; bigger writes are split (HEADERS and RESET may be larger)."""
MAX_HEAD = 1024 * 1024
"""The largest HEADERS or RESET payload accepted (a request head with many headers stays far below)."""
INITIAL_WINDOW = 256 * 1024
"""DATA bytes a side may send on a new stream before the reader returns credit."""

_HEADER = struct.Struct(">BI")
_WINDOW = struct.Struct(">I")


class FrameType(enum.IntEnum):
    HEADERS = 1
    DATA = 2
    END = 3
    RESET = 4
    WINDOW = 5


class FrameError(ValueError):
    """A message that is not a valid frame: the link it came from cannot be trusted any more."""


@dataclass(frozen=True)
class Frame:
    """One frame: its type, its stream and its payload (see the module docstring)."""

    type: FrameType
    stream: int
    payload: bytes = b""

    @property
    def increment(self) -> int:
        """The credit a WINDOW frame returns."""
        (value,) = _WINDOW.unpack(self.payload)
        return int(value)

    @property
    def reason(self) -> str:
        """Why a RESET frame aborted its stream."""
        return self.payload.decode("utf-8", errors="replace")


def headers(stream: int, head: bytes) -> Frame:
    return Frame(FrameType.HEADERS, stream, head)


def data(stream: int, payload: bytes) -> Frame:
    return Frame(FrameType.DATA, stream, payload)


def end(stream: int) -> Frame:
    return Frame(FrameType.END, stream)


def reset(stream: int, reason: str) -> Frame:
    return Frame(FrameType.RESET, stream, reason.encode()[:MAX_HEAD])


def window(stream: int, increment: int) -> Frame:
    return Frame(FrameType.WINDOW, stream, _WINDOW.pack(increment))


def check(frame: Frame) -> Frame:
    """`check` returns `frame` if it may be sent and received, else raises `FrameError`."""
    if not 0 < frame.stream <= MAX_STREAM_ID:
        raise FrameError(f"stream id {frame.stream} out of range")
    size = len(frame.payload)
    if frame.type is FrameType.DATA and size > MAX_PAYLOAD:
        raise FrameError(f"DATA of {size} bytes exceeds {MAX_PAYLOAD}")
    if frame.type in (FrameType.HEADERS, FrameType.RESET) and size > MAX_HEAD:
        raise FrameError(f"{frame.type.name} of {size} bytes exceeds {MAX_HEAD}")
    if frame.type is FrameType.END and size:
        raise FrameError("END carries no payload")
    if frame.type is FrameType.WINDOW:
        if size != _WINDOW.size:
            raise FrameError(f"WINDOW payload must be {_WINDOW.size} bytes, got {size}")
        if frame.increment == 0:
            raise FrameError("WINDOW increment must be positive")
    return frame


def encode(frame: Frame) -> bytes:
    """`encode` is the message that carries `frame`; raises `FrameError` for a frame `check` refuses."""
    check(frame)
    return _HEADER.pack(frame.type, frame.stream) + frame.payload


def decode(message: bytes) -> Frame:
    """`decode` parses one message into a frame; raises `FrameError` for anything malformed."""
    if len(message) < _HEADER.size:
        raise FrameError(f"a frame has at least {_HEADER.size} bytes, got {len(message)}")
    kind, stream = _HEADER.unpack_from(message)
    try:
        frame_type = FrameType(kind)
    except ValueError:
        raise FrameError(f"unknown frame type {kind}") from None
    return check(Frame(frame_type, stream, bytes(message[_HEADER.size :])))
