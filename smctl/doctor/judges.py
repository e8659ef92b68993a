"""Pure judges for `smctl doctor`: facts in, a CheckResult with a concrete remedy out. No I/O here."""

from __future__ import annotations

from smctl.doctor.aws_checks import AwsFacts
from smctl.doctor.data_root import MovePlan
from smctl.doctor.disk import FsFacts, Reclaimable
from smctl.doctor.engine import EngineFacts
from smctl.doctor.gpu import GpuFacts, version_tuple
from smctl.doctor.model import CheckResult, Status, fail, ok, warn
from smctl.doctor.ports import PortFacts
from smctl.doctor.project import ProjectFacts
from smctl.engine.client import EngineKind, remedy_for
from smctl.units import human_size

GiB = 1024**3
DISK_WARN_BYTES, DISK_WARN_RATIO = 10 * GiB, 0.10
DISK_FAIL_BYTES, DISK_FAIL_RATIO = 2 * GiB, 0.03
EXPIRY_WARN_MINUTES = 15
ENGINE_MIN = (18, 9)
AMD64 = ("x86_64", "amd64")
PORT_PROXIES = ("docker-proxy", "conmon", "rootlessport", "rootlessport-child")
ENGINE_DOWN = "cannot tell: the Docker engine is unreachable (see the docker.engine check)"


def judge_engine(f: EngineFacts) -> CheckResult:
    title = "Podman engine" if f.kind is EngineKind.PODMAN else "Docker engine"
    where = f"{f.endpoint.host or '?'} (from {f.endpoint.source})"
    if f.failure:
        return fail("docker.engine", title, f.error_text or f"cannot reach {where}", remedy_for(f.failure, f.endpoint),
                    f"endpoint: {where}", failure=f.failure, endpoint=f.endpoint.host, source=f.endpoint.source)
    details = (f"endpoint: {where}", f"storage driver: {f.storage_driver}", f"data-root: {f.data_root}",
               f"runtimes: {', '.join(f.runtimes) or '-'} (default {f.default_runtime})")
    data = {"endpoint": f.endpoint.host, "source": f.endpoint.source, "server_version": f.server_version,
            "api_version": f.api_version, "storage_driver": f.storage_driver, "data_root": f.data_root,
            "os": f.os_type, "architecture": f.arch}
    summary = f"{f.kind.product} {f.server_version} (API {f.api_version}), {f.os_type}/{f.arch}, {f.storage_driver}"
    if f.os_type and f.os_type != "linux":
        return fail("docker.engine", title, summary + ": SageMaker runs Linux containers",
                    "switch the engine to Linux containers (Docker Desktop: Switch to Linux containers)", *details,
                    **data)
    if f.storage_driver == "vfs":
        fix = ('use overlay: set driver = "overlay" under [storage] in /etc/containers/storage.conf (rootless: '
               '~/.config/containers/storage.conf), `podman system reset`, then restart the service'
               if f.kind is EngineKind.PODMAN else
               'use overlay2: set "storage-driver": "overlay2" in /etc/docker/daemon.json and restart Docker')
        return warn("docker.engine", title, summary + ": the vfs driver copies every layer in full", fix,
                    *details, **data)
    return ok("docker.engine", title, summary, *details, **data)


def judge_builder(f: EngineFacts) -> CheckResult:
    """smctl builds linux/amd64 through the engine's classic builder API: buildx/BuildKit is optional, never needed."""
    title = "image builds"
    if not f.reachable:
        return warn("docker.builder", title, ENGINE_DOWN, None)
    version = f.server_version or "0"
    if f.kind is EngineKind.PODMAN:  # buildah behind the compatible API: no BuildKit, no Docker version floor
        return ok("docker.builder", title, f"Podman {version} builds linux/amd64 images through its "
                  "Docker-compatible build API (buildah), as `smctl build` does", classic_builder=False, buildx=None,
                  engine="podman")
    data = {"classic_builder": True, "buildx": f.buildx_version}
    if version_tuple(version)[:2] < ENGINE_MIN:
        return warn("docker.builder", title, f"Docker {version} is older than 18.09: `smctl build --platform "
                    "linux/amd64` may be refused", "upgrade Docker to a current release", **data)
    extra = f"docker buildx: {f.buildx_version} (optional: smctl does not use it)" if f.buildx_version else \
        "docker buildx: not installed (optional: smctl does not use it)"
    return ok("docker.builder", title, f"the engine ({version}) builds linux/amd64 images through its classic "
              "builder, as `smctl build` does", extra, **data)


