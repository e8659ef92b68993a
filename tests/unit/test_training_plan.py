"""plan_job without a Docker engine: hosts, config files, channel mounts per input mode, sharding, limits."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from smctl.contract.layout import ChannelConfig
from smctl.errors import UsageError
from smctl.training.inputs import ChannelInput
from smctl.training.plan import TrainingJob, plan_job, with_checkpoints, without_overlays


@pytest.fixture(autouse=True)
def no_engine(monkeypatch):
    """Planning must never reach the engine: any attempt fails the test."""

    def refuse() -> None:
        raise AssertionError("plan_job asked the engine for a client")

    monkeypatch.setattr("smctl.engine.containers.docker_client", refuse)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data" / "train"
    folder.mkdir(parents=True)
    for i in range(6):
        (folder / f"part-{i}.csv").write_text(f"{i}\n")
    return folder


def job(tmp_path: Path, **changes) -> TrainingJob:
    fields = {"image": "algo:1", "project_root": tmp_path / "project", "job_name": "job-1"}
    fields.update(changes)
    return TrainingJob(**fields)


def channel(source: Path | str, name: str = "train", **config) -> ChannelInput:
    return ChannelInput(ChannelConfig(name, **config), str(source))


def mounts_at(host, target: str):
    return [m for m in host.container.mounts if m.target == target]


def test_hosts_are_algo_1_to_n_on_one_network_each_named_and_labelled(tmp_path):
    plan = plan_job(job(tmp_path, instance_count=3))
    assert [h.host for h in plan.hosts] == ["algo-1", "algo-2", "algo-3"]
    assert plan.network == "smctl-job-1"
    for h in plan.hosts:
        c = h.container
        assert (c.hostname, c.name, c.network, c.aliases) == (h.host, f"smctl-job-1-{h.host}", plan.network, (h.host,))
        assert c.labels == {"smctl.job": "job-1", "smctl.kind": "train", "smctl.host": h.host}
        assert h.root == tmp_path / "project" / ".smctl" / "runs" / "job-1" / h.host


def test_one_host_needs_no_network(tmp_path):
    plan = plan_job(job(tmp_path))
    assert plan.network is None
    assert plan.hosts[0].container.aliases == ()


def test_each_host_gets_config_files_naming_itself(tmp_path, data):
    plan = plan_job(job(tmp_path, instance_count=2, hyperparameters={"epochs": 3, "flag": True, "name": "x"},
                        channels=(channel(data, content_type="text/csv"),)))
    for h in plan.hosts:
        files = h.config_files
        assert set(files) == {"hyperparameters.json", "inputdataconfig.json", "resourceconfig.json"}
        assert files["hyperparameters.json"] == '{"epochs": "3", "flag": "true", "name": "x"}'
        assert json.loads(files["inputdataconfig.json"]) == {"train": {
            "ContentType": "text/csv", "TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None"}}
        resource = json.loads(files["resourceconfig.json"])
        assert resource["current_host"] == h.host
        assert resource["hosts"] == ["algo-1", "algo-2"]
        assert resource["current_instance_type"] == "ml.m5.xlarge"


def test_str_encoding_writes_python_text(tmp_path):
    plan = plan_job(job(tmp_path, hyperparameters={"flag": True}, hyperparameter_encoding="str"))
    assert plan.hosts[0].config_files["hyperparameters.json"] == '{"flag": "True"}'


def test_checkpoint_dir_adds_its_config_file_and_mount(tmp_path):
    plain = plan_job(job(tmp_path))
    assert "checkpointconfig.json" not in plain.hosts[0].config_files
    assert not mounts_at(plain.hosts[0], "/opt/ml/checkpoints")
    for plan in (plan_job(job(tmp_path, checkpoint_dir=tmp_path / "ckpt")), with_checkpoints(plain)):
        host = plan.hosts[0]
        assert host.config_files["checkpointconfig.json"] == '{"LocalPath": "/opt/ml/checkpoints"}'
        assert [m.source for m in mounts_at(host, "/opt/ml/checkpoints")] == [host.root / "checkpoints"]


def test_opt_ml_folders_are_mounted_config_read_only(tmp_path):
    host = plan_job(job(tmp_path)).hosts[0]
    by_target = {m.target: m for m in host.container.mounts}
    assert by_target["/opt/ml/input/config"].read_only
    assert by_target["/opt/ml/input/config"].source == host.root / "input" / "config"
    for target, sub in (("/opt/ml/input/data", "input/data"), ("/opt/ml/model", "model"),
                        ("/opt/ml/output", "output")):
        assert by_target[target].source == host.root / sub
        assert not by_target[target].read_only


def test_file_channel_is_a_writable_overlay_of_the_users_folder(tmp_path, data):
    host = plan_job(job(tmp_path, channels=(channel(data),))).hosts[0]
    [mount] = mounts_at(host, "/opt/ml/input/data/train")
    assert (mount.source, mount.read_only, mount.overlay) == (data, False, host.root / "overlay" / "train")
    assert host.pipes == {}


def test_read_only_channels_mount_file_channels_read_only(tmp_path, data):
    plan = plan_job(job(tmp_path, channels=(channel(data),), read_only_channels=True))
    [mount] = mounts_at(plan.hosts[0], "/opt/ml/input/data/train")
    assert (mount.source, mount.read_only, mount.overlay) == (data, True, None)
    overlaid = plan_job(job(tmp_path, channels=(channel(data),)))
    assert without_overlays(overlaid).hosts == plan.hosts


def test_fastfile_channel_is_a_read_only_mount(tmp_path, data):
    host = plan_job(job(tmp_path, channels=(channel(data, input_mode="FastFile"),))).hosts[0]
    [mount] = mounts_at(host, "/opt/ml/input/data/train")
    assert (mount.source, mount.read_only, mount.overlay) == (data, True, None)


def test_a_single_file_file_mode_channel_is_a_writable_overlay_over_a_folder_holding_it(tmp_path, data):
    host = plan_job(job(tmp_path, channels=(channel(data / "part-0.csv"),))).hosts[0]
    [mount] = mounts_at(host, "/opt/ml/input/data/train")
    assert (mount.source, mount.read_only, mount.overlay) == (
        host.root / "single" / "train", False, host.root / "overlay" / "train")


def test_a_single_file_channel_read_only_is_mounted_under_its_name(tmp_path, data):
    file = data / "part-0.csv"
    host = plan_job(job(tmp_path, channels=(channel(file),), read_only_channels=True)).hosts[0]
    [mount] = mounts_at(host, "/opt/ml/input/data/train/part-0.csv")
    assert (mount.source, mount.read_only) == (file, True)


def test_pipe_channel_is_fed_not_mounted(tmp_path, data):
    cfg = {"input_mode": "Pipe", "record_wrapper": "RecordIO", "compression": "Gzip"}
    host = plan_job(job(tmp_path, channels=(channel(data, **cfg),))).hosts[0]
    assert not [m for m in host.container.mounts if m.target.startswith("/opt/ml/input/data/")]
    assert host.pipes == {"train": sorted(data.iterdir())}
    assert host.pipe_options["train"].compression == "Gzip"
    assert json.loads(host.config_files["inputdataconfig.json"])["train"]["TrainingInputMode"] == "Pipe"


def test_sharded_pipe_channel_splits_the_files_across_hosts(tmp_path, data):
    plan = plan_job(job(tmp_path, instance_count=2,
                        channels=(channel(data, input_mode="Pipe", distribution="ShardedByS3Key"),)))
    one, two = (h.pipes["train"] for h in plan.hosts)
    assert one and two and not set(one) & set(two)
    assert sorted(one + two) == sorted(data.iterdir())


def test_replicated_pipe_channel_gives_every_host_every_file(tmp_path, data):
    plan = plan_job(job(tmp_path, instance_count=2, channels=(channel(data, input_mode="Pipe"),)))
    assert plan.hosts[0].pipes == plan.hosts[1].pipes == {"train": sorted(data.iterdir())}


def test_sharded_file_channel_mounts_each_hosts_shard_folder(tmp_path, data):
    plan = plan_job(job(tmp_path, instance_count=2, channels=(channel(data, distribution="ShardedByS3Key"),)))
    for h in plan.hosts:
        [mount] = mounts_at(h, "/opt/ml/input/data/train")
        assert mount.source == h.root / "shards" / "train"
        assert mount.overlay == h.root / "overlay" / "train"


def test_sharding_on_one_host_mounts_the_channel_itself(tmp_path, data):
    host = plan_job(job(tmp_path, channels=(channel(data, distribution="ShardedByS3Key"),))).hosts[0]
    assert [m.source for m in mounts_at(host, "/opt/ml/input/data/train")] == [data]


def test_s3_channel_is_planned_from_the_project_cache(tmp_path):
    host = plan_job(job(tmp_path, channels=(channel("s3://bucket/prefix/train/", input_mode="FastFile"),))).hosts[0]
    [mount] = mounts_at(host, "/opt/ml/input/data/train")
    assert mount.source == tmp_path / "project" / ".smctl" / "cache" / "s3" / "bucket" / "prefix" / "train"


def test_environment_names_the_job_and_region_and_keeps_the_users(tmp_path):
    env = plan_job(job(tmp_path, region="eu-west-1", environment={"A": "1"})).hosts[0].container.environment
    assert env == {
        "TRAINING_JOB_NAME": "job-1",
        "TRAINING_JOB_ARN": "arn:aws:sagemaker:eu-west-1:000000000000:training-job/job-1",
        "AWS_REGION": "eu-west-1", "SAGEMAKER_REGION": "eu-west-1", "A": "1",
    }
    local = plan_job(job(tmp_path)).hosts[0].container.environment
    assert local["TRAINING_JOB_ARN"] == "arn:aws:sagemaker:local:000000000000:training-job/job-1"
    assert "AWS_REGION" not in local


def test_instance_type_sets_memory_cpu_and_shm_limits(tmp_path):
    plan = plan_job(job(tmp_path, instance_type="ml.m5.xlarge"))
    c = plan.hosts[0].container
    assert c.mem_limit == 16 * 1024**3
    assert c.nano_cpus == min(4, os.cpu_count() or 1) * 10**9
    assert c.shm_size == 1 << 30
    assert plan.instance.name == "ml.m5.xlarge"


@pytest.mark.parametrize(("gpus", "instance", "described"), [
    ("auto", "ml.m5.xlarge", "none"),
    ("auto", "ml.p3.8xlarge", "4"),
    ("all", "ml.m5.xlarge", "all"),
    ("2", "ml.p3.8xlarge", "2"),
    ("0,1", "ml.p3.8xlarge", "devices 0,1"),
    ("none", "ml.p3.8xlarge", "none"),
])
def test_gpu_request_follows_the_flag_and_instance(tmp_path, gpus, instance, described):
    plan = plan_job(job(tmp_path, gpus=gpus, instance_type=instance))
    assert plan.hosts[0].container.gpus.describe() == described


def test_default_invocation_is_train_and_arguments_replace_it(tmp_path):
    c = plan_job(job(tmp_path)).hosts[0].container
    assert (c.command, c.entrypoint) == (["train"], None)
    c = plan_job(job(tmp_path, arguments=["fit", "--fast"])).hosts[0].container
    assert (c.command, c.entrypoint) == (["fit", "--fast"], None)
    c = plan_job(job(tmp_path, entrypoint=["python", "t.py"])).hosts[0].container
    assert (c.command, c.entrypoint) == ([], ["python", "t.py"])


def test_artifact_folders_per_output_option(tmp_path):
    run_dir = tmp_path / "project" / ".smctl" / "runs" / "job-1"
    plan = plan_job(job(tmp_path))
    assert (plan.output_dir, plan.latest_dir) == (run_dir, None)
    plan = plan_job(job(tmp_path, output_root=tmp_path / "out"))
    assert (plan.output_dir, plan.latest_dir) == (tmp_path / "out" / "job-1", tmp_path / "out")
    plan = plan_job(job(tmp_path, output_dir=tmp_path / "named", output_root=tmp_path / "out"))
    assert (plan.output_dir, plan.latest_dir) == (tmp_path / "named", None)


def test_a_job_name_is_made_from_the_image_when_none_is_given(tmp_path):
    plan = plan_job(job(tmp_path, image="registry:5000/team/my_algo:v1", job_name=None))
    assert plan.job_name.startswith("my-algo-")
    assert plan.hosts[0].container.name == f"smctl-{plan.job_name}-algo-1"


def test_planning_writes_nothing(tmp_path, data):
    before = sorted(tmp_path.rglob("*"))
    plan_job(job(tmp_path, instance_count=2, checkpoint_dir=tmp_path / "ckpt",
                 channels=(channel(data, distribution="ShardedByS3Key"),)))
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize(("changes", "message"), [
    ({"job_name": "bad_name"}, "job name 'bad_name' is not valid"),
    ({"instance_count": 0}, "instance count 0 is below 1"),
    ({"instance_type": "ml.nope.xlarge"}, "ml.nope.xlarge"),
    ({"hyperparameter_encoding": "yaml"}, "unknown hyperparameter encoding"),
    ({"hyperparameters": {"big": "x" * 2501}}, "2501 characters"),
    ({"environment": {"1BAD": "x"}}, "'1BAD'"),
    ({"entrypoint": ["x"] * 101}, "--entrypoint has 101 items"),
    ({"arguments": ["x" * 257]}, "--args item"),
    ({"gpus": "many"}, "--gpus 'many' is not valid"),
    ({"channels": (channel("/d", name="bad name"),)}, "channel name 'bad name'"),
    ({"channels": (channel("/d", input_mode="Stream"),)}, "input mode 'Stream'"),
    ({"channels": (channel("/d"), channel("/e"))}, "given twice"),
    ({"channels": (channel("/d", input_mode="FastFile", compression="Gzip"),)}, "compression Gzip needs"),
])
def test_bad_input_is_refused_before_anything_runs(tmp_path, changes, message):
    with pytest.raises(UsageError, match=message):
        plan_job(job(tmp_path, **changes))


def test_each_host_of_a_multi_host_job_joins_a_holder_of_its_network_name(tmp_path):
    plan = plan_job(job(tmp_path, instance_count=2))
    for host in plan.hosts:
        holder = host.holder
        assert holder is not None and holder.hostname == host.host and holder.aliases == (host.host,)
        assert holder.network == plan.network and holder.labels["smctl.kind"] == "train-network"
        assert host.container.network_of == holder.name
    assert plan_job(job(tmp_path)).hosts[0].holder is None  # one host needs no network of its own


def test_a_default_job_name_is_the_repository_name_without_tag_or_digest():
    from smctl.training.plan import JOB_NAME, default_job_name

    for image, base in (("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/churn@sha256:" + "a" * 64, "churn"),
                        ("localhost:5000/churn:v1", "churn"), ("my_algo", "my-algo")):
        name = default_job_name(image)
        assert name.startswith(f"{base}-2") and JOB_NAME.match(name), name
