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

from smctl.errors import ExitCode
from smctl.serving.eventstream import STREAM_BROKEN, internal_failure, payload_parts, stream_error
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


@pytest.fixture
def cloud_stream(recorded_sagemaker, monkeypatch):
    """The recorded-answer stand-in also plays sagemaker-runtime's InvokeEndpointWithResponseStream."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", recorded_sagemaker.url)
    return recorded_sagemaker


def test_cloud_stream_prints_each_part_and_times_it(smctl, cloud_stream):
    cloud_stream.answer_stream("llm", *payload_parts(b"Hello"), *payload_parts(b", world"),
                               headers={"X-Amzn-SageMaker-Content-Type": "text/plain"})
    res = smctl("invoke", "llm", "--cloud", "--stream", "--data", '{"inputs": "hi"}', "--accept", "text/plain")
    assert res.exit_code == 0, res.stderr
    assert res.stdout == "Hello, world"
    assert "SageMaker endpoint llm streamed: first byte in " in res.stderr
    assert "12 bytes in 2 parts, text/plain" in res.stderr
    call = [c for op, c in cloud_stream.calls if op == "InvokeEndpointWithResponseStream"]
    assert call == [{"EndpointName": "llm", "Body": '{"inputs": "hi"}', "ContentType": "application/json",
                     "Accept": "text/plain"}]
    doc = smctl("--json", "invoke", "llm", "--cloud", "--stream", "--data", "x").json["result"]
    assert (doc["body"], doc["parts"], doc["cloud"], doc["stream"]) == ("Hello, world", 2, True, True)


def test_cloud_stream_error_midway_exits_with_sagemakers_code(smctl, cloud_stream):
    cloud_stream.answer_stream("llm", *payload_parts(b"partial "), stream_error(STREAM_BROKEN, "worker died"))
    res = smctl("invoke", "llm", "--cloud", "--stream", "--data", "x")
    assert res.exit_code == ExitCode.CONTAINER_FAILED
    assert res.stdout.startswith("partial ")
    assert "stopped its streamed answer midway: worker died (SageMaker: ModelStreamError StreamBroken)" in res.stderr
    assert "aws logs tail /aws/sagemaker/Endpoints/llm" in res.stderr


def test_cloud_stream_internal_failure_is_named(smctl, cloud_stream):
    cloud_stream.answer_stream("llm", internal_failure("the stream broke inside SageMaker"))
    res = smctl("invoke", "llm", "--cloud", "--stream", "--data", "x")
    assert res.exit_code == ExitCode.CONTAINER_FAILED
    assert "SageMaker failed while streaming endpoint llm's answer: the stream broke inside SageMaker " \
           "(InternalStreamFailure)" in res.stderr
    assert "send the request again" in res.stderr


def test_cloud_stream_to_a_missing_endpoint_says_so(smctl, cloud_stream):
    res = smctl("invoke", "nope", "--cloud", "--stream", "--data", "x")
    assert res.exit_code == ExitCode.ERROR, res.stderr
    assert "there is no SageMaker endpoint nope in this region" in res.stderr


def test_unreachable_url_names_it(smctl):
    port = free_port()
    res = smctl("invoke", f"http://127.0.0.1:{port}", "--stream", "--data", "x")
    assert res.exit_code == 1
    assert f"http://127.0.0.1:{port}/invocations cannot be reached" in res.stderr
