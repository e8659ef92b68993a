"""The generated `serve` in a real container: nginx hands each request to an idle worker over kept-open
connections, and the server keeps what SageMaker needs (keep-alive, respawn, timeout, graceful SIGTERM, streams).

The model's code/inference.py (which wins over the image's) answers its worker's pid, and can hold a request until
the test releases it: tests wait on what the server did (files the workers write), never on how long it took.
"""

from __future__ import annotations

import http.client
import io
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import TEST_LABELS, run_cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]

INFERENCE = '''
import os, time

def model_fn(model_dir):
    return None

def _wait_for(path):
    while not os.path.exists(path):
        time.sleep(0.01)

def transform_fn(model, body, content_type, accept):
    word, _, arg = body.decode().partition(" ")
    if word == "hold":  # say it is in progress, then wait for the test's release
        open(f"/tmp/holding-{arg}-{os.getpid()}", "w").close()
        _wait_for(f"/tmp/release-{arg}")
    elif word == "sleep":
        time.sleep(float(arg))
    elif word == "stream":
        return _stream(arg == "fail"), "text/plain"
    return str(os.getpid()), "text/plain"

def _stream(fail):
    yield "first\\n"
    _wait_for("/tmp/go")
    if fail:
        raise RuntimeError("the model broke midway")
    yield "second\\n"
'''


@pytest.fixture(scope="module")
def image(tmp_path_factory, docker_client) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("server")
    name = f"server-{uuid.uuid4().hex[:8]}"
    assert run_cli("init", name, "--preset", "python", cwd=folder).exit_code == 0
    labels = [a for k, v in TEST_LABELS.items() for a in ("--label", f"{k}={v}")]
    result = run_cli("build", *labels, cwd=folder / name)
    assert result.exit_code == 0, result.stderr
    yield f"{name}:latest"
    docker_client.images.remove(f"{name}:latest", force=True)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    model = tmp_path_factory.mktemp("model")
    (model / "code").mkdir()
    (model / "code" / "inference.py").write_text(INFERENCE)
    return model


class Server:
    def __init__(self, container, port: int):
        self.container, self.port = container, port

    def connection(self, timeout: float = 60) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def post(self, conn: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes, bool]:
        conn.request("POST", "/invocations", body=body, headers={"Content-Type": "text/plain"})
        response = conn.getresponse()
        return response.status, response.read(), response.will_close

    def ask(self, body: bytes) -> tuple[int, bytes]:
        conn = self.connection()
        try:
            status, answer, _ = self.post(conn, body)
            return status, answer
        finally:
            conn.close()

    def sh(self, script: str) -> str:
        code, out = self.container.exec_run(["sh", "-c", script])
        assert code == 0, out
        return out.decode()

    def wait_files(self, pattern: str, count: int, seconds: float = 60) -> list[str]:
        """The names of /tmp files matching `pattern` once there are `count` of them (fails after `seconds`)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            names = self.sh(f"cd /tmp && ls {pattern} 2>/dev/null || true").split()
            if len(names) >= count:
                return names
            time.sleep(0.05)
        raise AssertionError(f"{count} /tmp/{pattern} never appeared (got {names})")

    def wait_workers(self) -> None:
        """Until every worker's socket accepts connections (nginx answers as soon as the first one does)."""
        probe = ("import glob, socket, sys, time\n"
                 "deadline = time.monotonic() + 60\n"
                 "while time.monotonic() < deadline:\n"
                 "    up = 0\n"
                 "    for path in glob.glob('/tmp/smctl-serve/worker-*.sock'):\n"
                 "        with socket.socket(socket.AF_UNIX) as s:\n"
                 "            up += s.connect_ex(path) == 0\n"
                 "    if up == int(sys.argv[1]):\n"
                 "        sys.exit(0)\n"
                 "    time.sleep(0.02)\n"
                 "sys.exit(1)\n")
        code, out = self.container.exec_run(["python3", "-c", probe, "2"])
        assert code == 0, f"the two workers never both listened: {out!r}"

    def processes(self) -> str:
        return self.sh("for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done")


