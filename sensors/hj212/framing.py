"""Cut a TCP byte stream into HJ 212 frames (HJ 212-2017 §6.3: ``##`` … ``\\r\\n``).

A :class:`FrameBuffer` takes byte chunks as they arrive — a packet may come in pieces, several may come
in one read, junk may sit between them — and returns :class:`Frame` (one candidate packet, tail
stripped, not yet validated) and :class:`Garbage` (bytes that cannot be a packet, with the reason).
Memory is bounded: a "packet" with no tail within :data:`~sensors.hj212.packet.MAX_FRAME` bytes is
garbage, so the buffer never holds more than that plus one chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

from sensors.hj212.packet import MAX_FRAME

__all__ = ["Frame", "FrameBuffer", "Garbage"]

_WS = b" \t\r\n\x00"


@dataclass(frozen=True, slots=True)
class Frame:
    """Candidate packet bytes from ``##`` up to (excluding) the ``\\r\\n`` or bare ``\\n`` tail."""

    raw: bytes


@dataclass(frozen=True, slots=True)
class Garbage:
    """Bytes that are not a packet, and why."""

    raw: bytes
    reason: str


class FrameBuffer:
    """Incremental HJ 212 framer. ``feed(chunk)`` → list of :class:`Frame` / :class:`Garbage` events
    (with ``frames_as_bytes``, each frame is its ``bytes`` itself, not wrapped: the receiver's path)."""

    def __init__(self, max_frame: int = MAX_FRAME, *, frames_as_bytes: bool = False):
        self.max_frame = max_frame
        self._frame = bytes if frames_as_bytes else Frame
        self._buf = bytearray()
        self._skipping: str | None = None  # reason while discarding the rest of an over-long frame

    def __len__(self) -> int:
        return len(self._buf)

    def feed(self, chunk: bytes) -> list[Frame | Garbage]:
        buf = self._buf
        buf += chunk
        out: list[Frame | Garbage] = []
        pos = self._whole_lines(buf, out)
        n = len(buf)
        while pos < n:
            start = buf.find(b"##", pos)
            if start < 0:
                # keep a trailing '#' (could be half a header); the rest is junk
                end = n - 1 if buf.endswith(b"#") else n
                self._junk(out, buf, pos, end, self._skipping or "bytes outside a packet (no '##' header)")
                pos = end
                break
            if start > pos:
                self._junk(out, buf, pos, start, self._skipping or "bytes outside a packet (before '##' header)")
            self._skipping = None
            limit = min(n, start + self.max_frame)
            nl = buf.find(b"\n", start, limit)
            nxt = buf.find(b"##", start + 2, nl if nl >= 0 else limit)
            if nxt >= 0:
                out.append(Garbage(bytes(buf[start:nxt]), "truncated packet: a new '##' header starts "
                                                          "before its tail"))
                pos = nxt
                continue
            if nl >= 0:
                end = nl - 1 if nl > start and buf[nl - 1] == 0x0D else nl
                out.append(self._frame(bytes(buf[start:end])))
                pos = nl + 1
                continue
            if n - start >= self.max_frame:
                # over-long: discard up to the next header (or all but a trailing '#')
                nxt = buf.find(b"##", start + 2)
                end = nxt if nxt >= 0 else (n - 1 if buf.endswith(b"#") else n)
                reason = f"over-long frame: no tail within {self.max_frame} bytes of the '##' header"
                out.append(Garbage(bytes(buf[start:end]), reason))
                if nxt < 0:
                    self._skipping = reason + " (continued)"
                pos = end
                continue
            pos = start
            break
        del buf[:pos]
        return out

    def _whole_lines(self, buf: bytearray, out: list[Frame | Garbage]) -> int:
        """The fast path for a clean stream: the complete lines at the start of ``buf`` that are each
        one candidate packet (``##``, no other ``##`` before the line end, shorter than the frame
        limit) — exactly the frames the general loop in :meth:`feed` would cut — and blank lines
        (skipped). Returns the position where the general loop takes over: after the last frame, so
        that junk is reported exactly as the general loop reports it."""
        last = buf.rfind(b"\n")
        if last < 0 or not buf.startswith(b"##"):
            return 0
        pos = at = 0
        limit = self.max_frame
        frame = self._frame
        for line in bytes(buf[:last]).split(b"\n"):
            size = len(line)
            at += size + 1
            if line[:2] == b"##" and size < limit and line.find(b"##", 2) < 0:
                out.append(frame(line[:-1] if line[-1:] == b"\r" else line))
                pos = at
            elif line.strip(_WS):
                break
        if pos:
            self._skipping = None
        return pos

    def flush(self) -> list[Frame | Garbage]:
        """End of stream: whatever is left is an unterminated packet or junk."""
        out: list[Frame | Garbage] = []
        rest = bytes(self._buf)
        self._buf.clear()
        if rest.strip(_WS):
            out.append(Garbage(rest, "stream ended inside a packet (no tail)" if rest.startswith(b"##")
                               else "bytes outside a packet at end of stream"))
        return out

    @staticmethod
    def _junk(out: list, buf: bytearray, a: int, b: int, reason: str) -> None:
        span = bytes(buf[a:b])
        if span.strip(_WS):  # line ends / padding between packets are not junk
            out.append(Garbage(span, reason))
