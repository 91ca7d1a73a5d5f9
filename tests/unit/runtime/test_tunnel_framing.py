"""The tunnel's frames: every valid frame survives the wire, and no byte string crashes the decoder."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kokpit.runtime.tunnel import framing
from kokpit.runtime.tunnel.framing import MAX_PAYLOAD, Frame, FrameError, FrameType

stream_ids = st.integers(min_value=1, max_value=framing.MAX_STREAM_ID)

valid_frames = st.one_of(
    st.builds(framing.headers, stream_ids, st.binary(max_size=4096)),
    st.builds(framing.data, stream_ids, st.binary(max_size=MAX_PAYLOAD)),
    st.builds(framing.end, stream_ids),
    st.builds(framing.reset, stream_ids, st.text(max_size=200)),
    st.builds(framing.window, stream_ids, st.integers(min_value=1, max_value=2**32 - 1)),
)


@given(valid_frames)
def test_every_valid_frame_decodes_to_itself(frame: Frame) -> None:
    assert framing.decode(framing.encode(frame)) == frame


@given(st.binary(max_size=256))
def test_any_bytes_decode_to_a_valid_frame_or_a_frame_error(message: bytes) -> None:
    try:
        frame = framing.decode(message)
    except FrameError:
        return
    assert framing.encode(frame) == message


@given(valid_frames, st.integers(min_value=0, max_value=16), st.binary(min_size=1, max_size=4))
def test_a_corrupted_message_never_crashes_the_decoder(frame: Frame, position: int, noise: bytes) -> None:
    message = bytearray(framing.encode(frame))
    position = min(position, len(message))
    message[position : position + len(noise)] = noise
    with contextlib.suppress(FrameError):
        framing.decode(bytes(message))


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        pytest.param(b"", "at least", id="empty message"),
        pytest.param(b"\x02\x00\x00", "at least", id="header cut short"),
        pytest.param(b"\x09\x00\x00\x00\x01", "unknown frame type", id="unknown type"),
        pytest.param(b"\x02\x00\x00\x00\x00data", "out of range", id="stream id 0"),
        pytest.param(b"\x03\x00\x00\x00\x01x", "END carries no payload", id="END with a payload"),
        pytest.param(b"\x05\x00\x00\x00\x01\x00\x01", "must be 4 bytes", id="WINDOW of 2 bytes"),
        pytest.param(b"\x05\x00\x00\x00\x01\x00\x00\x00\x00", "positive", id="WINDOW of zero"),
        pytest.param(b"\x02\x00\x00\x00\x01" + b"x" * (MAX_PAYLOAD + 1), "exceeds", id="DATA too big"),
    ],
)
def test_malformed_messages_are_refused_with_the_reason(message: bytes, problem: str) -> None:
    with pytest.raises(FrameError, match=problem):
        framing.decode(message)


def test_the_wire_layout_is_type_then_big_endian_stream_then_payload() -> None:
    assert framing.encode(framing.data(258, b"hi")) == b"\x02\x00\x00\x01\x02hi"
    assert framing.encode(framing.window(1, 65536)) == b"\x05\x00\x00\x00\x01\x00\x01\x00\x00"
    assert framing.decode(b"\x04\x00\x00\x00\x07gone").reason == "gone"
    assert framing.decode(b"\x01\x00\x00\x00\x03{}").type is FrameType.HEADERS


def test_a_frame_that_cannot_be_sent_is_refused_before_the_wire() -> None:
    with pytest.raises(FrameError):
        framing.encode(framing.data(1, b"x" * (MAX_PAYLOAD + 1)))
    with pytest.raises(FrameError):
        framing.encode(Frame(FrameType.END, 2**32, b""))
