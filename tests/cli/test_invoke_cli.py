"""`smctl invoke URL`: against a real local HTTP server standing in for a container (no Docker needed)."""

from __future__ import annotations

import base64
import io
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from smctl.serving.invoke import MAX_PAYLOAD


class _Model(BaseHTTPRequestHandler):
    """Answers POST /invocations: the request described as JSON, or the path's fault."""

    protocol_version = "HTTP/1.1"
    received: list[dict] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append({"path": self.path, "headers": dict(self.headers), "size": len(body)})
        status, ctype, out, extra = 200, "application/json", b"", {}
        if body == b"binary":
            ctype, out = "application/octet-stream", bytes(range(256))
        elif body == b"fail":
            status, ctype, out = 500, "text/plain", b"model exploded"
        elif body == b"plain words" or self.headers.get("Content-Type") == "text/x-odd":
            status, ctype, out = 415, "text/plain", b"unsupported content type"
        elif body == b"slow":
            time.sleep(2)
        else:
            out = json.dumps({"content_type": self.headers.get("Content-Type"), "accept": self.headers.get("Accept"),
                              "body": body.decode(errors="replace")}).encode()
        if "X-Amzn-SageMaker-Custom-Attributes" in self.headers:
            extra["X-Amzn-SageMaker-Custom-Attributes"] = "seen=" + self.headers["X-Amzn-SageMaker-Custom-Attributes"]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(out)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the client gave up (the timeout test): nothing to print into another test's stderr


@pytest.fixture
def model_url():
    _Model.received = []
    server = _Server(("127.0.0.1", 0), _Model)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_body_goes_to_stdout_and_status_to_stderr(smctl, model_url):
    res = smctl("invoke", model_url, "--data", '{"x": 1}', "--accept", "application/json")
    assert res.exit_code == 0
    assert json.loads(res.stdout) == {"content_type": "application/json", "accept": "application/json",
                                      "body": '{"x": 1}'}
    assert res.stderr.startswith("HTTP 200 in ")
    assert _Model.received[0]["path"] == "/invocations"


@pytest.mark.parametrize(("name", "expected"), [
    ("rows.csv", "text/csv"), ("rec.jsonl", "application/jsonlines"), ("arr.npy", "application/x-npy"),
    ("cat.JPG", "image/jpeg"), ("blob.bin", "application/octet-stream"),
])
def test_content_type_is_inferred_from_the_file_extension(smctl, model_url, tmp_path, name, expected):
    (tmp_path / name).write_bytes(b"1,2\n")
    res = smctl("invoke", model_url, "--data", f"@{tmp_path / name}")
    assert res.exit_code == 0
    assert json.loads(res.stdout)["content_type"] == expected


def test_explicit_content_type_and_custom_attributes(smctl, model_url):
    res = smctl("invoke", f"{model_url}/invocations", "--data", "x", "--content-type", "text/libsvm",
                "--custom-attributes", "trace=7")
    assert json.loads(res.stdout)["content_type"] == "text/libsvm"
    assert "custom attributes: seen=trace=7" in res.stderr


def test_stdin_is_read_as_bytes(smctl, model_url, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"from stdin")))
    res = smctl("invoke", model_url, "--data", "-")
    assert json.loads(res.stdout) == {"content_type": "application/octet-stream", "accept": None,
                                      "body": "from stdin"}


def test_json_mode_carries_a_binary_body_as_base64(smctl, model_url):
    res = smctl("--json", "invoke", model_url, "--data", "binary")
    doc = res.json["result"]
    assert (res.exit_code, doc["status"], doc["bytes"]) == (0, 200, 256)
    assert base64.b64decode(doc["body_base64"]) == bytes(range(256))
    assert "body" not in doc


def test_container_error_exits_5_with_status_and_body(smctl, model_url):
    res = smctl("invoke", model_url, "--data", "fail")
    assert res.exit_code == 5
    assert "answered HTTP 500" in res.stderr
    assert "ModelError, HTTP 424" in res.stderr
    assert "body: model exploded" in res.stderr
    assert res.stdout == ""


