"""The client side of invoke: payloads, content types, SageMaker's limits, URLs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from smctl.errors import ExitCode, UsageError
from smctl.serving.invoke import (
    MAX_PAYLOAD,
    PayloadTooLargeError,
    check_custom_attributes,
    check_payload,
    infer_content_type,
    invocations_url,
    read_payload,
    timing_warnings,
)


@pytest.mark.parametrize(("name", "expected"), [
    ("a.csv", "text/csv"), ("a.json", "application/json"), ("a.jsonl", "application/jsonlines"),
    ("a.npy", "application/x-npy"), ("a.png", "image/png"), ("a.jpeg", "image/jpeg"), ("A.TIFF", "image/tiff"),
    ("a.unknown", "application/octet-stream"), ("noext", "application/octet-stream"),
])
def test_content_type_from_extension(name, expected):
    assert infer_content_type(Path(name), b"") == expected


def test_literal_content_type_is_json_when_it_parses_else_text():
    assert infer_content_type(None, b'{"a": [1, 2]}') == "application/json"
    assert infer_content_type(None, b"1,2,3") == "text/plain"


def test_read_payload_from_file_literal_and_stdin(tmp_path):
    (tmp_path / "rows.csv").write_bytes(b"1,2\n")
    p = read_payload(f"@{tmp_path / 'rows.csv'}")
    assert (p.body, p.content_type, p.inferred) == (b"1,2\n", "text/csv", True)
    p = read_payload("héllo", "text/plain")
    assert (p.body, p.content_type, p.inferred) == ("héllo".encode(), "text/plain", False)
    p = read_payload("-", stdin=io.BytesIO(b"\x00\x01"))
    assert (p.body, p.content_type, p.source) == (b"\x00\x01", "application/octet-stream", "stdin")


def test_read_payload_without_data_or_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no request body given"):
        read_payload(None)
    with pytest.raises(UsageError, match="does not exist") as caught:
        read_payload(f"@{tmp_path / 'missing.json'}")
    assert caught.value.exit_code == ExitCode.USAGE


def test_payload_limit_is_exactly_6291456_bytes():
    assert MAX_PAYLOAD == 6_291_456
    check_payload(MAX_PAYLOAD, MAX_PAYLOAD)
    with pytest.raises(PayloadTooLargeError) as caught:
        check_payload(MAX_PAYLOAD + 1, MAX_PAYLOAD)
    assert "SageMaker will not" in (caught.value.hint or "")


def test_custom_attributes_are_at_most_1024_visible_ascii_characters():
    check_custom_attributes("a" * 1024)
    with pytest.raises(UsageError):
        check_custom_attributes("a" * 1025)
    with pytest.raises(UsageError):
        check_custom_attributes("naïve")


@pytest.mark.parametrize(("target", "url"), [
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080/invocations"),
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/invocations"),
    ("http://h:1/invocations", "http://h:1/invocations"),
    ("https://h/prefix", "https://h/prefix/invocations"),
])
def test_invocations_url(target, url):
    assert invocations_url(target) == url


def test_invocations_url_rejects_other_schemes():
    with pytest.raises(UsageError):
        invocations_url("ftp://h/x")


def test_an_invocation_slower_than_60_s_is_a_contract_warning():
    assert timing_warnings(59.9) == ()
    (warning,) = timing_warnings(61)
    assert "SageMaker gives up after 60 s" in warning
