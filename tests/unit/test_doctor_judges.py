"""The pure judges of `smctl doctor` and `smctl check`, fed hand-made facts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smctl.doctor import image_judges as ij
from smctl.doctor import judges
from smctl.doctor.aws_checks import AwsFacts
from smctl.doctor.data_root import plan_move
from smctl.doctor.disk import FsFacts, Reclaimable
from smctl.doctor.engine import EngineFacts
from smctl.doctor.gpu import GpuFacts, dockerfile_cuda, parse_nvidia_smi
from smctl.doctor.image_probes import FileFacts, FsListing, ImageFacts, TrainLookup, is_allowed_driver_path
from smctl.doctor.image_runs import ServeRun, TrainRun
from smctl.doctor.model import Status
from smctl.doctor.ports import PortFacts
from smctl.doctor.project import ProjectFacts
from smctl.engine.client import EngineAddress, resolve_endpoint
from smctl.serving.ports import ContainerHolder, ProcessHolder, decode_address, listening_sockets

GiB = 1024**3
DEFAULT = EngineAddress("unix:///var/run/docker.sock", "default")


def engine(**kw) -> EngineFacts:
    base = dict(endpoint=DEFAULT, server_version="24.0.7", api_version="1.43", os_type="linux", arch="x86_64",
                storage_driver="overlay2", data_root="/var/lib/docker", runtimes=("runc",),
                buildx_version="github.com/docker/buildx v0.12.1", host_arch="x86_64")
    base.update(kw)
    return EngineFacts(**base)


# ---- Docker engine ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("failure", "expected"), [
    ("no_socket", "sudo systemctl start docker"),
    ("refused", "sudo systemctl start docker"),
    ("permission", "usermod -aG docker"),
    ("context", "docker context use default"),
])
def test_engine_failures_get_their_own_remedy(failure, expected):
    res = judges.judge_engine(EngineFacts(DEFAULT, failure=failure, error_text=f"{failure} text"))
    assert res.status is Status.FAIL
    assert expected in res.remedy
    assert res.data["failure"] == failure


def test_engine_down_behind_docker_host_says_to_unset_it():
    ep = EngineAddress("unix:///nowhere.sock", "DOCKER_HOST")
    res = judges.judge_engine(EngineFacts(ep, failure="no_socket", error_text="missing"))
    assert "unset DOCKER_HOST" in res.remedy


def test_engine_ok_reports_versions_driver_and_data_root():
    res = judges.judge_engine(engine(data_root="/data/docker"))
    assert res.status is Status.OK
    assert "24.0.7" in res.summary and "API 1.43" in res.summary and "overlay2" in res.summary
    assert res.data["data_root"] == "/data/docker"


def test_vfs_storage_driver_is_a_warning():
    assert judges.judge_engine(engine(storage_driver="vfs")).status is Status.WARN


def test_builds_need_no_buildx_because_smctl_uses_the_classic_builder():
    with_buildx = judges.judge_builder(engine())
    assert with_buildx.status is Status.OK and "optional" in with_buildx.details[0]
    no_buildx = judges.judge_builder(engine(buildx_version=None))
    assert no_buildx.status is Status.OK and no_buildx.remedy is None
    assert "classic builder" in no_buildx.summary and "not installed (optional" in no_buildx.details[0]
    old = judges.judge_builder(engine(server_version="18.06.1-ce"))
    assert old.status is Status.WARN and "older than 18.09" in old.summary
    down = judges.judge_builder(EngineFacts(DEFAULT, failure="refused"))
    assert down.status is Status.WARN and "unreachable" in down.summary


def test_arm64_host_needs_amd64_emulation():
    assert judges.judge_platform(engine()).status is Status.OK
    emulated = judges.judge_platform(engine(arch="aarch64", host_arch="aarch64", amd64_emulation=True))
    assert emulated.status is Status.WARN
    bare = judges.judge_platform(engine(arch="aarch64", host_arch="aarch64", amd64_emulation=False))
    assert bare.status is Status.FAIL and "binfmt" in bare.remedy


# ---- endpoint resolution, as the docker CLI does it ---------------------------------------------------------

def _context(cfg: Path, name: str, host: str) -> None:
    import hashlib

    meta = cfg / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Endpoints": {"docker": {"Host": host}}}))


def test_docker_host_wins_over_the_current_context(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    ep = resolve_endpoint({"DOCKER_HOST": "tcp://10.0.0.5:2375"}, tmp_path)
    assert (ep.host, ep.source) == ("tcp://10.0.0.5:2375", "DOCKER_HOST")


def test_current_context_endpoint_is_read_from_its_meta_json(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "colima"}))
    _context(tmp_path, "colima", "unix:///home/me/.colima/docker.sock")
    ep = resolve_endpoint({}, tmp_path)
    assert ep.host == "unix:///home/me/.colima/docker.sock"
    assert ep.context == "colima" and ep.error is None
    assert ep.socket_path == "/home/me/.colima/docker.sock"


def test_docker_context_variable_overrides_config_json(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "colima"}))
    _context(tmp_path, "other", "unix:///run/other.sock")
    assert resolve_endpoint({"DOCKER_CONTEXT": "other"}, tmp_path).host == "unix:///run/other.sock"


def test_a_context_that_does_not_exist_is_an_error_not_the_default(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "gone"}))
    ep = resolve_endpoint({}, tmp_path)
    assert ep.error is not None and "'gone' does not exist" in ep.error


def test_no_config_means_the_default_socket(tmp_path):
    assert resolve_endpoint({}, tmp_path).host == "unix:///var/run/docker.sock"


# ---- ports --------------------------------------------------------------------------------------------------

def test_free_port_is_ok():
    assert judges.judge_port(PortFacts(8080, ("SageMaker's port",), True)).status is Status.OK


def test_port_held_by_a_process_names_it_and_says_kill_pid():
    facts = PortFacts(8080, ("SageMaker's port",), False, "Address already in use",
                      processes=(ProcessHolder(4242, "python3", "python3 app.py", "0.0.0.0:8080"),))
    res = judges.judge_port(facts)
    assert res.status is Status.FAIL
    assert "python3 (pid 4242)" in res.summary
    assert res.remedy.startswith("kill 4242") and "--port 0" in res.remedy


def test_port_held_by_an_smctl_endpoint_is_a_warning_with_local_stop():
    facts = PortFacts(8080, ("SageMaker's port",), False, "in use",
                      processes=(ProcessHolder(99, "docker-proxy", "/usr/bin/docker-proxy ...", "0.0.0.0:8080"),),
                      containers=(ContainerHolder("smctl-endpoint-demo", "abc123", "demo:latest",
                                                  "127.0.0.1:8080->8080/tcp", endpoint="demo"),))
    res = judges.judge_port(facts)
    assert res.status is Status.WARN
    assert "smctl endpoint demo" in res.summary
    assert res.remedy.startswith("smctl local-stop demo")


def test_port_held_by_a_container_names_it_and_hides_docker_proxy():
    facts = PortFacts(8080, ("--port",), False, "in use",
                      processes=(ProcessHolder(99, "docker-proxy", "/usr/bin/docker-proxy ...", "0.0.0.0:8080"),),
                      containers=(ContainerHolder("web", "abc123", "nginx:1", "0.0.0.0:8080->80/tcp"),))
    res = judges.judge_port(facts)
    assert "container web" in res.summary
    assert res.remedy.startswith("docker stop web")
    assert "kill 99" not in res.remedy


def test_port_held_by_another_users_process_points_to_ss():
    facts = PortFacts(9000, ("--port",), False, "in use", processes=(ProcessHolder(None, None, None, "::1:9000",
                                                                                    user_visible=False),))
    assert "ss -ltnp" in judges.judge_port(facts).remedy


def test_proc_net_tcp_addresses_decode():
    assert decode_address("0100007F") == "127.0.0.1"
    assert decode_address("00000000") == "0.0.0.0"
    assert decode_address("00000000000000000000000001000000", v6=True) == "::1"
    table = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
             "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1\n"
             "   1: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12346 1\n"
             "   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 12347 1\n")
    assert listening_sockets(table, 8080) == [("127.0.0.1:8080", 12345)]


# ---- disk ---------------------------------------------------------------------------------------------------

def fs(path="/var/lib/docker", mount="/", total=100 * GiB, free=50 * GiB, inodes=(1000, 500), dev=1) -> FsFacts:
    return FsFacts(path, mount, "/dev/nvme0n1p1", "xfs", total, free, inodes[0], inodes[1], dev)


@pytest.mark.parametrize(("free", "total", "inodes", "expected"), [
    (50 * GiB, 100 * GiB, (1000, 500), Status.OK),
    (9 * GiB, 100 * GiB, (1000, 500), Status.WARN),  # < 10 GiB
    (20 * GiB, 400 * GiB, (1000, 500), Status.WARN),  # 5 % < 10 %
    (1 * GiB, 100 * GiB, (1000, 500), Status.FAIL),  # < 2 GiB
    (25 * GiB, 1000 * GiB, (1000, 500), Status.FAIL),  # 2.5 % < 3 %
    (50 * GiB, 100 * GiB, (1000, 20), Status.FAIL),  # inodes 2 %
    (50 * GiB, 100 * GiB, (1000, 80), Status.WARN),  # inodes 8 %
    (50 * GiB, 100 * GiB, (0, 0), Status.OK),  # btrfs reports no inode counts
])
def test_disk_thresholds(free, total, inodes, expected):
    assert judges.disk_level(fs(free=free, total=total, inodes=inodes)) is expected


def test_full_disk_lists_what_docker_can_reclaim_with_prune_commands():
    reclaim = Reclaimable(images=3 * GiB, containers=0, volumes=GiB, build_cache=2 * GiB, used_total=40 * GiB)
    res = judges.judge_disk("disk.data_root", "Docker data-root", fs(free=GiB), reclaim)
    assert res.status is Status.FAIL
    assert "docker image prune -a  # 3.0 GiB of unused images" in res.remedy
    assert "docker builder prune" in res.remedy and "docker volume prune" in res.remedy
    assert "docker container prune" not in res.remedy  # nothing to gain there
    assert res.data["reclaimable"]["total"] == 6 * GiB


def test_sagemaker_notebook_case_plans_the_move_with_real_paths():
    """/ at 96 % with a 256 GB /home/ec2-user/SageMaker: the plan moves the data-root there."""
    root = fs(mount="/", total=100 * GiB, free=4 * GiB, dev=1)
    sagemaker = fs("/home/ec2-user/SageMaker", "/home/ec2-user/SageMaker", 256 * GiB, 250 * GiB, dev=2)
    small = fs("/boot", "/boot", GiB, GiB // 2, dev=3)
    plan = plan_move(root, [small, sagemaker], "/var/lib/docker", used_bytes=60 * GiB,
                     daemon_json=Path("/etc/docker/daemon.json"))
    assert plan is not None
    assert plan.new_root == "/home/ec2-user/SageMaker/docker"
    text = "\n".join(plan.steps)
    assert "sudo rsync -aP /var/lib/docker/ /home/ec2-user/SageMaker/docker/" in text
    assert '"data-root": "/home/ec2-user/SageMaker/docker" in /etc/docker/daemon.json' in text
    assert "docker info -f '{{.DockerRootDir}}'" in text
    assert text.index("stop docker") < text.index("rsync") < text.index("start docker")
    res = judges.judge_disk("disk.data_root", "Docker data-root", root, Reclaimable(used_total=60 * GiB), plan)
    assert res.status is Status.WARN
    assert "move Docker's data-root" in res.remedy and res.data["move_plan"]["new_root"] == plan.new_root


def test_no_move_plan_when_no_filesystem_has_far_more_room():
    root = fs(free=4 * GiB, dev=1)
    similar = fs("/data", "/data", 120 * GiB, 12 * GiB, dev=2)
    assert plan_move(root, [similar], "/var/lib/docker", used_bytes=GiB) is None
    assert plan_move(root, [fs("/data", "/data", free=500 * GiB, dev=1)], "/var/lib/docker", GiB) is None  # same dev


# ---- GPU ----------------------------------------------------------------------------------------------------

SMI = """
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.14              Driver Version: 550.54.14      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
|   0  NVIDIA A10G                    On  |   00000000:00:1E.0 Off |                    0 |
|   1  NVIDIA A10G                    On  |   00000000:00:1F.0 Off |                    0 |
"""


def test_nvidia_smi_header_and_dockerfile_cuda_are_parsed():
    assert parse_nvidia_smi(SMI) == ("550.54.14", "12.4", 2)
    assert dockerfile_cuda("ARG X\nFROM --platform=linux/amd64 nvidia/cuda:12.6.1-runtime-ubuntu22.04 AS b\n") == "12.6"
    assert dockerfile_cuda("FROM python:3.11-slim\n") is None


def test_no_gpu_is_fine_unless_the_project_needs_one():
    assert judges.judge_gpu(GpuFacts()).status is Status.OK
    res = judges.judge_gpu(GpuFacts(needs_gpu="smctl.toml [train] uses the GPU instance type ml.g5.xlarge"))
    assert res.status is Status.FAIL and "ml.g5.xlarge" in res.summary


def test_gpu_without_container_toolkit_cannot_reach_containers():
    facts = GpuFacts(smi_path="/usr/bin/nvidia-smi", driver_version="550.54.14", driver_cuda="12.4", gpu_count=1)
    res = judges.judge_gpu(facts)
    assert res.status is Status.WARN and "nvidia-ctk" in res.remedy
    ok = GpuFacts(smi_path="/usr/bin/nvidia-smi", driver_version="550", driver_cuda="12.4", gpu_count=1,
                  engine_runtimes=("nvidia", "runc"))
    assert judges.judge_gpu(ok).status is Status.OK


def test_image_cuda_newer_than_the_driver_fails():
    facts = GpuFacts(smi_path="/usr/bin/nvidia-smi", driver_version="535", driver_cuda="12.2", gpu_count=1,
                     toolkit="/usr/bin/nvidia-container-runtime-hook", image_cuda="12.6", needs_gpu="Dockerfile")
    res = judges.judge_gpu(facts)
    assert res.status is Status.FAIL and "CUDA 12.6" in res.summary and "nvidia/cuda:12.2" in res.remedy


# ---- AWS ----------------------------------------------------------------------------------------------------

def by_id(results):
    return {r.id: r for r in results}


def test_aws_credentials_show_source_profile_and_last_4_only():
    res = by_id(judges.judge_aws(AwsFacts(method="shared-credentials-file", profile="dev", key_suffix="WXYZ",
                                          region="eu-west-1")))
    assert res["aws.credentials"].status is Status.OK
    assert res["aws.credentials"].summary == "found (shared-credentials-file, profile dev, key …WXYZ)"
    assert res["aws.region"].summary == "eu-west-1"
    assert "aws.identity" not in res  # offline: no STS


def test_no_credentials_and_no_region_are_warnings():
    res = by_id(judges.judge_aws(AwsFacts(metadata_skipped=True)))
    assert res["aws.credentials"].status is Status.WARN and "--online" in res["aws.credentials"].summary
    assert res["aws.region"].status is Status.WARN


def test_credentials_expiring_soon_warn_and_expired_fail():
    soon = by_id(judges.judge_aws(AwsFacts(method="sso", profile="dev", minutes_left=9, region="us-east-1")))
    assert soon["aws.credentials"].status is Status.WARN
    assert soon["aws.credentials"].remedy == "aws sso login --profile dev"
    gone = by_id(judges.judge_aws(AwsFacts(method="sso", profile="dev", minutes_left=-3, expires_at="then")))
    assert gone["aws.credentials"].status is Status.FAIL


def test_online_failures_fail():
    res = by_id(judges.judge_aws(AwsFacts(online=True, method="env", region="us-east-1",
                                          sts_error="ExpiredToken: expired", ecr_error="AccessDenied: no")))
    assert res["aws.identity"].status is Status.FAIL and "ExpiredToken" in res["aws.identity"].summary
    assert res["aws.ecr"].status is Status.FAIL and "ecr:GetAuthorizationToken" in res["aws.ecr"].remedy


# ---- project ------------------------------------------------------------------------------------------------

def test_project_checks():
    assert "skipped" in judges.judge_project(ProjectFacts())[0].summary
    broken = judges.judge_project(ProjectFacts("/p/smctl.toml", error="bad key", error_hint="fix it"))
    assert [r.status for r in broken] == [Status.FAIL]
    res = by_id(judges.judge_project(ProjectFacts("/p/smctl.toml", dockerfile="/p/Dockerfile", images=("a:1",),
                                                  images_missing=("a:1",), images_known=True)))
    assert res["project.dockerfile"].status is Status.FAIL
    assert res["project.images"].status is Status.WARN and res["project.images"].remedy == "smctl build"


# ---- check IMAGE --------------------------------------------------------------------------------------------

def image(**kw) -> ImageFacts:
    base = dict(ref="img:1", id="sha256:1", os="linux", architecture="amd64", size=300 * 1024**2, layers=4)
    base.update(kw)
    return ImageFacts(**base)


def test_platform_and_manifest_rules():
    assert ij.judge_platform(image()).status is Status.OK
    arm = ij.judge_platform(image(architecture="arm64", variant="v8"))
    assert arm.status is Status.FAIL and "linux/arm64/v8" in arm.summary and "--platform linux/amd64" in arm.remedy
    index = ij.judge_manifest(image(media_type="application/vnd.oci.image.index.v1+json"))
    assert index.status is Status.FAIL and "--provenance=false" in index.remedy
    assert ij.judge_manifest(image()).status is Status.OK


@pytest.mark.parametrize(("entrypoint", "status", "words"), [
    (None, Status.OK, "none"),
    (("python3", "/opt/entry.py"), Status.OK, "exec form"),
    (("/bin/sh", "-c", "/opt/entry.sh"), Status.FAIL, "shell form"),
    (("/usr/bin/tini", "--", "/opt/entry.sh"), Status.FAIL, "tini"),
    (("dumb-init", "serve"), Status.FAIL, "dumb-init"),
])
def test_entrypoint_rule(entrypoint, status, words):
    res = ij.judge_entrypoint(image(entrypoint=entrypoint))
    assert res.status is status and words in res.summary


def program(first_line: bytes, mode=0o755) -> FileFacts:
    return FileFacts("train", "/usr/local/bin/train", mode, first_line=first_line)


def test_train_with_crlf_shebang_fails_with_the_sed_fix():
    res = ij.judge_train(TrainLookup("path", program(b"#!/usr/bin/env python3\r\n")), None)
    assert res.status is Status.FAIL and "CRLF" in res.summary and "sed -i 's/\\r$//'" in res.remedy


def test_train_without_run_bit_fails_with_chmod():
    lookup = TrainLookup("path", None, (program(b"#!/bin/sh\n", mode=0o644),))
    run = TrainRun(False, start_error='exec: "train": executable file not found in $PATH')
    res = ij.judge_train(lookup, run)
    assert res.status is Status.FAIL and "run bit" in res.summary
    assert res.remedy == "RUN chmod +x /usr/local/bin/train"


def test_train_missing_from_path_fails():
    run = TrainRun(False, start_error='exec: "train": executable file not found in $PATH')
    res = ij.judge_train(TrainLookup("path", None), run)
    assert res.status is Status.FAIL and "no executable `train` on PATH" in res.summary


def test_train_without_shebang_fails_but_elf_binaries_pass():
    assert ij.judge_train(TrainLookup("path", program(b"import sys\n")), None).status is Status.FAIL
    elf = ij.judge_train(TrainLookup("path", program(b"\x7fELF\x02\x01")), TrainRun(False, exit_code=0))
    assert elf.status is Status.OK


def test_train_that_starts_or_exits_without_data_resolves():
    lookup = TrainLookup("path", program(b"#!/usr/bin/env python3\n"))
    assert ij.judge_train(lookup, TrainRun(False, timed_out=True, seconds=10)).status is Status.OK
    res = ij.judge_train(lookup, TrainRun(False, exit_code=1))
    assert res.status is Status.OK and "--sample" in res.summary


def test_train_exit_127_with_crlf_in_logs_fails():
    run = TrainRun(False, exit_code=127, logs_tail=("/usr/bin/env: \u2018python3\\r\u2019: No such file or directory",))
    res = ij.judge_train(TrainLookup("entrypoint", None), run)
    assert res.status is Status.FAIL and "CRLF" in res.summary


def test_sample_rule():
    assert ij.judge_sample(None, 600).status is Status.SKIP
    good = ij.judge_sample(TrainRun(True, exit_code=0, seconds=1.5, model_files=("model.txt",)), 600)
    assert good.status is Status.OK and "model.txt" in good.summary
    empty = ij.judge_sample(TrainRun(True, exit_code=0), 600)
    assert empty.status is Status.FAIL and "wrote nothing to /opt/ml/model" in empty.summary
    failed = ij.judge_sample(TrainRun(True, exit_code=2, failure_text="ValueError: bad csv"), 600)
    assert failed.status is Status.FAIL and "bad csv" in failed.summary


def serve(**kw) -> ServeRun:
    base = dict(startup_timeout=240, stop_grace=30, listeners=("0.0.0.0:8080",), listeners_known=True,
                ping_status=200, ping_ok_after=1.2, tries=3, invocations_tried=True, invocations_status=415,
                stopped=True, stop_seconds=0.3)
    base.update(kw)
    return ServeRun(**base)


def statuses(results):
    return {r.id: r.status for r in results}


def test_serve_rules_all_pass_for_a_good_server():
    res = ij.judge_serve(serve())
    assert set(statuses(res).values()) == {Status.OK}
    assert "415" in res[2].summary  # any HTTP answer proves /invocations is routed


def test_serve_bound_to_loopback_fails_listen_and_skips_ping():
    res = statuses(ij.judge_serve(serve(listeners=("127.0.0.1:8080",), ping_status=None, ping_ok_after=None,
                                        ping_error="reset", invocations_tried=False)))
    assert res["serve.listen"] is Status.FAIL
    assert res["serve.ping"] is Status.SKIP
    assert res["serve.invocations"] is Status.SKIP


def test_ping_never_200_fails():
    res = ij.judge_serve(serve(ping_status=503, ping_ok_after=None, startup_timeout=5))
    ping = by_id(res)["serve.ping"]
    assert ping.status is Status.FAIL and "answered 503, never 200 within 5 s" in ping.summary


def test_ping_that_keeps_answering_500_gives_up_early_and_asks_for_the_model():
    res = ij.judge_serve(serve(ping_status=500, ping_ok_after=None, ping_gave_up=True))
    ping = by_id(res)["serve.ping"]
    assert ping.status is Status.FAIL and "answered 500 3 times in a row" in ping.summary
    assert "--model" in ping.remedy


def test_ignoring_sigterm_fails():
    sig = by_id(ij.judge_serve(serve(stopped=False, stop_seconds=30.0)))["serve.sigterm"]
    assert sig.status is Status.FAIL and "SIGTERM" in sig.remedy


def test_serve_that_does_not_start_skips_the_rest():
    res = statuses(ij.judge_serve(ServeRun(240, 30, start_error='exec: "serve": executable file not found')))
    assert res == {"serve.listen": Status.FAIL, "serve.ping": Status.SKIP, "serve.invocations": Status.SKIP,
                   "serve.sigterm": Status.SKIP}


def test_driver_libraries_outside_compat_and_stubs_fail():
    assert is_allowed_driver_path("usr/local/cuda-12.4/compat/libcuda.so.550.54.14")
    assert is_allowed_driver_path("usr/local/cuda/lib64/stubs/libcuda.so")
    assert not is_allowed_driver_path("usr/lib/x86_64-linux-gnu/libcuda.so.1")
    res = ij.judge_drivers(FsListing(1000, ("/usr/lib/x86_64-linux-gnu/libcuda.so.1",)))
    assert res.status is Status.FAIL and "libcuda.so.1" in res.summary
    assert ij.judge_drivers(FsListing(1000, ())).status is Status.OK


def test_privilege_hints_warn():
    res = ij.judge_privileged(image(labels={"RUN": "docker run --privileged IMAGE"}, volumes=("/var/run/docker.sock",)))
    assert res.status is Status.WARN and len(res.details) == 2
    assert ij.judge_privileged(image()).status is Status.OK


def test_size_and_layers_are_reported():
    res = ij.judge_size(image())
    assert res.summary == "300.0 MiB in 4 layers" and res.data == {"bytes": 300 * 1024**2, "layers": 4}
