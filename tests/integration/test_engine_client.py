"""The engine client: the API version read from one /_ping is the one docker-py would negotiate with GET /version."""

from __future__ import annotations

import socket
import threading

import pytest

from smctl.engine.client import EngineAddress, engine, open_client, pinged_api_version, resolve_endpoint

pytestmark = pytest.mark.docker


def test_the_pinged_version_is_the_one_docker_py_negotiates():
    endpoint = resolve_endpoint()
    if endpoint.socket_path is None:
        pytest.skip(f"the engine is not on a unix socket here ({endpoint.host})")
    negotiated = open_client(endpoint).api.api_version  # docker-py's own GET /version
    assert pinged_api_version(endpoint) == negotiated
    client = engine()
    assert client.api.api_version == negotiated
    assert client.ping() is True


def test_no_version_from_something_that_is_not_the_engine(tmp_path):
    path = tmp_path / "not-docker.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        server.settimeout(5)
        endpoint = EngineAddress(f"unix://{path}", "DOCKER_HOST")

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

        t = threading.Thread(target=answer, daemon=True)
        t.start()
        assert pinged_api_version(endpoint) is None  # engine() then lets docker-py negotiate and ping as before
        t.join(5)
    assert pinged_api_version(EngineAddress("tcp://127.0.0.1:2375", "DOCKER_HOST")) is None


def test_a_socket_that_accepts_but_never_answers_is_told_as_a_hung_engine(tmp_path, monkeypatch):
    from smctl.engine.client import CONNECT_TIMEOUT
    from smctl.errors import DockerError

    path = tmp_path / "hung.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)  # the kernel accepts the connection; nobody ever reads or answers
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        with pytest.raises(DockerError) as err:
            engine()
    assert f"does not answer within {CONNECT_TIMEOUT:g} s" in err.value.message
    assert "DOCKER_HOST" in err.value.message
