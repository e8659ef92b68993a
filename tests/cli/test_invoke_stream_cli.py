"""`smctl invoke URL --stream` against the streaming test server (tests/images/serve-stream/serve) run as a local
process: parts printed as they arrive, timing on stderr, and every way a stream can fail."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from smctl.serving.invoke import MAX_PAYLOAD
from tests.integration.serving_fixtures import Foreground, free_port

SERVER = Path(__file__).resolve().parents[1] / "images" / "serve-stream" / "serve"


@pytest.fixture(scope="module")
def stream_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(SERVER)], env={**os.environ, "SAGEMAKER_BIND_TO_PORT": str(port)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/ping", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_parts_are_printed_before_the_container_finishes(stream_url, tmp_path):
    """The first part is on stdout while the server still holds the rest back (it waits for a second request)."""
    run = Foreground(["invoke", stream_url, "--stream", "--data", "hold:cli"], cwd=tmp_path)
    try:
        run.wait_for("first", limit=30)
        assert run.proc.poll() is None  # still streaming: the rest has not been sent
        urllib.request.urlopen(urllib.request.Request(f"{stream_url}/invocations", data=b"release:cli"),
                               timeout=10).read()
        assert run.finish() == 0
    finally:
        run.proc.kill()
    out = run.output()
    assert out.index("first\n") < out.index("rest\n")
    assert "HTTP 200 streamed: first byte in" in out and "11 bytes in 2 parts" in out


def test_streamed_body_headers_and_json_document(smctl, stream_url):
    res = smctl("--json", "invoke", stream_url, "--stream", "--data", "tokens:3", "--accept", "text/x-tokens",
                "--custom-attributes", "trace=1")
    assert res.exit_code == 0, res.stderr
    doc = res.json["result"]
    assert doc["body"] == "token-0 token-1 token-2 "
    assert (doc["parts"], doc["bytes"], doc["stream"]) == (3, 24, True)
    assert doc["content_type"] == "text/x-tokens" and doc["custom_attributes"] == "echo:trace=1"
    assert doc["first_byte_seconds"] <= doc["seconds"]


def test_body_goes_to_stdout_and_timing_to_stderr(smctl, stream_url):
    res = smctl("invoke", stream_url, "--stream", "--data", "hello stream")
    assert res.exit_code == 0, res.stderr
    assert res.stdout == "HELLO STREAM"
    assert "HTTP 200 streamed: first byte in" in res.stderr and "12 bytes in 3 parts, text/plain" in res.stderr


def test_a_content_length_body_that_arrives_over_time_is_streamed(smctl, stream_url):
    res = smctl("invoke", stream_url, "--stream", "--data", "slowbody:3")
    assert res.exit_code == 0, res.stderr
    assert res.stdout == "xxx"


def test_a_stream_that_stops_midway_is_stream_broken(smctl, stream_url):
    res = smctl("invoke", stream_url, "--stream", "--data", "break:2")
    assert res.exit_code == 5
    assert res.stdout == "part-0 part-1 "  # what arrived before the break stays printed
    assert "stopped its streamed answer midway: the connection closed before the last chunk (SageMaker: " \
           "ModelStreamError StreamBroken)" in res.stderr
    assert "Hint: find why the server stopped in the container's logs" in res.stderr


def test_a_stream_that_does_not_finish_in_time_is_time_exceeded(smctl, stream_url):
    res = smctl("invoke", stream_url, "--stream", "--data", "stall", "--timeout", "1")
    assert res.exit_code == 5
    assert res.stdout == "only "
    assert "did not finish sending its streamed answer within 1 s (SageMaker: ModelStreamError " \
           "ModelInvocationTimeExceeded)" in res.stderr
    assert "Hint: make the container end its answer sooner" in res.stderr


def test_an_error_before_streaming_is_a_model_error(smctl, stream_url):
    res = smctl("invoke", stream_url, "--stream", "--data", "error")
    assert res.exit_code == 5
    assert res.stdout == ""
    assert "answered HTTP 500 (SageMaker returns this as ModelError, HTTP 424" in res.stderr
    assert "model exploded before streaming" in res.stderr


def test_a_body_over_the_payload_limit_is_refused_before_sending(smctl, stream_url, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (MAX_PAYLOAD + 1))
    res = smctl("invoke", stream_url, "--stream", "--data", f"@{big}")
    assert res.exit_code == 2
    assert "request body is 6,291,457 bytes, over the 6,291,456-byte limit" in res.stderr


def test_stream_with_cloud_is_refused_with_a_hint(smctl):
    res = smctl("invoke", "my-endpoint", "--cloud", "--stream", "--data", "x")
    assert res.exit_code == 2
    assert "Error: --stream reads local endpoints only" in res.stderr
    assert "invoke_endpoint_with_response_stream with boto3" in res.stderr


def test_unreachable_url_names_it(smctl):
    port = free_port()
    res = smctl("invoke", f"http://127.0.0.1:{port}", "--stream", "--data", "x")
    assert res.exit_code == 1
    assert f"http://127.0.0.1:{port}/invocations cannot be reached" in res.stderr
