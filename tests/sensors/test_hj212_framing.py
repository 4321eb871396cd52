"""Cutting a byte stream into HJ 212 frames: pieces, several per read, junk, over-long frames."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.hj212 import MAX_FRAME, Frame, FrameBuffer, Garbage, parse_packet

EXAMPLE = (b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
           b"CP=&&RtdInterval=30&&1C80\r\n")
BODY = EXAMPLE[:-2]


def feed_all(data: bytes, step: int) -> list:
    fb = FrameBuffer()
    out = []
    for i in range(0, len(data), step):
        out += fb.feed(data[i:i + step])
        assert len(fb) <= MAX_FRAME + step
    return out + fb.flush()


def test_packet_in_pieces_and_several_per_read():
    stream = EXAMPLE * 3
    for step in (1, 7, 64, len(stream)):
        events = feed_all(stream, step)
        assert events == [Frame(BODY)] * 3
        assert all(parse_packet(e.raw).qn == "20160801085857223" for e in events)


def test_garbage_between_packets_reported_with_reason():
    stream = b"\x00\xffHELLO" + EXAMPLE + b"\r\n" + EXAMPLE[:30] + EXAMPLE + b"junk-at-end"
    events = feed_all(stream, 13)
    frames = [e for e in events if isinstance(e, Frame)]
    junk = [e for e in events if isinstance(e, Garbage)]
    assert frames == [Frame(BODY), Frame(BODY)]
    # every junk byte is reported, in order; nothing else
    assert b"".join(g.raw for g in junk) == b"\x00\xffHELLO" + EXAMPLE[:30] + b"junk-at-end"
    assert Garbage(EXAMPLE[:30], "truncated packet: a new '##' header starts before its tail") in junk
    # the bare CRLF between packets is not junk
    assert all(g.raw.strip() for g in junk)


def test_bare_newline_tail_accepted():
    assert feed_all(BODY + b"\n" + BODY + b"\r\n", 5) == [Frame(BODY), Frame(BODY)]


def test_over_long_frame_is_garbage_and_memory_bounded():
    long = b"##0999" + b"A" * 5000
    events = feed_all(long + EXAMPLE, 100)
    assert events[-1] == Frame(BODY)
    junk = events[:-1]
    assert junk and all(isinstance(g, Garbage) for g in junk)
    assert junk[0].reason.startswith("over-long frame: no tail within 1036 bytes")
    assert sum(len(g.raw) for g in junk) == len(long)


def test_unterminated_packet_at_end_of_stream():
    fb = FrameBuffer()
    assert fb.feed(EXAMPLE[:50]) == []
    assert fb.flush() == [Garbage(EXAMPLE[:50], "stream ended inside a packet (no tail)")]


def test_half_header_kept_across_reads():
    fb = FrameBuffer()
    assert fb.feed(b"xx#") == [Garbage(b"xx", "bytes outside a packet (no '##' header)")]
    assert fb.feed(EXAMPLE[1:]) == [Frame(BODY)]


class GeneralLoopOnly(FrameBuffer):
    """The oracle: :class:`FrameBuffer` without its fast path for whole clean lines."""

    def _whole_lines(self, buf, out) -> int:
        return 0


pieces = st.sampled_from([EXAMPLE, EXAMPLE, BODY + b"\n", b"\r\n", b"\n", b" ", b"#", b"##", b"junk",
                          EXAMPLE[:30], b"##" + b"x" * 60 + b"\r\n", b"\x00\xff"])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(pieces, max_size=20), cuts=st.lists(st.integers(1, 300), min_size=1, max_size=8),
       max_frame=st.sampled_from([MAX_FRAME, 64, 120]))
def test_fast_path_cuts_exactly_like_the_general_loop(parts, cuts, max_frame):
    stream = b"".join(parts)
    fast, slow = FrameBuffer(max_frame), GeneralLoopOnly(max_frame)
    as_bytes = FrameBuffer(max_frame, frames_as_bytes=True)   # the receiver's form: a frame is its bytes
    got, want, got_bytes = [], [], []
    pos, k = 0, 0
    while pos < len(stream):
        chunk = stream[pos:pos + cuts[k % len(cuts)]]
        pos, k = pos + len(chunk), k + 1
        got += fast.feed(chunk)
        want += slow.feed(chunk)
        got_bytes += as_bytes.feed(chunk)
        assert len(fast) == len(slow)
    want += slow.flush()
    assert got + fast.flush() == want
    assert got_bytes + as_bytes.flush() == [e.raw if isinstance(e, Frame) else e for e in want]