def judge_platform(f: EngineFacts) -> CheckResult:
    title = "amd64 platform"
    arch = f.arch or f.host_arch
    data = {"architecture": arch, "amd64_emulation": f.amd64_emulation}
    if arch in AMD64:
        return ok("docker.platform", title, f"{arch}: SageMaker's linux/amd64 images run natively", **data)
    if f.amd64_emulation:
        return warn("docker.platform", title, f"{arch} host: linux/amd64 images run under qemu emulation (slow)",
                    "build with `--platform linux/amd64` (smctl build does); expect slower local runs", **data)
    return fail("docker.platform", title,
                f"{arch} host without amd64 emulation: SageMaker images (linux/amd64) cannot run here",
                "register qemu for amd64: docker run --privileged --rm tonistiigi/binfmt --install amd64 "
                "(checks /proc/sys/fs/binfmt_misc/qemu-x86_64)", **data)


def judge_port(p: PortFacts) -> CheckResult:
    cid, title = f"port.{p.port}", f"port {p.port}"
    data = {"port": p.port, "sources": list(p.sources), "free": p.free,
            "processes": [vars(h) for h in p.processes], "containers": [vars(c) for c in p.containers]}
    named = f"port {p.port} ({', '.join(p.sources)})"
    if p.free:
        return ok(cid, title, f"{named} is free", *([p.bind_error] if p.bind_error else []), **data)
    details: list[str] = []
    fixes: list[str] = []
    for c in p.containers:
        endpoint = getattr(c, "endpoint", None)
        if endpoint:
            details.append(f"smctl endpoint {endpoint} (container {c.name}, image {c.image}) publishes {c.binding}")
            fixes.append(f"smctl local-stop {endpoint}")
        else:
            details.append(f"container {c.name} ({c.id}, image {c.image}) publishes {c.binding}")
            fixes.append(f"docker stop {c.name}")
    # the engine's own port holders (Docker's docker-proxy, Podman's conmon and rootlessport) are the containers above
    processes = [h for h in p.processes if not (p.containers and h.name in PORT_PROXIES)]
    for h in processes:
        if h.pid is None:
            details.append(f"a process of another user listens on {h.address}")
            fixes.append(f"sudo ss -ltnp 'sport = :{p.port}'  # names it; then stop it")
        else:
            details.append(f"process {h.name or '?'} (pid {h.pid}) listens on {h.address}: {h.cmdline or '?'}")
            fixes.append(f"kill {h.pid}")
    if not details:
        details.append(p.bind_error or "in use")
        fixes.append(f"sudo ss -ltnp 'sport = :{p.port}'  # names the holder")
    who = details[0].split(" listens")[0].split(" publishes")[0]
    remedy = " or ".join(dict.fromkeys(fixes)) + "; or serve on another port: --port 0 (any free port)"
    if p.containers and not processes and all(getattr(c, "endpoint", None) for c in p.containers):
        # smctl's own endpoint: expected while you work with it, not a broken setup
        return warn(cid, title, f"{named} is in use by {who}", remedy, *details, **data)
    return fail(cid, title, f"{named} is in use by {who}", remedy, *details, **data)


def disk_level(fs: FsFacts) -> Status:
    ratio, inodes = fs.free_ratio, fs.free_inode_ratio
    if fs.free_bytes < DISK_FAIL_BYTES or ratio < DISK_FAIL_RATIO or (inodes is not None and inodes < DISK_FAIL_RATIO):
        return Status.FAIL
    if fs.free_bytes < DISK_WARN_BYTES or ratio < DISK_WARN_RATIO or (inodes is not None and inodes < DISK_WARN_RATIO):
        return Status.WARN
    return Status.OK


def prune_commands(r: Reclaimable) -> list[str]:
    out = []
    for size, what, cmd in ((r.images, "unused images", "docker image prune -a"),
                            (r.build_cache, "build cache", "docker builder prune"),
                            (r.containers, "stopped containers", "docker container prune"),
                            (r.volumes, "unused volumes", "docker volume prune")):
        if size > 0:
            out.append(f"{cmd}  # {human_size(size)} of {what}")
    return out