def start(docker_client, image: str, model_dir: Path, env: dict[str, str] | None = None,
          port: int = 8080) -> Server:
    container = docker_client.containers.run(
        image, ["serve"], detach=True, labels=dict(TEST_LABELS), environment=env or {},
        ports={f"{port}/tcp": ("127.0.0.1", None)}, volumes={str(model_dir): {"bind": "/opt/ml/model", "mode": "ro"}})
    container.reload()
    host_port = int(container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"][0]["HostPort"])
    server = Server(container, host_port)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn = server.connection(timeout=5)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                conn.close()
                return server
            conn.close()
        except (OSError, http.client.HTTPException):
            pass
        container.reload()
        assert container.status == "running", container.logs().decode()[-3000:]
        time.sleep(0.1)
    raise AssertionError(f"/ping never answered 200:\n{container.logs().decode()[-3000:]}")


def _in_parallel(calls) -> list:
    results: list = [None] * len(calls)

    def run(i: int) -> None:
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_two_kept_open_connections_are_served_by_two_workers_at_once(docker_reaper, image, model_dir):
    """Batch transform opens MaxConcurrentTransforms (= workers) connections and keeps them: each request must find
    an idle worker, or a CPU-bound model runs on one core while the other idles."""
    server = start(docker_reaper, image, model_dir, {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"})
    server.wait_workers()
    conns = [server.connection(), server.connection()]
    for conn in conns:  # both connections open and used before the test
        assert server.post(conn, b"pid")[0] == 200
    for round_ in range(3):
        calls = [lambda c=c, r=round_: server.post(c, f"hold {r}".encode()) for c in conns]
        results: list = []
        sender = threading.Thread(target=lambda out=results, todo=calls: out.extend(_in_parallel(todo)))
        sender.start()
        holding = server.wait_files(f"holding-{round_}-*", 2)  # both requests in progress at the same time
        server.sh(f"touch /tmp/release-{round_}")
        sender.join(60)
        assert [status for status, _, _ in results] == [200, 200]
        pids = {answer.decode() for _, answer, _ in results}
        assert len(pids) == 2 and {f"holding-{round_}-{pid}" for pid in pids} == set(holding)
        assert not any(will_close for _, _, will_close in results)  # the connections stay open
    for conn in conns:
        conn.close()
    assert "nginx" in server.processes()


def test_one_connection_is_kept_alive_across_requests(docker_reaper, image, model_dir):
    server = start(docker_reaper, image, model_dir, {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"})
    server.wait_workers()
    conn = server.connection()
    server.post(conn, b"pid")
    sock = conn.sock
    answers = [server.post(conn, b"pid") for _ in range(20)]
    assert all(status == 200 and not will_close for status, _, will_close in answers)
    assert conn.sock is sock  # never reconnected
    assert len({answer for _, answer, _ in answers}) == 2  # and its requests went to both workers
    conn.close()


def test_a_killed_worker_is_started_again_and_requests_keep_being_answered(docker_reaper, image, model_dir):
    server = start(docker_reaper, image, model_dir, {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"})
    server.wait_workers()
    before = {server.ask(b"pid")[1].decode() for _ in range(4)}
    assert len(before) == 2
    killed = sorted(before)[0]
    server.sh(f"kill -9 {killed}")
    deadline = time.monotonic() + 60
    while server.container.logs().count(b"[INFO] Started worker-1") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # two at the start, one in place of the killed worker
    answers = [server.ask(b"pid") for _ in range(12)]
    assert all(status == 200 for status, _ in answers), answers
    after = {answer.decode() for _, answer in answers}
    assert killed not in after and len(after) == 2  # the survivor and the worker started in its place


def test_a_request_over_the_timeout_ends_its_worker_and_says_why(docker_reaper, image, model_dir):
    server = start(docker_reaper, image, model_dir,
                   {"SAGEMAKER_MODEL_SERVER_WORKERS": "2", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "2"})
    status, answer = server.ask(b"sleep 8")
    assert status == 502 and b"SAGEMAKER_MODEL_SERVER_TIMEOUT" in answer
    assert b"over SAGEMAKER_MODEL_SERVER_TIMEOUT (2 s): restarting this worker" in server.container.logs()
    assert all(server.ask(b"pid")[0] == 200 for _ in range(4))


def test_sigterm_lets_the_request_in_progress_finish_then_exits_0(docker_reaper, image, model_dir):
    server = start(docker_reaper, image, model_dir, {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"})
    results: list = []
    sender = threading.Thread(target=lambda: results.append(server.ask(b"hold stop")))
    sender.start()
    server.wait_files("holding-stop-*", 1)
    server.container.kill(signal="SIGTERM")
    deadline = time.monotonic() + 30
    while b"stopping (SIGTERM)" not in server.container.logs() and time.monotonic() < deadline:
        time.sleep(0.05)  # the release must come after serve started stopping
    server.sh("touch /tmp/release-stop")
    sender.join(60)
    assert results and results[0][0] == 200
    assert server.container.wait(timeout=60)["StatusCode"] == 0
    logs = server.container.logs().decode()
    assert "stopping (SIGTERM)" in logs and "exited (" not in logs


def test_a_stream_goes_out_part_by_part_through_nginx(docker_reaper, image, model_dir):
    server = start(docker_reaper, image, model_dir, {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"})
    conn = server.connection(timeout=30)
    conn.request("POST", "/invocations", body=b"stream", headers={"Content-Type": "text/plain"})
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("Transfer-Encoding") == "chunked"
    assert response.read1() == b"first\n"  # before the model produced the second part (it waits for /tmp/go)
    server.sh("touch /tmp/go")
    assert response.read() == b"second\n"
    conn.close()


def test_a_stream_that_breaks_midway_is_cut_without_its_last_chunk(docker_reaper, image, model_dir):
    server = start(docker_reaper, image, model_dir, {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"})
    conn = server.connection(timeout=30)
    conn.request("POST", "/invocations", body=b"stream fail", headers={"Content-Type": "text/plain"})
    response = conn.getresponse()
    assert response.status == 200 and response.read1() == b"first\n"
    server.sh("touch /tmp/go")  # now the model raises
    with pytest.raises(http.client.IncompleteRead) as cut:
        response.read()
    assert cut.value.partial == b""  # nothing more, and never the last chunk
    conn.close()


def test_a_body_over_6_mb_is_413_in_serving_words(docker_reaper, image, model_dir):
    server = start(docker_reaper, image, model_dir, {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"})
    for _ in range(3):  # refused by nginx before a worker sees it (a worker refusing unread bodies raced: 502)
        status, answer = server.ask(b"x" * (6 * 1024 * 1024 + 1))
        assert (status, answer) == (413, b"request body over the 6291456 byte limit (6 MB)")
    assert server.ask(b"pid")[0] == 200


def test_batch_transform_bodies_follow_max_payload_in_mb(docker_reaper, image, model_dir):
    server = start(docker_reaper, image, model_dir, {"SAGEMAKER_MODEL_SERVER_WORKERS": "2", "SAGEMAKER_BATCH": "true",
                                                     "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1"})
    assert server.ask(b"x" * (1024 * 1024 + 1)) == (413, b"request body over the 1048576 byte limit (1 MB)")
    assert server.ask(b"pid")[0] == 200


def test_one_worker_is_granian_alone_on_the_port(docker_reaper, image, model_dir):
    server = start(docker_reaper, image, model_dir, {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"})
    assert server.ask(b"pid")[0] == 200
    processes = server.processes()
    assert "nginx" not in processes and "--port 8080" in processes


def test_bind_to_port_moves_nginx(docker_reaper, image, model_dir):
    server = start(docker_reaper, image, model_dir,
                   {"SAGEMAKER_MODEL_SERVER_WORKERS": "2", "SAGEMAKER_BIND_TO_PORT": "9090"}, port=9090)
    assert server.ask(b"pid")[0] == 200
    assert "listen 9090 " in server.sh("cat /tmp/smctl-serve/nginx.conf")


def test_without_nginx_in_the_image_granian_workers_take_the_port(docker_reaper, docker_client, image, model_dir):
    tag = f"{image.split(':')[0]}-no-nginx:latest"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        dockerfile = f"FROM {image}\nRUN rm /usr/sbin/nginx\n".encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    context.seek(0)
    docker_client.images.build(fileobj=context, custom_context=True, tag=tag, labels=dict(TEST_LABELS), rm=True)
    try:
        server = start(docker_reaper, tag, model_dir, {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"})
        assert server.ask(b"pid")[0] == 200
        assert "nginx is not installed" in server.container.logs().decode()
        assert "--workers 2" in server.processes()
        server.container.remove(force=True)
    finally:
        docker_client.images.remove(tag, force=True)

