"""A reverse tunnel: many concurrent byte streams over one outbound WebSocket (see `framing`)."""

from .framing import Frame, FrameError, FrameType
from .session import LinkClosed, Session, Stream, StreamReset, run_websocket, websocket_sender

__all__ = [
    "Frame",
    "FrameError",
    "FrameType",
    "LinkClosed",
    "Session",
    "Stream",
    "StreamReset",
    "run_websocket",
    "websocket_sender",
]
