"""doctor's probes against the real thing: listening processes, publishing containers, a tmpfs, the engine,
daemon.json on disk, and the refusals of --fix data-root."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from smctl.doctor import judges
from smctl.doctor.data_root import merge_daemon_json, plan_move, validate_fix
from smctl.doctor.disk import other_filesystems, probe_filesystem, probe_reclaimable
from smctl.doctor.engine import probe_engine
from smctl.doctor.model import Status
from smctl.doctor.ports import probe_port
from smctl.engine.client import EngineAddress, reach
from smctl.errors import DataRootFixError, UsageError
from tests.conftest import IN_CI, WORKER, WORKER_LABEL, free_port
from tests.helpers import TEST_LABELS

LABELS = {**TEST_LABELS, WORKER_LABEL: WORKER}  # other xdist workers' reapers leave these alone





def test_port_held_by_a_process_is_traced_to_its_pid_and_command_line(held_port):
    port, pid = held_port
    facts = probe_port(port, ("--port",))
    assert not facts.free
    holder = next(h for h in facts.processes if h.pid == pid)
    assert holder.name and holder.name.startswith("python")
    assert "import socket" in (holder.cmdline or "")
    res = judges.judge_port(facts)
    assert res.status is Status.FAIL
    assert f"kill {pid}" in res.remedy


def test_free_port_is_free():
    facts = probe_port(free_port())
    assert facts.free and not facts.processes and not facts.containers


@pytest.mark.docker
def test_port_published_by_a_container_names_the_container(docker_reaper):
    client = docker_reaper
    port = free_port()
    name = f"smctl-test-port-{uuid.uuid4().hex[:8]}"
    client.containers.run("python:3.11-slim", ["python3", "-m", "http.server", "8000"], name=name, detach=True,
                          ports={"8000/tcp": port}, labels=LABELS)
    facts = probe_port(port, ("--port",), client)
    assert not facts.free
    assert [c.name for c in facts.containers] == [name]
    assert facts.containers[0].image == "python:3.11-slim"
    assert facts.containers[0].binding.endswith(f":{port}->8000/tcp")
    res = judges.judge_port(facts)
    assert res.remedy.startswith(f"docker stop {name}")
    assert f"container {name}" in res.summary


@pytest.fixture
def tmpfs(tmp_path):
    """A real 16 MiB filesystem (tmpfs), unmounted at the end."""
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("mounting a tmpfs needs root under CI")
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_nearly_full_small_filesystem_fails_and_a_bigger_one_is_proposed(tmpfs):
    root = tmpfs / "docker"
    root.mkdir()
    (root / "blob").write_bytes(b"\0" * (15 * 1024 * 1024))
    facts = probe_filesystem(root)
    assert facts.mount_point == str(tmpfs)
    assert facts.fstype == "tmpfs"
    assert facts.total_bytes == 16 * 1024 * 1024
    assert facts.free_bytes <= 1024 * 1024
    assert judges.disk_level(facts) is Status.FAIL
    others = other_filesystems(facts.dev_id)
    assert all(o.fstype != "tmpfs" and o.dev_id != facts.dev_id for o in others)
    plan = plan_move(facts, others, str(root), used_bytes=15 * 1024 * 1024)
    assert plan is not None, f"no bigger filesystem among {others}"
    assert plan.new_root == str(Path(plan.target.mount_point) / "docker")
    assert f"sudo rsync -aP {root}/ {plan.new_root}/" in plan.steps
    res = judges.judge_disk("disk.data_root", "Docker data-root", facts, None, plan)
    assert res.status is Status.FAIL and plan.new_root in res.remedy


def test_path_that_does_not_exist_yet_is_judged_by_its_nearest_parent(tmp_path):
    facts = probe_filesystem(tmp_path / ".smctl" / "runs")
    assert facts.path.endswith(".smctl/runs") and facts.total_bytes > 0


@pytest.mark.docker
def test_engine_probe_reads_the_real_engine(docker_client):
    facts = probe_engine()
    info = docker_client.info()
    assert facts.reachable
    assert facts.data_root == info["DockerRootDir"]
    assert facts.storage_driver == info["Driver"]
    assert facts.api_version and facts.server_version == docker_client.version()["Version"]
    reclaim = probe_reclaimable(docker_client)
    assert reclaim.used_total > 0 and reclaim.total >= 0


def test_engine_down_is_told_by_a_missing_socket(tmp_path):
    facts = probe_engine({"DOCKER_HOST": f"unix://{tmp_path}/docker.sock"})
    assert facts.failure == "no_socket"
    assert "socket is missing" in (facts.error_text or "")


def test_socket_without_listener_is_connection_refused(tmp_path):
    path = tmp_path / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()  # the file stays, nothing listens
    assert reach(EngineAddress(f"unix://{path}", "DOCKER_HOST"))[0] == "refused"


def test_wrong_context_is_told_apart(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "nope"}))
    facts = probe_engine({"DOCKER_CONFIG": str(tmp_path)})
    assert facts.failure == "context"


def test_socket_without_permission_is_eacces(tmp_path):
    """A socket only root may open, opened by an unprivileged user (a forked child that drops to nobody)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to another user")
    folder = Path(tempfile.mkdtemp(prefix="smctl-test-sock-", dir="/tmp"))
    folder.chmod(0o755)
    path = folder / "docker.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    path.chmod(0o600)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop privileges, probe, report, leave without running pytest's cleanup
        try:
            os.setgid(65534)
            os.setuid(65534)
            os.write(write_end, str(reach(EngineAddress(f"unix://{path}", "DOCKER_HOST"))[0]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    got = os.read(read_end, 100).decode()
    os.close(read_end)
    server.close()
    path.unlink()
    folder.rmdir()
    assert got == "permission"


# ---- daemon.json and the --fix refusals -------------------------------------------------------------------------

def test_daemon_json_merge_keeps_other_keys_and_backs_up(tmp_path):
    daemon = tmp_path / "daemon.json"
    original = json.dumps({"log-driver": "json-file", "graph": "/old", "registry-mirrors": ["https://m"]})
    daemon.write_text(original)
    daemon.chmod(0o640)
    backup, merged = merge_daemon_json(daemon, "/big/docker")
    assert merged == {"log-driver": "json-file", "registry-mirrors": ["https://m"], "data-root": "/big/docker"}
    assert json.loads(daemon.read_text()) == merged
    assert daemon.stat().st_mode & 0o777 == 0o640
    assert backup is not None and backup.name.startswith("daemon.json.smctl-backup-")
    assert backup.read_text() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["daemon.json", backup.name])  # no temp file left


def test_daemon_json_is_created_when_missing(tmp_path):
    daemon = tmp_path / "etc" / "docker" / "daemon.json"
    backup, merged = merge_daemon_json(daemon, "/big/docker")
    assert backup is None and json.loads(daemon.read_text()) == {"data-root": "/big/docker"}


def test_broken_daemon_json_is_refused_and_left_alone(tmp_path):
    daemon = tmp_path / "daemon.json"
    daemon.write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        merge_daemon_json(daemon, "/big/docker")
    assert daemon.read_text() == "{not json"
    assert [p.name for p in tmp_path.iterdir()] == ["daemon.json"]


@pytest.mark.docker
def test_fix_refuses_a_path_that_does_not_exist(docker_client, tmp_path):
    with pytest.raises(UsageError, match="does not exist") as err:
        validate_fix(tmp_path / "nope", "/var/lib/docker", docker_client, tmp_path / "daemon.json")
    assert "mkdir -p" in (err.value.hint or "")


@pytest.mark.docker
def test_fix_refuses_the_same_filesystem(docker_client, tmp_path):
    old, new = tmp_path / "old-root", tmp_path / "new-root"
    old.mkdir()
    new.mkdir()
    with pytest.raises(UsageError, match="same filesystem"):
        validate_fix(new, str(old), docker_client, tmp_path / "daemon.json")
    with pytest.raises(UsageError, match="inside the current data-root"):
        validate_fix(old, str(old), docker_client, tmp_path / "daemon.json")


@pytest.mark.docker
def test_fix_refuses_while_containers_run(docker_reaper, tmp_path, tmpfs):
    client = docker_reaper
    name = f"smctl-test-running-{uuid.uuid4().hex[:8]}"
    client.containers.run("python:3.11-slim", ["sleep", "60"], name=name, detach=True, labels=LABELS)
    old = tmp_path / "old-root"
    old.mkdir()
    for _ in range(50):
        if client.containers.get(name).status == "running":
            break
        time.sleep(0.1)
    with pytest.raises(DataRootFixError, match="are running") as err:
        validate_fix(tmpfs, str(old), client, tmp_path / "daemon.json")
    assert "docker stop" in (err.value.hint or "")
    assert not (tmp_path / "daemon.json").exists()
