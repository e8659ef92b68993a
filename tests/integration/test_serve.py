"""`smctl local-serve`, `endpoints`, `invoke`, `logs` and `local-stop` against the real engine and serve-* images."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import tarfile
from pathlib import Path

import pytest

from smctl.errors import ContainerFailedError
from smctl.serving.endpoint import ServeConfig, plan_endpoint
from smctl.serving.lifecycle import running_endpoint
from tests.helpers import TEST_LABELS, WORKER
from tests.integration import serving_fixtures
from tests.integration.serving_fixtures import Foreground, endpoint_containers

pytestmark = pytest.mark.docker
serve_images = serving_fixtures.serve_images
endpoint_name = serving_fixtures.endpoint_name


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _corrupt(path: Path) -> Path:
    path.write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(64))
    return path


def _serve(smctl, tmp_path, image, name, *args):
    return smctl("--json", "local-serve", "--image", image, "--name", name, "--detach", *args, cwd=tmp_path)


def test_detached_endpoint_answers_lists_logs_and_stops(smctl, serve_images, endpoint_name, tmp_path, docker_client):
    name = endpoint_name("ok")
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"w")
    res = _serve(smctl, tmp_path, serve_images["ok"], name, "--model", model, "--port", "0", "--env", "GREETING=hi",
                 "--instance-type", "ml.m5.large")
    assert res.exit_code == 0, res.stderr
    ready = res.json["result"]
    assert ready["name"] == name
    assert ready["url"] == f"http://127.0.0.1:{ready['port']}"

    res = smctl("invoke", name, "--data", "hello world")
    assert (res.exit_code, res.stdout) == (0, "HELLO WORLD")
    assert "HTTP 200 in" in res.stderr

    seen = json.loads(smctl("--json", "invoke", name, "--data", "__model__").json["result"]["body"])
    assert seen["files"] == ["weights.bin"]
    assert seen["env"]["GREETING"] == "hi"

    rows = {e["name"]: e for e in smctl("--json", "endpoints").json["result"]["endpoints"]}
    assert rows[name]["status"] == "InService"
    assert (rows[name]["url"], rows[name]["image"], rows[name]["model"]) == (ready["url"], serve_images["ok"],
                                                                            str(model))
    assert "listening on 0.0.0.0:8080" in smctl("logs", name).stdout

    (container,) = endpoint_containers(docker_client, name)
    host = container.attrs["HostConfig"]
    assert container.attrs["Config"]["Cmd"] == ["serve"]
    assert host["Memory"] == 8 * 1024**3  # ml.m5.large
    assert host["PortBindings"]["8080/tcp"][0]["HostIp"] == "127.0.0.1"
    assert [(m["Destination"], m["RW"]) for m in container.attrs["Mounts"]] == [("/opt/ml/model", True)]

    res = smctl("local-stop", name)
    assert (res.exit_code, res.stdout) == (0, f"stopped {name}\n")
    assert endpoint_containers(docker_client, name) == []


def test_model_tar_gz_is_extracted_into_the_run_folder_and_removed_on_stop(smctl, serve_images, endpoint_name,
                                                                           tmp_path, docker_client):
    name = endpoint_name("tar")
    archive = _tarball(tmp_path / "model.tar.gz", {"weights.bin": b"w", "code/inference.py": b"# handler\n"})
    res = _serve(smctl, tmp_path, serve_images["ok"], name, "--model", archive, "--port", "0", "--read-only-model")
    assert res.exit_code == 0, res.stderr
    run_dir = tmp_path / ".smctl" / "endpoints" / name
    assert sorted(p.name for p in (run_dir / "model").iterdir()) == ["code", "weights.bin"]
    seen = json.loads(smctl("--json", "invoke", name, "--data", "__model__").json["result"]["body"])
    assert seen["files"] == ["code/inference.py", "weights.bin"]
    (container,) = endpoint_containers(docker_client, name)
    assert [(m["Destination"], m["RW"]) for m in container.attrs["Mounts"]] == [("/opt/ml/model", False)]
    assert smctl("local-stop", name).exit_code == 0
    assert not run_dir.exists()


def test_an_archive_wrapped_in_a_folder_is_warned_about_and_still_served(smctl, serve_images, endpoint_name,
                                                                         tmp_path):
    name = endpoint_name("nested")
    archive = _tarball(tmp_path / "model.tar.gz", {"model/weights.bin": b"w", "model/code/inference.py": b"#\n"})
    res = _serve(smctl, tmp_path, serve_images["ok"], name, "--model", archive, "--port", "0")
    assert res.exit_code == 0, res.stdout
    (warning,) = [w for w in res.json["warnings"] if "inside the folder" in w]
    assert warning.startswith(f"model {archive}: everything is inside the folder model/: SageMaker extracts the "
                              "archive into /opt/ml/model, so your files land in /opt/ml/model/model/")
    assert warning.endswith("fix it: pack the folder's contents, not the folder: smctl package pack model "
                            "-o model.tar.gz")
    assert smctl("local-stop", name).exit_code == 0


def test_a_well_laid_out_archive_gets_no_layout_warning(smctl, serve_images, endpoint_name, tmp_path):
    name = endpoint_name("flat")
    archive = _tarball(tmp_path / "model.tar.gz", {"weights.bin": b"w", "code/inference.py": b"#\n"})
    res = _serve(smctl, tmp_path, serve_images["ok"], name, "--model", archive, "--port", "0")
    assert res.exit_code == 0, res.stdout
    assert not [w for w in res.json["warnings"] if w.startswith("model ")]
    assert smctl("local-stop", name).exit_code == 0


def test_two_endpoints_run_at_once(smctl, serve_images, endpoint_name, tmp_path, docker_client):
    first, second = endpoint_name("a"), endpoint_name("b")
    for name in (first, second):
        assert _serve(smctl, tmp_path, serve_images["ok"], name, "--port", "0").exit_code == 0
    assert smctl("invoke", first, "--data", "one").stdout == "ONE"
    assert smctl("invoke", second, "--data", "two").stdout == "TWO"
    names = {e["name"] for e in smctl("--json", "endpoints").json["result"]["endpoints"]}
    assert {first, second} <= names
    res = smctl("--json", "local-stop", first, second)
    assert sorted(res.json["result"]["stopped"]) == sorted([first, second])
    assert endpoint_containers(docker_client, first) == endpoint_containers(docker_client, second) == []


@pytest.mark.parametrize(("fault", "args", "expected"), [
    ("crash", (), ["exited with code 3 while starting", "RuntimeError: weights are corrupt"]),
    ("localhost", (), ["listens on 127.0.0.1:8080 only", "Hint: listen on 0.0.0.0:8080"]),
])
def test_faulty_container_exits_5_with_the_reason_and_leaves_nothing(smctl, serve_images, endpoint_name, tmp_path,
                                                                     docker_client, fault, args, expected):
    name = endpoint_name(fault)
    res = smctl("local-serve", "--image", serve_images[fault], "--name", name, "--port", "0", *args, cwd=tmp_path)
    assert res.exit_code == 5
    for text in expected:
        assert text in res.stderr
    assert "Traceback" not in res.stderr
    assert endpoint_containers(docker_client, name) == []
    assert not (tmp_path / ".smctl" / "endpoints" / name).exists()


def test_a_never_healthy_start_pings_every_couple_of_seconds_and_shows_the_last_traceback(
        serve_images, endpoint_name, tmp_path, docker_client):
    name = endpoint_name("pings")
    config = ServeConfig(image=serve_images["never-healthy"], name=name, project_root=tmp_path, port=0,
                         instance_type="local", startup_timeout=8)  # the library takes any timeout; the flag 60-3600
    lines: list[str] = []
    with pytest.raises(ContainerFailedError) as caught, running_endpoint(
            plan_endpoint(config), lambda kind, data: lines.append(data.get("line", ""))):
        pass
    message = str(caught.value)
    assert f"endpoint {name} did not become healthy within 8 s (last /ping: HTTP 503 'still loading'" in message
    pings = sum("Traceback (most recent call last)" in line for line in lines)  # one per /ping, streamed
    assert 10 <= pings <= 20, f"{pings} pings in 8 s"  # 10 in the first second, then backing off; 5-50 ms made ~500
    log_file = tmp_path / ".smctl" / "logs" / f"{name}.log"
    assert 1 <= log_file.read_text().count("Traceback (most recent call last)") <= 20  # saved at the deadline
    assert f"the end of its log (the whole log: {log_file})" in message
    excerpt = message.split("the whole log:", 1)[1].splitlines()[1:]
    assert excerpt[0].strip() == "Traceback (most recent call last):"
    assert excerpt[-1].strip() == "RuntimeError: model not loaded: weights.bin is missing"
    assert len(excerpt) < 20
    assert endpoint_containers(docker_client, name) == []


def test_a_crash_while_starting_keeps_its_whole_log_in_a_file(smctl, serve_images, endpoint_name, tmp_path):
    name = endpoint_name("crashlog")
    res = smctl("local-serve", "--image", serve_images["crash"], "--name", name, "--port", "0", cwd=tmp_path)
    assert res.exit_code == 5
    log_file = tmp_path / ".smctl" / "logs" / f"{name}.log"
    assert f"(the whole log: {log_file})" in res.stderr
    assert "RuntimeError: weights are corrupt" in log_file.read_text()


def test_slow_ping_is_a_warning_and_the_endpoint_still_starts(smctl, serve_images, endpoint_name, tmp_path):
    name = endpoint_name("slow")
    res = _serve(smctl, tmp_path, serve_images["slow"], name, "--port", "0")
    assert res.exit_code == 0, res.stdout
    assert any("/ping took more than 2 s" in w for w in res.json["warnings"])
    assert smctl("local-stop", name).exit_code == 0


def test_container_error_on_invoke_is_a_model_error_exit_5(smctl, serve_images, endpoint_name, tmp_path):
    name = endpoint_name("e500")
    assert _serve(smctl, tmp_path, serve_images["error500"], name, "--port", "0").exit_code == 0
    res = smctl("invoke", name, "--data", "hello")
    assert res.exit_code == 5
    assert f"endpoint {name} answered HTTP 500" in res.stderr
    assert "model exploded: hello" in res.stderr
    assert f"Hint: fix the error shown in the container's logs: smctl logs {name}" in res.stderr


def test_invoke_sends_the_container_only_sagemakers_headers(smctl, serve_images, endpoint_name, tmp_path):
    name = endpoint_name("hdrs")
    assert _serve(smctl, tmp_path, serve_images["ok"], name, "--port", "0").exit_code == 0
    try:
        res = smctl("invoke", name, "--data", "__headers__", "--content-type", "application/json", "--accept",
                    "application/json")
        assert res.exit_code == 0, res.stderr
        seen = json.loads(res.stdout)
        assert set(seen) == {"host", "content-length", "content-type", "accept"}  # no Accept-Encoding
    finally:
        smctl("local-stop", name)


def test_local_stop_stops_the_names_it_knows_then_reports_the_unknown_one(smctl, serve_images, endpoint_name,
                                                                         tmp_path, docker_client):
    name, unknown = endpoint_name("known"), endpoint_name("unknown")
    assert _serve(smctl, tmp_path, serve_images["ok"], name, "--port", "0").exit_code == 0
    res = smctl("local-stop", name, unknown)
    assert res.exit_code == 1
    assert res.stdout == f"stopped {name}\n"
    assert res.stderr.startswith(f"Error: endpoint '{unknown}' does not exist")
    assert f"(stopped: {name})" in res.stderr
    assert endpoint_containers(docker_client, name) == []


def test_a_stop_waiting_on_an_image_that_ignores_sigterm_says_so(smctl, serve_images, endpoint_name, tmp_path,
                                                                 docker_client):
    from smctl.engine.containers import docker_client as smctl_client
    from smctl.serving.registry import get_endpoint, stop_endpoint

    name = endpoint_name("sigterm")
    res = _serve(smctl, tmp_path, serve_images["ok"], name, "--port", "0", "--env", "SERVE_IGNORE_SIGTERM=1")
    assert res.exit_code == 0, res.stdout
    client = smctl_client()
    events: list[tuple[str, dict]] = []
    stop_endpoint(client, get_endpoint(client, name), grace=5, on_event=lambda kind, data: events.append((kind, data)))
    assert [kind for kind, _ in events] == ["stopping"]
    message = events[0][1]["message"]
    assert message.startswith(f"{name} is still stopping after 2 s: waiting up to 5 s for a graceful stop")
    assert f"an image that ignores SIGTERM always takes the full 5 s (see `smctl check {serve_images['ok']}`)" \
        in message
    assert endpoint_containers(docker_client, name) == []


def test_a_quick_stop_says_nothing_more(smctl, serve_images, endpoint_name, tmp_path, docker_client):
    from smctl.engine.containers import docker_client as smctl_client
    from smctl.serving.registry import get_endpoint, stop_endpoint

    name = endpoint_name("quickstop")
    assert _serve(smctl, tmp_path, serve_images["ok"], name, "--port", "0").exit_code == 0
    client = smctl_client()
    events: list[tuple[str, dict]] = []
    stop_endpoint(client, get_endpoint(client, name), on_event=lambda kind, data: events.append((kind, data)))
    assert events == []


def test_port_held_by_a_process_names_it_and_the_fix(smctl, serve_images, endpoint_name, tmp_path, docker_client):
    name = endpoint_name("pproc")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        res = smctl("local-serve", "--image", serve_images["ok"], "--name", name, "--port", str(port), cwd=tmp_path)
    assert res.exit_code == 1
    assert f"port {port} on 127.0.0.1 is already in use by process " in res.stderr
    assert f"(pid {os.getpid()})" in res.stderr
    assert f"Hint: pick another port (--port 0 picks a free one), or free it: kill {os.getpid()}" in res.stderr
    assert endpoint_containers(docker_client, name) == []


def test_port_held_by_an_endpoint_names_it_and_how_to_stop_it(smctl, serve_images, endpoint_name, tmp_path):
    first, second = endpoint_name("holder"), endpoint_name("late")
    port = _serve(smctl, tmp_path, serve_images["ok"], first, "--port", "0").json["result"]["port"]
    res = smctl("local-serve", "--image", serve_images["ok"], "--name", second, "--port", str(port), cwd=tmp_path)
    assert res.exit_code == 1
    assert f"already in use by smctl endpoint '{first}' (container smctl-endpoint-{first}, id " in res.stderr
    assert f"free it: smctl local-stop {first}" in res.stderr


def test_port_held_by_another_container_names_it(smctl, serve_images, endpoint_name, tmp_path, docker_client):
    name = endpoint_name("pcont")
    other = docker_client.containers.run("python:3.11-slim", ["sleep", "60"], detach=True,
                                         labels=TEST_LABELS,
                                         ports={"9999/tcp": ("127.0.0.1", None)}, name=f"smctl-test-holder-{WORKER}")
    try:
        other.reload()
        port = int(other.ports["9999/tcp"][0]["HostPort"])
        res = smctl("local-serve", "--image", serve_images["ok"], "--name", name, "--port", str(port), cwd=tmp_path)
    finally:
        other.remove(force=True)
    assert res.exit_code == 1
    assert f"in use by container smctl-test-holder-{WORKER}, id {other.id[:12]}" in res.stderr
    assert f"free it: docker rm -f smctl-test-holder-{WORKER}" in res.stderr


def test_endpoint_name_taken(smctl, serve_images, endpoint_name, tmp_path):
    name = endpoint_name("taken")
    assert _serve(smctl, tmp_path, serve_images["ok"], name, "--port", "0").exit_code == 0
    res = smctl("local-serve", "--image", serve_images["ok"], "--name", name, "--port", "0", cwd=tmp_path)
    assert res.exit_code == 2
    assert f"Error: endpoint name '{name}' is taken (container smctl-endpoint-{name} is running)" in res.stderr
    assert f"smctl local-stop {name}" in res.stderr


@pytest.mark.parametrize(("make", "code", "message"), [
    (lambda d: d / "missing", 2, "does not exist"),
    (lambda d: _tarball(d / "model.tar.gz", {"../evil.txt": b"x"}), 6, "evil.txt"),
    (lambda d: _corrupt(d / "model.tar.gz"), 1, "model.tar.gz"),
])
def test_bad_model_fails_before_any_container(smctl, serve_images, endpoint_name, tmp_path, docker_client, make,
                                              code, message):
    name = endpoint_name("badmodel")
    res = smctl("local-serve", "--image", serve_images["ok"], "--name", name, "--model", make(tmp_path),
                "--port", "0", cwd=tmp_path)
    assert res.exit_code == code, res.stderr
    assert message in res.stderr
    assert "Hint:" in res.stderr
    assert endpoint_containers(docker_client, name) == []
    assert not (tmp_path / ".smctl" / "endpoints" / name).exists()


def test_missing_image_hints_at_smctl_build(smctl, endpoint_name, tmp_path, docker_client):
    res = smctl("local-serve", "--image", "smctl-test-no-such-image:1", "--name", endpoint_name("noimg"),
                "--port", "0", cwd=tmp_path)
    assert res.exit_code == 2
    assert "image smctl-test-no-such-image:1 is not in the local Docker engine" in res.stderr
    assert "Hint: build it first: smctl build" in res.stderr


def test_port_out_of_range_is_a_usage_error(smctl, serve_images, endpoint_name, tmp_path):
    res = smctl("local-serve", "--image", serve_images["ok"], "--name", endpoint_name("range"), "--port", "70000",
                cwd=tmp_path)
    assert res.exit_code == 2
    assert "port 70000 is out of range" in res.stderr
    assert "--port 0" in res.stderr


@pytest.mark.parametrize("host", ["127.0.0.l", "not-an-ip"])
def test_a_host_that_is_not_an_ip_is_refused_instead_of_published_everywhere(smctl, serve_images, endpoint_name,
                                                                              tmp_path, docker_client, host):
    name = endpoint_name("badhost")
    res = _serve(smctl, tmp_path, serve_images["ok"], name, "--port", "0", "--host", host)
    assert res.exit_code == 2, res.stdout
    assert f"--host must be an IP address (127.0.0.1, ::1, 0.0.0.0, ::) or localhost, got '{host}'" in \
        res.json["error"]["message"]
    assert endpoint_containers(docker_client, name) == []


@pytest.mark.parametrize(("host", "published", "warned"), [
    ("localhost", "127.0.0.1", False), ("0.0.0.0", "0.0.0.0", True),
])
def test_host_localhost_is_loopback_and_every_interface_is_a_warning(smctl, serve_images, endpoint_name, tmp_path,
                                                                     docker_client, host, published, warned):
    name = endpoint_name("host")
    res = _serve(smctl, tmp_path, serve_images["ok"], name, "--port", "0", "--host", host)
    assert res.exit_code == 0, res.stdout
    (container,) = endpoint_containers(docker_client, name)
    assert container.attrs["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostIp"] == published
    network_warning = [w for w in res.json["warnings"] if "published on every interface (0.0.0.0)" in w]
    assert bool(network_warning) is warned
    assert smctl("local-stop", name).exit_code == 0


def test_gpus_without_a_gpu_runtime_fail_clearly(smctl, serve_images, endpoint_name, tmp_path, docker_client):
    name = endpoint_name("gpu")
    res = smctl("local-serve", "--image", serve_images["ok"], "--name", name, "--port", "0", "--gpus", "all",
                cwd=tmp_path)
    assert res.exit_code == 3
    assert "cannot give GPUs (all)" in res.stderr
    assert endpoint_containers(docker_client, name) == []


def test_ctrl_c_in_the_foreground_removes_the_container(serve_images, endpoint_name, tmp_path, docker_client):
    name = endpoint_name("sigint")
    fg = Foreground(["local-serve", "--image", serve_images["ok"], "--name", name, "--port", "0"], tmp_path)
    fg.wait_for("ready at http://127.0.0.1:")
    assert len(endpoint_containers(docker_client, name)) == 1
    fg.proc.send_signal(signal.SIGINT)
    assert fg.finish() == 130, fg.output()
    assert endpoint_containers(docker_client, name) == []


def test_container_dying_while_serving_exits_5(serve_images, endpoint_name, tmp_path, docker_client):
    name = endpoint_name("dies")
    fg = Foreground(["local-serve", "--image", serve_images["ok"], "--name", name, "--port", "0"], tmp_path)
    fg.wait_for("serving in the foreground")
    endpoint_containers(docker_client, name)[0].kill()
    assert fg.finish() == 5, fg.output()
    assert "exited with code 137 while serving" in fg.output()
    assert endpoint_containers(docker_client, name) == []


def test_logs_follow_until_the_endpoint_stops(smctl, serve_images, endpoint_name, tmp_path):
    name = endpoint_name("logs")
    assert _serve(smctl, tmp_path, serve_images["ok"], name, "--port", "0").exit_code == 0
    fg = Foreground(["logs", name, "-f"], tmp_path)
    fg.wait_for("listening on 0.0.0.0:8080")
    assert smctl("invoke", name, "--data", "x").exit_code == 0
    fg.wait_for('access: "POST /invocations HTTP/1.1" 200')
    assert smctl("local-stop", name).exit_code == 0
    assert fg.finish() == 0, fg.output()


def test_an_exited_endpoint_is_listed_as_failed_and_can_be_removed(smctl, serve_images, endpoint_name, tmp_path,
                                                                   docker_client):
    name = endpoint_name("exited")
    assert _serve(smctl, tmp_path, serve_images["ok"], name, "--port", "0").exit_code == 0
    endpoint_containers(docker_client, name)[0].kill()
    rows = {e["name"]: e for e in smctl("--json", "endpoints").json["result"]["endpoints"]}
    assert rows[name]["status"] == "Failed (exit code 137)"
    res = smctl("invoke", name, "--data", "x")
    assert res.exit_code == 1
    assert f"endpoint '{name}' is not running (its container has exited)" in res.stderr
    assert f"smctl logs {name}" in res.stderr
    assert "listening on 0.0.0.0:8080" in smctl("logs", name).stdout
    assert smctl("local-stop", name).exit_code == 0
    assert endpoint_containers(docker_client, name) == []


def test_defaults_come_from_smctl_toml(smctl, serve_images, endpoint_name, tmp_path):
    name = endpoint_name("toml")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "w.bin").write_bytes(b"w")
    (tmp_path / "smctl.toml").write_text(
        f'[serve]\nimage = "{serve_images["ok"]}"\nname = "{name}"\nport = 0\nmodel = "model"\n'
        'instance_type = "ml.c5.large"\n[serve.environment]\nFROM_TOML = "yes"\n')
    res = smctl("--json", "local-serve", "--detach", cwd=tmp_path)
    assert res.exit_code == 0, res.stdout
    assert res.json["result"]["name"] == name
    seen = json.loads(smctl("--json", "invoke", name, "--data", "__model__").json["result"]["body"])
    assert (seen["files"], seen["env"]["FROM_TOML"]) == (["w.bin"], "yes")
    assert smctl("local-stop", name).exit_code == 0


def test_s3_model_archive_is_downloaded_and_extracted(smctl, serve_images, endpoint_name, tmp_path, aws_env):
    import boto3

    name = endpoint_name("s3")
    archive = _tarball(tmp_path / "model.tar.gz", {"weights.bin": b"w"})
    s3 = boto3.client("s3", endpoint_url=aws_env, region_name="us-east-1")
    s3.create_bucket(Bucket=f"smctl-serve-{name}")
    s3.upload_file(str(archive), f"smctl-serve-{name}", "models/v1/model.tar.gz")
    res = _serve(smctl, tmp_path, serve_images["ok"], name, "--port", "0",
                 "--model", f"s3://smctl-serve-{name}/models/v1/model.tar.gz")
    assert res.exit_code == 0, res.stdout
    seen = json.loads(smctl("--json", "invoke", name, "--data", "__model__").json["result"]["body"])
    assert seen["files"] == ["weights.bin"]
    assert smctl("local-stop", name).exit_code == 0