def test_unsupported_media_type_names_the_content_type_sent_and_the_flag(smctl, model_url):
    res = smctl("invoke", model_url, "--data", "plain words")
    assert res.exit_code == 5
    assert "answered HTTP 415" in res.stderr
    assert "sent as Content-Type text/plain (inferred from the literal)" in res.stderr
    assert "Hint: the container does not take text/plain: send the type it expects with --content-type" in res.stderr


def test_explicit_content_type_is_named_on_a_client_error(smctl, model_url):
    res = smctl("--json", "invoke", model_url, "--data", "x", "--content-type", "text/x-odd")
    assert res.exit_code == 5
    assert "Content-Type text/x-odd (from --content-type)" in res.json["error"]["message"]


@pytest.mark.parametrize(("flag", "value", "hint"), [
    ("--timeout", "-1", "more than 0 and at most 3600"), ("--timeout", "0", "more than 0 and at most 3600"),
    ("--timeout", "3601", "more than 0 and at most 3600"), ("--max-payload", "0", "BYTES >= 1"),
])
def test_out_of_range_numbers_are_usage_errors_with_the_range(smctl, model_url, flag, value, hint):
    res = smctl("invoke", model_url, "--data", '{"x": 1}', flag, value)
    assert res.exit_code == 2
    assert res.stderr.startswith(f"Error: {flag} {value}")
    assert hint in res.stderr
    assert _Model.received == []


def test_payload_over_6_mb_is_refused_before_sending(smctl, model_url, tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * (MAX_PAYLOAD + 1))
    res = smctl("invoke", model_url, "--data", f"@{big}")
    assert res.exit_code == 2
    assert "request body is 6,291,457 bytes, over the 6,291,456-byte limit that SageMaker enforces" in res.stderr
    assert "--max-payload BYTES (SageMaker will not)" in res.stderr
    assert _Model.received == []


def test_max_payload_raises_the_limit_with_a_warning(smctl, model_url, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (MAX_PAYLOAD + 1))
    res = smctl("invoke", model_url, "--data", f"@{big}", "--max-payload", str(MAX_PAYLOAD * 2))
    assert res.exit_code == 0
    assert "SageMaker's limit stays 6,291,456 bytes" in res.stderr
    assert _Model.received[0]["size"] == MAX_PAYLOAD + 1


def test_timeout_exits_5_and_says_sagemaker_will_not_wait_longer(smctl, model_url):
    res = smctl("invoke", model_url, "--data", "slow", "--timeout", "0.5")
    assert res.exit_code == 5
    assert "did not answer within 0.5 s" in res.stderr
    assert "SageMaker still gives up after 60 s" in res.stderr


def test_missing_data_file_is_a_usage_error(smctl, model_url, tmp_path):
    res = smctl("invoke", model_url, "--data", f"@{tmp_path / 'nope.csv'}")
    assert res.exit_code == 2
    assert f"data file {tmp_path / 'nope.csv'} does not exist" in res.stderr


def test_unreachable_url_names_it(smctl):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = smctl("invoke", f"http://127.0.0.1:{port}", "--data", "x")
    assert res.exit_code == 1
    assert f"http://127.0.0.1:{port}/invocations cannot be reached" in res.stderr
    assert "Hint: check it runs: smctl endpoints" in res.stderr


@pytest.mark.docker
def test_invoke_on_an_endpoint_that_does_not_exist(smctl, docker_client):
    res = smctl("invoke", "smctl-test-no-such-endpoint", "--data", "x")
    assert res.exit_code == 1
    assert "endpoint 'smctl-test-no-such-endpoint' does not exist" in res.stderr
    assert "Hint: start it with `smctl local-serve --name smctl-test-no-such-endpoint`" in res.stderr
