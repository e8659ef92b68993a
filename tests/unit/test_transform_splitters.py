"""SplitType framing: Line, RecordIO and TFRecord split record-exactly, framing kept or stripped as SageMaker does."""

from __future__ import annotations

import struct

import pytest

from smctl.contract.recordio import recordio_frames
from smctl.transform.splitters import (
    SplitError,
    masked_crc32c,
    split_lines,
    split_records,
    strip_line_ending,
    tfrecord_frame,
)


def test_line_split_keeps_each_records_own_ending_and_a_missing_final_newline():
    data = b"a,b\nc,d\r\ne,f"
    assert split_lines(data) == [b"a,b\n", b"c,d\r\n", b"e,f"]
    assert b"".join(split_lines(data)) == data


def test_line_split_has_no_empty_tail_record_and_keeps_blank_lines():
    assert split_lines(b"x\n\ny\n") == [b"x\n", b"\n", b"y\n"]
    assert split_lines(b"") == []
    assert split_lines(b"\n") == [b"\n"]


def test_a_lone_carriage_return_is_not_a_record_boundary():
    assert split_lines(b"a\rb\n") == [b"a\rb\n"]


def test_strip_line_ending_handles_lf_crlf_and_none():
    assert [strip_line_ending(r) for r in (b"a\n", b"a\r\n", b"a")] == [b"a", b"a", b"a"]


def test_none_split_is_the_whole_object_and_nothing_for_an_empty_one():
    assert split_records(b"abc\ndef", "None", framed=False) == [b"abc\ndef"]
    assert split_records(b"", "None", framed=True) == []


def _recordio(*payloads: bytes) -> bytes:
    return b"".join(frame for p in payloads for frame in recordio_frames(p))


def test_recordio_single_record_strips_framing_and_padding():
    data = _recordio(b"abc", b"12345678", b"")
    assert split_records(data, "RecordIO", framed=False) == [b"abc", b"12345678", b""]


def test_recordio_multi_record_keeps_each_frame_with_its_padding():
    data = _recordio(b"abc", b"defgh")
    framed = split_records(data, "RecordIO", framed=True)
    assert [len(f) for f in framed] == [8 + 4, 8 + 8]
    assert b"".join(framed) == data


def test_recordio_multi_part_record_is_one_logical_record():
    part = struct.pack("<II", 0xCED7230A, (1 << 29) | 3) + b"abc\0" + struct.pack("<II", 0xCED7230A, (3 << 29) | 2) \
        + b"de\0\0"
    data = part + _recordio(b"next")
    assert split_records(data, "RecordIO", framed=False) == [b"abcde", b"next"]
    assert split_records(data, "RecordIO", framed=True)[0] == part


def test_recordio_bad_magic_names_the_record_and_byte():
    data = _recordio(b"ok") + b"\x00" * 12
    with pytest.raises(SplitError) as err:
        split_records(data, "RecordIO", framed=False)
    assert (err.value.record, err.value.offset) == (2, 12)
    assert "magic" in str(err.value)


def test_recordio_truncated_record_is_an_error():
    with pytest.raises(SplitError, match="truncated"):
        split_records(_recordio(b"abcdefgh")[:-3], "RecordIO", framed=True)


def test_tfrecord_round_trip_both_ways():
    payloads = [b"first", b"", b"x" * 1000]
    data = b"".join(tfrecord_frame(p) for p in payloads)
    assert split_records(data, "TFRecord", framed=False) == payloads
    framed = split_records(data, "TFRecord", framed=True)
    assert [len(f) for f in framed] == [16 + len(p) for p in payloads]
    assert b"".join(framed) == data


def test_masked_crc32c_matches_tensorflows_known_value():
    # CRC-32C("123456789") is 0xE3069283 (RFC 3720); TFRecord stores it masked
    crc = 0xE3069283
    assert masked_crc32c(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_tfrecord_data_crc_mismatch_names_the_record():
    good = tfrecord_frame(b"one")
    bad = bytearray(tfrecord_frame(b"two"))
    bad[13] ^= 0xFF  # flip a data byte
    with pytest.raises(SplitError) as err:
        split_records(good + bytes(bad), "TFRecord", framed=False)
    assert (err.value.record, err.value.offset) == (2, len(good))
    assert "data CRC" in err.value.reason


def test_tfrecord_length_crc_catches_data_that_is_not_tfrecord():
    with pytest.raises(SplitError, match="length CRC"):
        split_records(b"this is plain text, not TFRecord\n", "TFRecord", framed=True)


def test_tfrecord_truncated_tail_is_an_error():
    data = tfrecord_frame(b"abc") + tfrecord_frame(b"defgh")[:-2]
    with pytest.raises(SplitError, match="truncated") as err:
        split_records(data, "TFRecord", framed=True)
    assert err.value.record == 2
