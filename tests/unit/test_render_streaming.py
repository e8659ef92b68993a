"""The generated serving code streams a generator's items as HTTP chunks: served by a real HTTP server (werkzeug's,
HTTP/1.1) and read with smctl's own streaming client, outside Docker."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from smctl.errors import ModelStreamError
from smctl.project.render import ScaffoldOptions, plan_scaffold
from smctl.project.scaffold import write_scaffold
from smctl.serving.streaming import open_stream
from tests.unit.test_render_program import _client, _load

GATED = """
import os, time
def model_fn(d): return None
def transform_fn(model, body, content_type, accept):
    gate = body.decode()
    def tokens():
        yield "first "
        for _ in range(3000):  # the rest only once the test has seen the first part
            if os.path.exists(gate):
                break
            time.sleep(0.01)
        yield b"second "
        if accept == "text/x-fail":
            raise RuntimeError("the model broke midway")
        yield "third"
    return tokens(), "text/x-tokens"
"""


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    folder = tmp_path_factory.mktemp("generated") / "demo"
    write_scaffold(folder, plan_scaffold(ScaffoldOptions(preset="python", name="demo"), folder))
    return _load(folder / "program" / "serving.py", "generated_serving_stream")


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").write_text('{"means": [1.0, 2.0]}')
    return tmp_path / "model"


@contextlib.contextmanager
def http_server(serving: ModuleType, model_dir: Path, module: Path) -> Iterator[str]:
    """The generated app behind werkzeug's HTTP/1.1 server (chunked for bodies of unknown length, as granian)."""
    _client(serving, model_dir, module)  # waits until the model is loaded, as /ping would

    class Http11(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"

    server = make_server("127.0.0.1", 0, serving.create_app(model_dir, module), threaded=True,
                         request_handler=Http11)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/invocations"
    finally:
        server.shutdown()


@pytest.fixture
def server_url(serving, model_dir, tmp_path) -> Iterator[str]:
    module = tmp_path / "gated.py"
    module.write_text(GATED)
    with http_server(serving, model_dir, module) as url:
        yield url


def test_a_generator_is_sent_part_by_part_while_it_still_runs(server_url, tmp_path):
    gate = tmp_path / "go"
    stream = open_stream(server_url, str(gate).encode(), {"Content-Type": "text/plain"}, timeout=30)
    try:
        assert stream.status == 200 and stream.headers["content-type"].startswith("text/x-tokens")
        assert stream.headers["transfer-encoding"] == "chunked"
        parts = stream.parts()
        assert next(parts) == b"first "  # the generator is still waiting for the gate
        gate.touch()
        assert b"".join(parts) == b"second third"
    finally:
        stream.close()


def test_an_error_midway_breaks_the_stream_instead_of_ending_it(server_url, tmp_path):
    gate = tmp_path / "go"
    gate.touch()
    stream = open_stream(server_url, str(gate).encode(), {"Content-Type": "text/plain", "Accept": "text/x-fail"},
                         timeout=30)
    received = []
    try:
        with pytest.raises(ModelStreamError) as caught:
            for part in stream.parts():
                received.append(part)
    finally:
        stream.close()
    assert b"".join(received) == b"first second "
    assert caught.value.error_code == "StreamBroken"


@pytest.mark.parametrize(("accept", "expected"), [("text/csv", "2.8284\n7.2111"),
                                                  ("application/jsonlines", "2.8284\n7.2111"),
                                                  ("application/json", "[2.8284, 7.2111]")])
def test_the_python_preset_streams_csv_and_json_lines_and_gathers_json(serving, model_dir, accept, expected):
    """Its predict_fn returns a generator: the bytes are those of a list answer, streamed only where lines allow."""
    inference = Path(serving.__file__).parent / "inference.py"
    with http_server(serving, model_dir, inference) as url:
        stream = open_stream(url, b"3,4\n5,8\n", {"Content-Type": "text/csv", "Accept": accept}, timeout=30)
        try:
            body = b"".join(stream.parts())
        finally:
            stream.close()
    assert stream.status == 200
    assert body.decode() == expected
    assert (stream.headers.get("transfer-encoding") == "chunked") == (accept != "application/json")


def test_batch_transform_gets_a_generator_as_one_body(serving, model_dir, tmp_path, monkeypatch):
    """The platform reads whole answers: a chunk per record would cost 57,000 chunks for a 6 MB CSV batch."""
    monkeypatch.setenv("SAGEMAKER_BATCH", "true")
    inference = Path(serving.__file__).parent / "inference.py"
    with http_server(serving, model_dir, inference) as url:
        stream = open_stream(url, b"3,4\n5,8\n", {"Content-Type": "text/csv", "Accept": "text/csv"}, timeout=30)
        try:
            body = b"".join(stream.parts())
        finally:
            stream.close()
    assert stream.status == 200 and body == b"2.8284\n7.2111"
    assert "transfer-encoding" not in stream.headers and stream.headers["content-length"] == str(len(body))


def test_in_batch_transform_an_error_midway_is_a_500_with_its_message(serving, model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_BATCH", "true")
    module = tmp_path / "gated.py"
    module.write_text(GATED)
    gate = tmp_path / "go"
    gate.touch()
    client = _client(serving, model_dir, module)
    answer = client.post("/invocations", data=str(gate).encode(),
                         headers={"Content-Type": "text/plain", "Accept": "text/x-fail"})
    assert answer.status_code == 500
    assert answer.get_data(as_text=True) == "RuntimeError: the model broke midway"