def judge_disk(cid: str, role: str, fs: FsFacts, reclaim: Reclaimable | None = None,
               plan: MovePlan | None = None) -> CheckResult:
    """One filesystem against the thresholds, with prune commands and, for a small data-root, the move plan."""
    title = f"disk: {role}"
    level = disk_level(fs)
    inode_text = (f"{fs.free_inodes:,} of {fs.total_inodes:,} inodes free ({fs.free_inode_ratio:.0%})"
                  if fs.free_inode_ratio is not None else "inodes: not reported by this filesystem")
    summary = (f"{human_size(fs.free_bytes)} free of {human_size(fs.total_bytes)} ({fs.free_ratio:.0%}) on "
               f"{fs.mount_point} holding {fs.path}")
    details = [f"filesystem: {fs.device} ({fs.fstype}) mounted on {fs.mount_point}", inode_text]
    data: dict = {"path": fs.path, "mount_point": fs.mount_point, "device": fs.device, "fstype": fs.fstype,
                  "total_bytes": fs.total_bytes, "free_bytes": fs.free_bytes, "total_inodes": fs.total_inodes,
                  "free_inodes": fs.free_inodes, "level_thresholds": {
                      "warn": f"< {human_size(DISK_WARN_BYTES)} or < {DISK_WARN_RATIO:.0%} free",
                      "fail": f"< {human_size(DISK_FAIL_BYTES)} or < {DISK_FAIL_RATIO:.0%} free"}}
    prunes = prune_commands(reclaim) if reclaim else []
    if reclaim is not None:
        details.append(f"Docker could reclaim {human_size(reclaim.total)} (of {human_size(reclaim.used_total)} it "
                       "stores)")
        data["reclaimable"] = {"images": reclaim.images, "build_cache": reclaim.build_cache,
                               "stopped_containers": reclaim.containers, "volumes": reclaim.volumes,
                               "total": reclaim.total, "docker_total": reclaim.used_total,
                               "prune_commands": prunes}
    if level is Status.OK:
        return ok(cid, title, summary, *details, **data)
    fixes = list(prunes)
    if plan is not None:
        data["move_plan"] = plan.as_dict()
        details.append(f"{plan.target.mount_point} has {human_size(plan.target.free_bytes)} free: move the data-root "
                       f"there ({plan.new_root})")
        fixes.append("move Docker's data-root:\n" + "\n".join(f"  {i}. {s}" for i, s in enumerate(plan.steps, 1)))
    if not fixes:
        fixes.append(f"free space on {fs.mount_point} (delete files, grow the volume)")
    remedy = "\n".join(fixes)
    return (fail if level is Status.FAIL else warn)(cid, title, summary, remedy, *details, **data)


def judge_gpu(g: GpuFacts) -> CheckResult:
    title = "GPU"
    data = {"driver_version": g.driver_version, "driver_cuda": g.driver_cuda, "gpus": g.gpu_count,
            "engine_runtimes": list(g.engine_runtimes), "toolkit": g.toolkit, "cdi_specs": list(g.cdi_specs),
            "needs_gpu": g.needs_gpu, "image_cuda": g.image_cuda}
    need = f" but {g.needs_gpu}" if g.needs_gpu else ""
    if g.smi_path is None:
        if g.needs_gpu:
            return fail("gpu", title, f"no NVIDIA GPU/driver here{need}",
                        "run GPU jobs on a machine with an NVIDIA GPU and driver, or choose a CPU instance type "
                        "(local runs then use --gpus none)", **data)
        return ok("gpu", title, "no NVIDIA GPU/driver (not needed: the project does not ask for GPUs)", **data)
    if g.smi_error:
        make = fail if g.needs_gpu else warn
        return make("gpu", title, f"nvidia-smi fails: {g.smi_error}",
                    "reinstall or reload the NVIDIA driver (a driver/library version mismatch needs a reboot)", **data)
    summary = f"{g.gpu_count} GPU(s), driver {g.driver_version}, CUDA up to {g.driver_cuda}"
    plumbing = "nvidia" in g.engine_runtimes or bool(g.toolkit) or bool(g.cdi_specs)
    if not plumbing:
        make = fail if g.needs_gpu else warn
        return make("gpu", title, summary + ": Docker cannot give GPUs to containers (no NVIDIA runtime or CDI)",
                    "install the NVIDIA Container Toolkit, then `sudo nvidia-ctk runtime configure --runtime=docker` "
                    "and restart Docker", **data)
    if g.image_cuda and g.driver_cuda and version_tuple(g.image_cuda) > version_tuple(g.driver_cuda):
        return fail("gpu", title, f"{summary}: the image builds on CUDA {g.image_cuda}, newer than the driver "
                    f"supports ({g.driver_cuda})",
                    f"use an nvidia/cuda:{g.driver_cuda}-based image (or older), or upgrade the NVIDIA driver", **data)
    return ok("gpu", title, summary + (f"; image CUDA {g.image_cuda} is supported" if g.image_cuda else ""), **data)


