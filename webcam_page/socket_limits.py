"""What every camera socket (a session's, a stage's control page) allows its client: frames per
second, control messages per second, and refused messages before it gives up on the client."""

from __future__ import annotations

from webcam_page import protocol as proto
from webcam_page.limits import SlidingWindow

CONTROL_PER_SECOND = 10
ERROR_BUDGET = 60  # refused messages in ERROR_WINDOW seconds before the socket is closed
ERROR_WINDOW = 10.0


class SocketLimits:
    def __init__(self, max_fps: float, max_frame_bytes: int) -> None:
        self.max_fps, self.max_frame_bytes = max_fps, max_frame_bytes
        self._frames = SlidingWindow(max_fps)
        self._control = SlidingWindow(CONTROL_PER_SECOND)
        self._errors = SlidingWindow(ERROR_BUDGET, ERROR_WINDOW)

    def frame(self, data: bytes) -> proto.Frame | proto.ProtocolError:
        """A binary message as a frame, or why it is refused (too fast, too big, not a JPEG)."""
        if not self._frames.allow():
            return proto.error("too_fast", f"frames over {self.max_fps:g} per second are refused")
        return proto.parse_binary(data, self.max_frame_bytes)

    def control(self, data: str) -> proto.Message | proto.ProtocolError:
        """A text message parsed, or why it is refused (too fast, malformed)."""
        if not self._control.allow():
            return proto.error("too_fast", f"more than {CONTROL_PER_SECOND} control messages a second")
        return proto.parse_text(data)

    def after_refusal(self) -> proto.ProtocolError | None:
        """Count one refused message; the fatal error to close with once the budget is spent."""
        if self._errors.allow():
            return None
        return proto.error("too_many_errors", "too many refused messages; closing", True)
