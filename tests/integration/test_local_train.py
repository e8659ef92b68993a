"""`smctl local-train` against the real engine, with a probe image that records what it sees."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers import smctl_exe
from tests.integration import train_fixtures

pytestmark = pytest.mark.docker
probe_image = train_fixtures.probe_image


@pytest.fixture
def project(tmp_path, docker_reaper):
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "train" / "a.csv").write_text("1,2\n3,4\n")
    (tmp_path / "data" / "train" / "nested").mkdir()
    (tmp_path / "data" / "train" / "nested" / "b.csv").write_text("5,6\n")
    return tmp_path


def _model_records(path: Path) -> dict[str, dict]:
    with tarfile.open(path) as tar:
        return {m.name: json.load(tar.extractfile(m)) for m in tar.getmembers() if m.name.startswith("probe-")}


def _no_managed_containers(client, job: str) -> bool:
    return not client.containers.list(all=True, filters={"label": f"smctl.job={job}"})


def test_single_host_sees_the_sagemaker_layout(smctl, probe_image, project, docker_client):
    res = smctl("--json", "local-train", "--image", probe_image, "--job-name", "probe-one",
                "--channel", f"training={project / 'data' / 'train'},content_type=text/csv",
                "--hp", "epochs=3", "--hp", "action=record", "--env", "USER_VAR=hello",
                "--instance-type", "ml.m5.large", cwd=project)
    assert res.exit_code == 0, res.stderr
    doc = res.json["result"]
    assert doc["status"] == "Completed"
    records = _model_records(Path(doc["model_artifact"]))
    rec = records["probe-algo-1.json"]
    assert rec["argv"] == ["/usr/local/bin/train"]  # `docker run IMAGE train`: train is the command
    assert rec["hostname"] == "algo-1"
    assert rec["hyperparameters"] == {"epochs": "3", "action": "record"}
    assert rec["inputdataconfig"] == {"training": {"ContentType": "text/csv", "TrainingInputMode": "File",
                                                   "S3DistributionType": "FullyReplicated",
                                                   "RecordWrapperType": "None"}}
    assert rec["resourceconfig"]["current_instance_type"] == "ml.m5.large"
    assert rec["env"]["TRAINING_JOB_NAME"] == "probe-one"
    assert rec["env"]["TRAINING_JOB_ARN"].endswith(":training-job/probe-one")
    assert rec["env"]["USER_VAR"] == "hello"
    assert "file /opt/ml/input/data/training/nested/b.csv" in rec["tree"]
    assert "dir /opt/ml/output/data" in rec["tree"]
    assert rec["checkpointconfig"] is None
    # a File-mode channel is writable as on SageMaker, yet not a copy: an overlay over the user's folder
    assert any(m[0] == "/opt/ml/input/data/training" and m[1] == "overlay" and m[2].startswith("rw")
               for m in rec["mounts"])
    with tarfile.open(doc["output_artifact"]) as tar:
        assert tar.getnames() == ["metrics-algo-1.txt"]
    assert _no_managed_containers(docker_client, "probe-one")
    assert (project / ".smctl" / "runs" / "probe-one" / "logs.txt").read_text().count("probe on algo-1") == 1


def test_three_hosts_resolve_each_other_and_shard(smctl, probe_image, project, docker_client):
    shard_dir = project / "shards"
    shard_dir.mkdir()
    for i in range(9):
        (shard_dir / f"part-{i}.csv").write_text(str(i))
    res = smctl("--json", "local-train", "--image", probe_image, "--job-name", "probe-three",
                "--instance-count", "3", "--hp", "action=files", "--hp", "channel=train",
                "--channel", f"train={shard_dir},distribution=ShardedByS3Key", cwd=project)
    assert res.exit_code == 0, res.stderr
    records = _model_records(Path(res.json["result"]["model_artifact"]))
    assert sorted(records) == ["probe-algo-1.json", "probe-algo-2.json", "probe-algo-3.json"]
    seen = []
    for host, rec in ((r["hostname"], r) for r in records.values()):
        assert rec["resourceconfig"]["current_host"] == host
        assert rec["resourceconfig"]["hosts"] == ["algo-1", "algo-2", "algo-3"]
        assert all(rec["peers"].values()), rec["peers"]
        assert len(rec["files"]) == 3
        seen += rec["files"]
    assert sorted(seen) == sorted(f"part-{i}.csv" for i in range(9))
    assert _no_managed_containers(docker_client, "probe-three")
    assert not docker_client.networks.list(names=["smctl-probe-three"])


def test_pipe_mode_two_epochs(smctl, probe_image, project):
    data = project / "pipe"
    data.mkdir()
    (data / "a.bin").write_bytes(os.urandom(2_000_000))
    (data / "b.bin").write_bytes(b"tail")
    res = smctl("--json", "local-train", "--image", probe_image, "--job-name", "probe-pipe",
                "--hp", "action=pipe", "--hp", "channel=train", "--hp", "epochs=2",
                "--channel", f"train={data},mode=Pipe", cwd=project)
    assert res.exit_code == 0, res.stderr
    rec = _model_records(Path(res.json["result"]["model_artifact"]))["probe-algo-1.json"]
    import hashlib

    expected = hashlib.sha256((data / "a.bin").read_bytes() + b"tail").hexdigest()
    assert rec["epochs"] == [{"bytes": 2_000_004, "sha256": expected}] * 2
    assert rec["inputdataconfig"]["train"]["TrainingInputMode"] == "Pipe"
    assert not list((project / ".smctl" / "runs" / "probe-pipe" / "algo-1" / "input" / "data").glob("train_*"))


def test_pipe_mode_shuffle_seed_reorders_each_epoch(smctl, probe_image, project):
    import hashlib

    from smctl.training.channels import epoch_order, list_channel_files

    data = project / "shuffled"
    data.mkdir()
    for i in range(12):
        (data / f"part-{i:02}.bin").write_bytes(f"record {i}\n".encode())
    res = smctl("--json", "local-train", "--image", probe_image, "--job-name", "probe-shuffle",
                "--hp", "action=pipe", "--hp", "channel=train", "--hp", "epochs=2",
                "--channel", f"train={data},mode=Pipe,shuffle_seed=11", cwd=project)
    assert res.exit_code == 0, res.stderr
    epochs = _model_records(Path(res.json["result"]["model_artifact"]))["probe-algo-1.json"]["epochs"]
    files = list_channel_files(data)
    want = [hashlib.sha256(b"".join(f.read_bytes() for f in epoch_order(files, 11, 0, 1, False, e))).hexdigest()
            for e in (0, 1)]
    in_key_order = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
    assert [e["sha256"] for e in epochs] == want
    assert len({want[0], want[1], in_key_order}) == 3  # each epoch in its own order


def test_failure_file_becomes_the_failure_reason_exit_5(smctl, probe_image, project, docker_client):
    res = smctl("--json", "local-train", "--image", probe_image, "--job-name", "probe-fail", "--hp", "action=fail",
                cwd=project)
    assert res.exit_code == 5
    err = res.json["error"]
    assert err["message"].startswith("training job probe-fail failed: ValueError: the probe was asked to fail")
    reason = err["details"]["failure_reason"]
    assert len(reason) == 1024
    assert _no_managed_containers(docker_client, "probe-fail")


def test_reused_job_name_starts_from_an_empty_opt_ml(smctl, probe_image, project):
    first = smctl("local-train", "--image", probe_image, "--job-name", "probe-again", "--hp", "action=fail",
                  "--instance-count", "2", cwd=project)
    assert first.exit_code == 5  # leaves model/, output/data/ and output/failure behind in the run folder
    run_dir = project / ".smctl" / "runs" / "probe-again"
    assert (run_dir / "algo-1" / "output" / "failure").exists()

    nothing = smctl("local-train", "--image", probe_image, "--job-name", "probe-again", "--entrypoint", "true",
                    cwd=project)
    assert nothing.exit_code == 0, nothing.stderr
    assert "job name probe-again was used before" in nothing.stderr
    out = project / ".smctl" / "output" / "probe-again"
    with tarfile.open(out / "model.tar.gz") as tar:
        assert tar.getnames() == []  # no stale probe-*.json from the first run
    with tarfile.open(out / "output.tar.gz") as tar:
        assert tar.getnames() == []
    assert sorted(p.name for p in run_dir.iterdir()) == ["algo-1", "logs.txt"]  # algo-2 of the old run is gone
    assert "probe on algo-1" not in (run_dir / "logs.txt").read_text()

    crash = smctl("local-train", "--image", probe_image, "--job-name", "probe-again", "--hp", "action=fail",
                  cwd=project)
    assert crash.exit_code == 5
    again = smctl("local-train", "--image", probe_image, "--job-name", "probe-again", "--hp", "action=crash",
                  "--hp", "code=4", cwd=project)
    assert again.exit_code == 5
    assert "AlgorithmError: , exit code: 4" in again.stderr  # not the stale failure file's reason
    assert "asked to fail" not in again.stderr


WRITE_INTO_CHANNEL = ("-c 'echo new > /opt/ml/input/data/training/unpacked.txt && echo changed > "
                      "/opt/ml/input/data/training/a.csv && rm /opt/ml/input/data/training/nested/b.csv && "
                      "cat /opt/ml/input/data/training/a.csv'")


def test_file_mode_channels_are_writable_and_the_users_data_stays_untouched(smctl, probe_image, project):
    before = {p: p.read_bytes() for p in (project / "data" / "train").rglob("*") if p.is_file()}
    res = smctl("local-train", "--image", probe_image, "--job-name", "probe-write", "--channel", "training=data/train",
                "--entrypoint", "sh", "--args", WRITE_INTO_CHANNEL, cwd=project)
    assert res.exit_code == 0, res.stderr
    assert "changed" in res.stderr  # the container read back what it wrote
    assert {p: p.read_bytes() for p in (project / "data" / "train").rglob("*") if p.is_file()} == before
    assert not (project / ".smctl" / "runs" / "probe-write" / "algo-1" / "overlay").exists()  # writes dropped


def test_writing_into_a_read_only_channel_gets_a_hint(smctl, probe_image, project):
    for mode, extra in (("FastFile", ()), ("File", ("--read-only-channels",))):
        res = smctl("local-train", "--image", probe_image, "--job-name", "probe-erofs", "--channel",
                    f"training=data/train,mode={mode}", *extra, "--entrypoint", "sh", "--args",
                    "-c 'touch /opt/ml/input/data/training/unpacked.txt'", cwd=project)
        assert res.exit_code == 5
        assert "Read-only file system" in res.stderr
        assert "/opt/ml/input/data/<channel> was read-only" in res.stderr and "/tmp or /opt/ml/output" in res.stderr
    assert not (project / "data" / "train" / "unpacked.txt").exists()


def test_an_overlay_the_engine_cannot_mount_is_told_apart(docker_client, probe_image, tmp_path, docker_reaper):
    from smctl.engine.containers import ContainerSpec, Mount, create_container, start_container
    from smctl.errors import OverlayUnavailableError
    from tests.helpers import TEST_LABELS

    spec = ContainerSpec(image=probe_image, name=f"smctl-test-overlay-{os.getpid()}", command=["true"],
                         labels=dict(TEST_LABELS),
                         mounts=(Mount(tmp_path / "gone", "/data", overlay=tmp_path / "layers"),))
    container = create_container(docker_client, spec)
    try:
        with pytest.raises(OverlayUnavailableError) as err:
            start_container(container, spec)
        assert "could not mount an overlay" in err.value.message and "--read-only-channels" in err.value.hint
    finally:
        container.remove(stop_grace=0)


@pytest.mark.parametrize("linked", [False, True])
def test_a_reused_job_name_never_removes_checkpoints_kept_in_its_run_folder(smctl, probe_image, project, linked):
    if linked:  # .smctl on a bigger disk through a symlink
        (project / "elsewhere").mkdir()
        (project / ".smctl").symlink_to(project / "elsewhere")
    for ckpt in (".smctl/runs/probe-ck/checkpoints", ".smctl/runs/probe-ck2/checkpoints/mine"):
        job = ckpt.split("/")[2]
        (project / ckpt).mkdir(parents=True)
        (project / ckpt / "state.txt").write_text("epoch 7\n")
        for _ in range(2):
            res = smctl("local-train", "--image", probe_image, "--job-name", job, "--checkpoint-dir", ckpt,
                        cwd=project)
            assert res.exit_code == 0, res.stderr
        assert (project / ckpt / "state.txt").read_text() == "epoch 7\n"


def test_dry_run_of_an_s3_channel_plans_the_cache_folder_and_lists_nothing_else(smctl, probe_image, project):
    res = smctl("--json", "local-train", "--image", probe_image, "--dry-run", "--channel",
                "train=s3://smctl-nowhere/data/,mode=Pipe", "--channel", "val=s3://smctl-nowhere/val/", cwd=project)
    assert res.exit_code == 0, res.stderr
    host = res.json["result"]["hosts"][0]
    assert host["pipe_channels"] == {"train": []}  # nothing downloaded yet; the project is not listed
    sources = {m["target"]: m["source"] for m in host["container"]["mounts"]}
    assert sources["/opt/ml/input/data/val"] == str(project / ".smctl" / "cache" / "s3" / "smctl-nowhere" / "val")


def test_exit_code_without_failure_file(smctl, probe_image, project):
    res = smctl("local-train", "--image", probe_image, "--job-name", "probe-crash", "--hp", "action=crash",
                "--hp", "code=7", cwd=project)
    assert res.exit_code == 5
    assert "AlgorithmError: , exit code: 7" in res.stderr
    assert "Hint: see the logs in" in res.stderr


def test_out_of_memory_is_reported_with_the_limit(smctl, probe_image, project):
    res = smctl("local-train", "--image", probe_image, "--job-name", "probe-oom", "--hp", "action=oom",
                "--instance-type", "ml.t3.medium", cwd=project)
    assert res.exit_code == 5
    assert "OutOfMemoryError" in res.stderr
    assert "4 GiB memory of ml.t3.medium" in res.stderr


def test_entrypoint_and_arguments_follow_the_contract(smctl, probe_image, project):
    res = smctl("--json", "local-train", "--image", probe_image, "--dry-run", "--job-name", "dry",
                "--entrypoint", "python3 /usr/local/bin/train", cwd=project)
    c = res.json["result"]["hosts"][0]["container"]
    assert c["entrypoint"] == ["python3", "/usr/local/bin/train"]
    assert c["command"] == []
    res = smctl("--json", "local-train", "--image", probe_image, "--dry-run", "--job-name", "dry",
                "--args", "fit --fast", cwd=project)
    c = res.json["result"]["hosts"][0]["container"]
    assert (c["entrypoint"], c["command"]) == (None, ["fit", "--fast"])


def test_dry_run_shows_everything_and_runs_nothing(smctl, probe_image, project, docker_client):
    res = smctl("--json", "local-train", "--image", probe_image, "--dry-run", "--job-name", "dry-two",
                "--instance-count", "2", "--hp", "lr=0.1", "--channel", f"training={project / 'data' / 'train'}",
                "--gpus", "all", cwd=project)
    assert res.exit_code == 0, res.stderr
    doc = res.json["result"]
    assert [h["host"] for h in doc["hosts"]] == ["algo-1", "algo-2"]
    h2 = doc["hosts"][1]
    assert json.loads(h2["config_files"]["resourceconfig.json"])["current_host"] == "algo-2"
    assert h2["config_files"]["hyperparameters.json"] == '{"lr": "0.1"}'
    assert h2["container"]["gpus"] == "all"
    assert h2["container"]["network"] == "smctl-dry-two"
    assert not (project / ".smctl" / "runs" / "dry-two").exists()
    assert _no_managed_containers(docker_client, "dry-two")


def test_gpu_request_reaches_the_engine_and_fails_clearly_without_runtime(smctl, probe_image, project, docker_client):
    res = smctl("local-train", "--image", probe_image, "--job-name", "probe-gpu", "--gpus", "all", cwd=project)
    assert res.exit_code == 3
    assert "cannot give GPUs (all)" in res.stderr
    assert "--gpus none" in res.stderr
    assert _no_managed_containers(docker_client, "probe-gpu")


def test_gpu_device_requests_in_created_container(docker_client, probe_image, docker_reaper):
    from smctl.engine.containers import ContainerSpec, create_container, remove_container
    from smctl.engine.gpus import GpuRequest

    for gpus, expected in ((GpuRequest(count=-1), {"Count": -1, "DeviceIDs": []}),
                           (GpuRequest(count=2), {"Count": 2, "DeviceIDs": []}),
                           (GpuRequest(device_ids=("0", "3")), {"Count": 0, "DeviceIDs": ["0", "3"]})):
        spec = ContainerSpec(image=probe_image, name=f"smctl-test-gpu-{os.getpid()}", command=["train"],
                             gpus=gpus, labels={"smctl.test": "1"})
        c = create_container(docker_client, spec)
        try:
            req = docker_client.containers.get(c.id).attrs["HostConfig"]["DeviceRequests"][0]
            assert req["Capabilities"] == [["gpu"]]
            assert {k: req[k] for k in expected} == expected
        finally:
            remove_container(c)


def test_checkpoints_and_simulated_interruption_resume(smctl, probe_image, project):
    ckpt = project / "ckpt"
    res = smctl("--json", "local-train", "--image", probe_image, "--job-name", "probe-spot", "--hp", "action=sleep",
                "--checkpoint-dir", str(ckpt), "--simulate-interruption", "2", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert (ckpt / "state.txt").read_text() == "saved-on-sigterm\n"
    assert "resumed from checkpoint: saved-on-sigterm" in res.stderr
    logs = (project / ".smctl" / "runs" / "probe-spot" / "logs.txt").read_text()
    assert "sleeping" in logs and "resumed from checkpoint" in logs  # one log across the restart
    with tarfile.open(res.json["result"]["model_artifact"]) as tar:
        assert "resumed.txt" in tar.getnames()


def test_ctrl_c_stops_and_removes_everything(probe_image, project, docker_client):
    proc = subprocess.Popen([*smctl_exe(), "local-train", "--image", probe_image, "--job-name", "probe-ctrlc",
                             "--instance-count", "2", "--hp", "action=sleep"],
                            cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running = docker_client.containers.list(filters={"label": ["smctl.job=probe-ctrlc", "smctl.kind=train"]})
        if len(running) == 2:
            break
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert "Error: interrupted; everything smctl started was stopped and removed" in err
    assert "Traceback" not in err
    assert _no_managed_containers(docker_client, "probe-ctrlc")
    assert not docker_client.networks.list(names=["smctl-probe-ctrlc"])


@pytest.mark.parametrize("args,message,code", [
    (["--channel", "training=/does/not/exist"], "channel 'training': /does/not/exist does not exist", 2),
    (["--channel", "bad name=/tmp"], "channel name 'bad name' is not valid", 2),
    (["--hp", "novalue"], "--hp 'novalue' is not KEY=VALUE", 2),
    (["--instance-type", "ml.m5.xlage"], "unknown instance type 'ml.m5.xlage'", 2),
    (["--instance-count", "0"], "--instance-count must be an integer >= 1, got 0", 2),
    (["--channel", "training=data/train,shuffle_seed=x"], "--channel training: shuffle_seed 'x' is not a whole", 2),
    (["--channel", "training=data/train,shuffle_seed=²"], "shuffle_seed '²' is not a whole number", 2),
    (["--instance-type", "ml.c5.large"], "ml.c5.large is not a SageMaker training instance type", 2),
    (["--args", "x" * 257], "SageMaker's ContainerArguments takes at most 256 per item", 2),
    (["--entrypoint", " ".join(["a"] * 101)], "--entrypoint has 101 items", 2),
])
def test_bad_input_is_a_clear_usage_error(smctl, probe_image, project, args, message, code):
    res = smctl("local-train", "--image", probe_image, "--job-name", "bad", *args, cwd=project)
    assert res.exit_code == code, res.stderr
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_too_many_hyperparameters(smctl, probe_image, project):
    hp_file = project / "hps.json"
    hp_file.write_text(json.dumps({f"k{i}": i for i in range(101)}))
    res = smctl("local-train", "--image", probe_image, "--hyperparameters", str(hp_file), cwd=project)
    assert res.exit_code == 2
    assert "101 hyperparameters given; SageMaker accepts at most 100" in res.stderr


def test_pipe_mode_over_an_empty_folder(smctl, probe_image, project):
    (project / "empty").mkdir()
    res = smctl("local-train", "--image", probe_image, "--channel", f"train={project / 'empty'},mode=Pipe",
                cwd=project)
    assert res.exit_code == 2
    assert "is in Pipe mode but" in res.stderr


@pytest.mark.parametrize("mode", ["File", "FastFile"])
def test_a_channel_without_files_is_refused_like_sagemaker_does(smctl, probe_image, project, mode):
    (project / "hollow" / "sub").mkdir(parents=True)  # folders, but no file in them
    res = smctl("local-train", "--image", probe_image, "--channel", f"train=hollow,mode={mode}", cwd=project)
    assert res.exit_code == 2
    assert "channel 'train': hollow holds no files" in res.stderr
    assert "--channel train=PATH" in res.stderr


def test_image_not_found_hints_build(smctl, project):
    res = smctl("local-train", "--image", "smctl-test-no-such-image:nope", cwd=project)
    assert res.exit_code == 2
    assert "image smctl-test-no-such-image:nope is not in the local Docker engine" in res.stderr
    assert "smctl build" in res.stderr


def test_output_folder_not_writable(smctl, probe_image, project):
    blocker = project / "blocker"
    blocker.write_text("a file, not a folder")
    res = smctl("local-train", "--image", probe_image, "--job-name", "probe-out", "--output-dir",
                str(blocker / "out"), cwd=project)
    assert res.exit_code == 2
    assert "output folder" in res.stderr


def test_each_job_keeps_its_artifacts_and_the_latest_is_linked(smctl, probe_image, project):
    out = project / ".smctl" / "output"
    for job, epochs in (("probe-first", "1"), ("probe-second", "2")):
        res = smctl("--json", "local-train", "--image", probe_image, "--job-name", job, "--hp", f"epochs={epochs}",
                    cwd=project)
        assert res.exit_code == 0, res.stderr
        assert res.json["result"]["model_artifact"] == str(out / job / "model.tar.gz")
        assert res.json["result"]["latest_links"] == str(out)
    first = _model_records(out / "probe-first" / "model.tar.gz")["probe-algo-1.json"]
    assert first["hyperparameters"]["epochs"] == "1"  # the second run did not replace the first model
    latest = out / "model.tar.gz"
    assert latest.is_symlink() and os.readlink(latest) == os.path.join("probe-second", "model.tar.gz")
    assert _model_records(latest)["probe-algo-1.json"]["hyperparameters"]["epochs"] == "2"
    assert os.readlink(out / "output.tar.gz") == os.path.join("probe-second", "output.tar.gz")
    failed = smctl("local-train", "--image", probe_image, "--job-name", "probe-failed", "--hp", "action=fail",
                   cwd=project)
    assert failed.exit_code == 5
    assert os.readlink(latest) == os.path.join("probe-second", "model.tar.gz")  # a failed job moves nothing


def test_output_dir_flag_receives_the_artifacts_themselves(smctl, probe_image, project):
    res = smctl("--json", "local-train", "--image", probe_image, "--job-name", "probe-flag", "--output-dir", "art",
                cwd=project)
    assert res.exit_code == 0, res.stderr
    assert res.json["result"]["model_artifact"] == str(project / "art" / "model.tar.gz")
    assert (project / "art" / "output.tar.gz").is_file()
    assert res.json["result"]["latest_links"] is None
    assert not (project / ".smctl" / "output").exists()


def test_cli_runs_as_a_subprocess_too(probe_image, project):
    proc = subprocess.run([*smctl_exe(), "local-train", "--image", probe_image, "--job-name", "probe-sub"],
                          cwd=project, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "probe-sub: Completed" in proc.stdout
    assert (project / ".smctl" / "output" / "probe-sub" / "model.tar.gz").is_file()
    assert "latest: " in proc.stdout
    assert (project / ".smctl" / "output" / "model.tar.gz").exists()


def test_files_written_by_root_in_the_container_end_up_owned_by_the_invoking_user(probe_image, tmp_path_factory,
                                                                                    docker_client):
    """smctl run by an ordinary user (in the docker group): the run folder holds no root-owned file afterwards."""
    import grp
    import shutil

    uid = gid = 4242
    project = Path(tempfile.mkdtemp(prefix="smctl-owner-"))
    try:
        os.chown(project, uid, gid)
        docker_gid = grp.getgrnam("docker").gr_gid
        env = {**os.environ, "HOME": str(project)}
        (project / "data").mkdir()
        (project / "data" / "x.csv").write_text("1\n")
        os.chown(project / "data", uid, gid)
        proc = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", f"--groups={docker_gid}",
                               *smctl_exe(), "local-train", "--image", probe_image, "--job-name", "probe-owner",
                               "--keep", "--channel", "training=data"],
                              cwd=project, env=env, capture_output=True, text=True, timeout=180, check=False)
        assert proc.returncode == 0, proc.stderr
        run_dir = project / ".smctl" / "runs" / "probe-owner"
        written = run_dir / "algo-1" / "model" / "probe-algo-1.json"
        assert written.exists()
        owners = {p.lstat().st_uid for p in run_dir.rglob("*")}
        assert owners == {uid}
        again = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", f"--groups={docker_gid}",
                                *smctl_exe(), "local-train", "--image", probe_image, "--job-name", "probe-owner",
                                "--channel", "training=data", "--entrypoint", "sh", "--args",
                                "-c 'echo x > /opt/ml/input/data/training/y.csv'"],
                               cwd=project, env=env, capture_output=True, text=True, timeout=180, check=False)
        assert again.returncode == 0, again.stderr  # the old run folder (overlay work dirs included) was emptied
        assert not (run_dir / "algo-1" / "overlay").exists()  # and this run's overlay is gone, as the user
        assert sorted(p.name for p in (project / "data").iterdir()) == ["x.csv"]
    finally:
        shutil.rmtree(project, ignore_errors=True)


def test_s3_channel_is_downloaded_through_moto_and_cached(smctl, probe_image, project, aws_env):
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="smctl-train-data")
    s3.put_object(Bucket="smctl-train-data", Key="iris/train/a.csv", Body=b"1,2\n")
    s3.put_object(Bucket="smctl-train-data", Key="iris/train/sub/b.csv", Body=b"3,4\n")
    args = ("--json", "local-train", "--image", probe_image, "--hp", "action=files", "--hp", "channel=train",
            "--channel", "train=s3://smctl-train-data/iris/train/")
    res = smctl(*args, "--job-name", "probe-s3", cwd=project)
    assert res.exit_code == 0, res.stderr
    rec = _model_records(Path(res.json["result"]["model_artifact"]))["probe-algo-1.json"]
    assert rec["files"] == ["a.csv", "sub/b.csv"]
    cached = project / ".smctl" / "cache" / "s3" / "smctl-train-data" / "iris" / "train" / "a.csv"
    assert cached.read_bytes() == b"1,2\n"
    stamp = cached.stat().st_mtime_ns
    assert smctl(*args, "--job-name", "probe-s3-again", cwd=project).exit_code == 0
    assert cached.stat().st_mtime_ns == stamp  # unchanged objects are not downloaded again
    s3.delete_object(Bucket="smctl-train-data", Key="iris/train/sub/b.csv")
    s3.put_object(Bucket="smctl-train-data", Key="iris/train/c.csv", Body=b"5,6\n")
    res = smctl(*args, "--job-name", "probe-s3-changed", cwd=project)
    assert res.exit_code == 0, res.stderr
    rec = _model_records(Path(res.json["result"]["model_artifact"]))["probe-algo-1.json"]
    assert rec["files"] == ["a.csv", "c.csv"]  # the deleted object is gone from the channel, the new one is there
    assert not (cached.parent / "sub").exists()