def judge_aws(a: AwsFacts) -> list[CheckResult]:
    out: list[CheckResult] = []
    title = "AWS credentials"
    who = f"{a.method}" + (f", profile {a.profile}" if a.profile else "") + \
        (f", key …{a.key_suffix}" if a.key_suffix else "")
    data = {"method": a.method, "profile": a.profile, "key_id_last4": a.key_suffix, "expires_at": a.expires_at,
            "minutes_left": a.minutes_left}
    if a.error:
        out.append(fail("aws.credentials", title, f"the AWS configuration is broken: {a.error}",
                        "fix ~/.aws/config, or `unset AWS_PROFILE`, or `aws configure --profile NAME`", **data))
    elif a.method is None:
        skipped = " (instance and container roles are only asked with --online)" if a.metadata_skipped else ""
        out.append(warn("aws.credentials", title, f"no AWS credentials found{skipped}: local runs work, push and "
                        "ECR need them", "aws configure (or export AWS_PROFILE=NAME; aws sso login)", **data))
    elif a.minutes_left is not None and a.minutes_left <= 0:
        out.append(fail("aws.credentials", title, f"credentials ({who}) expired at {a.expires_at}",
                        _refresh_hint(a), **data))
    elif a.minutes_left is not None and a.minutes_left < EXPIRY_WARN_MINUTES:
        out.append(warn("aws.credentials", title, f"credentials ({who}) expire in {a.minutes_left:.0f} min",
                        _refresh_hint(a), **data))
    else:
        out.append(ok("aws.credentials", title, f"found ({who})", **data))
    if a.region:
        out.append(ok("aws.region", "AWS region", a.region, region=a.region))
    else:
        out.append(warn("aws.region", "AWS region", "no region set (ECR and SageMaker are regional)",
                        "export AWS_DEFAULT_REGION=us-east-1 (or `aws configure set region REGION`)", region=None))
    if not a.online:
        return out
    if a.sts_error:
        out.append(fail("aws.identity", "AWS identity (STS)", f"GetCallerIdentity failed: {a.sts_error}",
                        "check the credentials (aws sts get-caller-identity) and the network", error=a.sts_error))
    else:
        out.append(ok("aws.identity", "AWS identity (STS)", f"account {a.account}, {a.arn}", account=a.account,
                      arn=a.arn))
    if a.ecr_error:
        out.append(fail("aws.ecr", "ECR login", f"GetAuthorizationToken failed: {a.ecr_error}",
                        "set a region, and allow ecr:GetAuthorizationToken for this identity", error=a.ecr_error))
    else:
        out.append(ok("aws.ecr", "ECR login", f"token for {a.ecr_endpoint} (expires {a.ecr_expires_at})",
                      endpoint=a.ecr_endpoint, expires_at=a.ecr_expires_at))
    return out


def _refresh_hint(a: AwsFacts) -> str:
    if a.method == "sso":
        return f"aws sso login --profile {a.profile}"
    if a.method in ("assume-role", "assume-role-with-web-identity"):
        return "the role is assumed again on first use; check the source profile's credentials"
    return "get fresh credentials (for temporary ones: rerun the command that issued them)"


def judge_project(p: ProjectFacts) -> list[CheckResult]:
    if p.config_path is None:
        return [ok("project", "project", "no smctl.toml in this folder or its parents: project checks skipped")]
    if p.error:
        return [fail("project.config", "smctl.toml", p.error, p.error_hint or f"fix {p.config_path}")]
    out = [ok("project.config", "smctl.toml", f"{p.config_path} is valid")]
    if p.dockerfile_exists:
        out.append(ok("project.dockerfile", "Dockerfile", f"{p.dockerfile} present"))
    else:
        out.append(fail("project.dockerfile", "Dockerfile", f"{p.dockerfile} is missing",
                        "smctl init (scaffolds one), or set [build] dockerfile in smctl.toml"))
    if not p.images_known:
        out.append(warn("project.images", "images", ENGINE_DOWN, None, images=list(p.images)))
    elif p.images_missing:
        out.append(warn("project.images", "images", f"not built yet: {', '.join(p.images_missing)}", "smctl build",
                        images=list(p.images), missing=list(p.images_missing)))
    else:
        out.append(ok("project.images", "images", f"built: {', '.join(p.images)}", images=list(p.images)))
    return out
