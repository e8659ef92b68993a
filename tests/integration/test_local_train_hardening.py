"""`smctl local-train` hardening against the real engine: ownership under sudo, whole artifact pairs, failures."""

from __future__ import annotations

import os
import shlex
import tarfile
from pathlib import Path

import pytest

from tests.integration import train_fixtures

pytestmark = pytest.mark.docker
probe_image = train_fixtures.probe_image


@pytest.fixture
def project(tmp_path, docker_reaper):
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "train" / "a.csv").write_text("1,2\n3,4\n")
    return tmp_path


def _python(code: str) -> str:
    """An --entrypoint that runs `code` with the probe image's python."""
    return shlex.join(["python3", "-c", code])


WRITE_ARTIFACTS = ("import os, sys; a = sys.argv; "
                   "open('/opt/ml/model/weights.bin', 'wb').write(os.urandom(int(a[1]))); "
                   "open('/opt/ml/output/data/metrics.bin', 'wb').write(os.urandom(int(a[2])))")


def _owners(root: Path) -> dict[str, tuple[int, int]]:
    found = {str(root): (os.lstat(root).st_uid, os.lstat(root).st_gid)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            st = os.lstat(os.path.join(dirpath, name))
            found[os.path.join(dirpath, name)] = (st.st_uid, st.st_gid)
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, as sudo gives")
def test_run_through_sudo_leaves_every_created_path_to_the_invoking_user(smctl, probe_image, project,
                                                                         monkeypatch):
    monkeypatch.setenv("SUDO_UID", "4242")
    monkeypatch.setenv("SUDO_GID", "4343")
    res = smctl("--json", "local-train", "--image", probe_image, "--job-name", "sudo-owned",
                "--channel", f"training={project / 'data' / 'train'}", cwd=project)
    assert res.exit_code == 0, res.stderr
    smctl_dir = project / ".smctl"
    links = [smctl_dir / "output" / "model.tar.gz", smctl_dir / "output" / "output.tar.gz"]
    assert all(link.is_symlink() for link in links)
    owners = _owners(smctl_dir)
    for path in (smctl_dir / "output" / "sudo-owned" / "model.tar.gz", smctl_dir / "runs" / "sudo-owned",
                 smctl_dir / "runs" / "sudo-owned" / "logs.txt", *links):
        assert str(path) in owners
    assert {path: owner for path, owner in owners.items() if owner != (4242, 4343)} == {}


def test_full_output_dir_keeps_the_old_artifact_pair_whole(smctl, probe_image, project, tmpfs):
    out = tmpfs("size=1m")
    ok = smctl("local-train", "--image", probe_image, "--job-name", "pair-old", "--output-dir", out,
               "--entrypoint", _python(WRITE_ARTIFACTS), "--args", "1000 1000", cwd=project)
    assert ok.exit_code == 0, ok.stderr
    before = {name: (out / name).read_bytes() for name in ("model.tar.gz", "output.tar.gz")}
    # the new model.tar.gz fits, the new output.tar.gz does not
    res = smctl("local-train", "--image", probe_image, "--job-name", "pair-new", "--output-dir", out,
                "--entrypoint", _python(WRITE_ARTIFACTS), "--args", "2000 3000000", cwd=project)
    assert res.exit_code != 0
    assert "no space left on device" in res.stderr
    assert "--output-dir" in res.stderr and " -o" not in res.stderr
    assert {name: (out / name).read_bytes() for name in before} == before
    assert sorted(p.name for p in out.iterdir()) == ["model.tar.gz", "output.tar.gz"]  # no temp left behind
    with tarfile.open(out / "model.tar.gz") as tar:
        assert tar.getmember("weights.bin").size == 1000


FAIL_WITH_TRACEBACK = """
import sys, traceback
try:
    raise ValueError('the probe failed on purpose')
except ValueError:
    text = traceback.format_exc()
    sys.stderr.write(text)
    open('/opt/ml/output/failure', 'w').write(text)
    sys.exit(1)
"""


def test_failed_job_prints_its_traceback_once_and_leaves_no_empty_output_folder(smctl, probe_image, project):
    res = smctl("local-train", "--image", probe_image, "--job-name", "fails-once",
                "--entrypoint", _python(FAIL_WITH_TRACEBACK), cwd=project)
    assert res.exit_code == 5
    assert res.stderr.count("Traceback (most recent call last)") == 1
    assert "Error: training job fails-once failed: ValueError: the probe failed on purpose" in res.stderr
    assert not (project / ".smctl" / "output" / "fails-once").exists()
    assert not (project / ".smctl" / "output").exists()
    assert (project / ".smctl" / "runs" / "fails-once" / "logs.txt").exists()


RESOLVE_AT_ONCE = ("import socket; [socket.gethostbyname(h) for h in ('algo-1', 'algo-2')]; "
                   "open('/opt/ml/model/' + socket.gethostname(), 'w').write('resolved')")
RESOLVE_LATE = ("import json, socket, time; "
                "me = json.load(open('/opt/ml/input/config/resourceconfig.json'))['current_host']; "
                "time.sleep(4 if me == 'algo-1' else 0); "
                "open('/opt/ml/model/' + me, 'w').write(socket.gethostbyname('algo-2'))")


def test_every_host_resolves_the_others_at_its_first_line(smctl, probe_image, project):
    res = smctl("--json", "local-train", "--image", probe_image, "--job-name", "resolve-first",
                "--instance-count", "2", "--entrypoint", _python(RESOLVE_AT_ONCE), cwd=project)
    assert res.exit_code == 0, res.stderr
    with tarfile.open(res.json["result"]["model_artifact"]) as tar:
        assert sorted(tar.getnames()) == ["algo-1", "algo-2"]  # and each host's hostname is its own


def test_a_host_whose_algorithm_exited_still_resolves_until_the_job_ends(smctl, probe_image, project,
                                                                         docker_client):
    res = smctl("--json", "local-train", "--image", probe_image, "--job-name", "resolve-late",
                "--instance-count", "2", "--entrypoint", _python(RESOLVE_LATE), cwd=project)
    assert res.exit_code == 0, res.stderr
    with tarfile.open(res.json["result"]["model_artifact"]) as tar:
        seen = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    assert seen["algo-1"] == seen["algo-2"]  # algo-1 found algo-2 at the address it had while running
    assert not docker_client.containers.list(all=True, filters={"label": "smctl.job=resolve-late"})


def test_gpu_instance_type_is_refused_on_an_engine_without_gpus_unless_gpus_none(smctl, probe_image, project,
                                                                                 docker_client):
    res = smctl("local-train", "--image", probe_image, "--job-name", "gpu-auto", "--instance-type", "ml.g4dn.xlarge",
                cwd=project)
    assert res.exit_code == 3, res.stderr
    assert "cannot give GPUs (1)" in res.stderr and "Hint:" in res.stderr and "--gpus none" in res.stderr
    assert not docker_client.containers.list(all=True, filters={"label": "smctl.job=gpu-auto"})
    cpu = smctl("local-train", "--image", probe_image, "--job-name", "gpu-none", "--instance-type", "ml.g4dn.xlarge",
                "--gpus", "none", cwd=project)
    assert cpu.exit_code == 0, cpu.stderr


def test_dry_run_of_a_gpu_instance_type_plans_its_gpus_with_a_warning(smctl, project):
    res = smctl("--json", "local-train", "--image", "any:1", "--job-name", "gpu-plan", "--instance-type",
                "ml.g4dn.xlarge", "--dry-run", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert res.json["result"]["hosts"][0]["container"]["gpus"] == "1"
    assert any("--gpus none runs on CPU" in w for w in res.json["warnings"])


WRITE_INTO_CHANNEL = ("import os; d = '/opt/ml/input/data/train'; "
                      "open(d + '/a.csv', 'a').write('9,9\\n'); open(d + '/unpacked.txt', 'w').write('x'); "
                      "open('/opt/ml/model/seen', 'w').write(repr(sorted(os.listdir(d))) + open(d + '/a.csv').read())")


def test_a_single_file_channel_is_writable_like_a_folder_channel(smctl, probe_image, project):
    file = project / "data" / "train" / "a.csv"
    res = smctl("--json", "local-train", "--image", probe_image, "--job-name", "single-file",
                "--channel", f"train={file}", "--entrypoint", _python(WRITE_INTO_CHANNEL), cwd=project)
    assert res.exit_code == 0, res.stderr
    with tarfile.open(res.json["result"]["model_artifact"]) as tar:
        seen = tar.extractfile("seen").read().decode()
    assert seen == "['a.csv', 'unpacked.txt']1,2\n3,4\n9,9\n"
    assert file.read_text() == "1,2\n3,4\n"  # the user's file is untouched
    assert not (project / ".smctl" / "runs" / "single-file" / "algo-1" / "single").exists()
