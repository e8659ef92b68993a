"""`smctl doctor`: every probe runs, every judge speaks; one failing check never hides the others."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from smctl.doctor import judges
from smctl.doctor.data_root import DAEMON_JSON
from smctl.doctor.model import CheckResult, Event, Report, Status, guarded, warn

DEFAULT_PORT = 8080
RUN_FOLDER = ".smctl"


@dataclass(frozen=True)
class DoctorOptions:
    cwd: Path
    config: Path | None = None
    ports: tuple[int, ...] = ()
    online: bool = False
    daemon_json: Path = DAEMON_JSON
    env: dict[str, str] | None = field(default=None)
    role: str | None = None  # --role: the execution role to check (default: smctl.toml [aws] role)


def run_doctor(opts: DoctorOptions, on_event: Event = lambda msg: None) -> Report:
    """Probe and judge the engine, ports, disks, GPU, AWS and the project; returns every result in order."""
    from smctl.doctor.engine import EngineFacts
    from smctl.engine.client import open_client

    results: list[CheckResult] = []
    on_event("Docker engine")
    engine_facts: list[EngineFacts] = []
    results += guarded("docker.engine", "Docker engine", lambda: _engine(opts, engine_facts))
    engine = engine_facts[0] if engine_facts else None
    client: Any = None
    if engine is not None and engine.reachable:
        try:
            client = open_client(engine.endpoint, timeout=60)
        except Exception:  # noqa: BLE001 - judged above; the checks below say they cannot ask the engine
            client = None
    try:
        on_event("project")
        project_box: list[Any] = []
        results += guarded("project", "project", lambda: _project(opts, client, project_box))
        project = project_box[0] if project_box else None
        on_event("ports")
        results += _ports(opts, client, project)
        on_event("disk space")
        results += guarded("disk.data_root", "disk: Docker data-root",
                           lambda: _data_root(engine, client, opts.daemon_json))
        results += guarded("disk.run_folder", "disk: run folders", lambda: _run_folder(opts, project))
        on_event("GPU")
        results += guarded("gpu", "GPU", lambda: _gpu(engine, project))
        on_event("AWS" + (" (online)" if opts.online else ""))
        aws_box: list[Any] = []
        results += guarded("aws.credentials", "AWS credentials", lambda: _aws(opts.online, project, aws_box))
        aws = aws_box[0] if aws_box else None
        role = opts.role or getattr(project, "aws_role", None)
        if role:
            on_event("execution role" + (" (online)" if opts.online else ""))
            results += guarded("aws.role", "execution role", lambda: _role(opts, role, project, aws))
        on_event("credentials endpoint")
        gives = bool(role) or (aws is not None and aws.method is not None)
        results += guarded("credentials.endpoint", "credentials for containers", lambda: _endpoint(client, gives))
    finally:
        if client is not None:
            client.close()
    return Report(tuple(results), {"online": opts.online})


def _engine(opts: DoctorOptions, box: list[Any]) -> list[CheckResult]:
    from smctl.doctor.engine import probe_engine

    facts = probe_engine(opts.env)
    box.append(facts)
    return [judges.judge_engine(facts), judges.judge_builder(facts), judges.judge_platform(facts)]


def _project(opts: DoctorOptions, client: Any, box: list[Any]) -> list[CheckResult]:
    from smctl.doctor.project import probe_project

    facts = probe_project(opts.config, opts.cwd, client)
    box.append(facts)
    return judges.judge_project(facts)


def _ports(opts: DoctorOptions, client: Any, project: Any) -> list[CheckResult]:
    from smctl.doctor.ports import probe_port

    sources: dict[int, list[str]] = {DEFAULT_PORT: ["SageMaker's port"]}
    for port in opts.ports:
        sources.setdefault(port, []).append("--port")
    if project is not None and project.serve_port:
        sources.setdefault(project.serve_port, []).append("smctl.toml [serve] port")
    out: list[CheckResult] = []
    for port, src in sources.items():
        out += guarded(f"port.{port}", f"port {port}", partial(_port, probe_port, port, tuple(src), client))
    return out


def _port(probe: Any, port: int, sources: tuple[str, ...], client: Any) -> CheckResult:
    return judges.judge_port(probe(port, sources, client))


def _data_root(engine: Any, client: Any, daemon_json: Path) -> CheckResult:
    from smctl.doctor.data_root import plan_move
    from smctl.doctor.disk import other_filesystems, probe_filesystem, probe_reclaimable

    cid, role = "disk.data_root", "Docker data-root"
    if client is None or engine is None or not engine.data_root:
        return warn(cid, f"disk: {role}", judges.ENGINE_DOWN, None)
    root = Path(engine.data_root)
    if not root.exists():
        return warn(cid, f"disk: {role}", f"data-root {root} is not on this machine (a remote engine or a VM)",
                    "check its space where the engine runs: docker system df")
    fs = probe_filesystem(root)
    reclaim = probe_reclaimable(client)
    plan = None
    if judges.disk_level(fs) is not Status.OK:
        plan = plan_move(fs, other_filesystems(fs.dev_id), str(root), reclaim.used_total, daemon_json)
    return judges.judge_disk(cid, role, fs, reclaim, plan)


def _run_folder(opts: DoctorOptions, project: Any) -> CheckResult:
    from smctl.doctor.disk import probe_filesystem

    base = Path(project.config_path).parent if project is not None and project.config_path else opts.cwd
    return judges.judge_disk("disk.run_folder", f"run folders ({RUN_FOLDER})", probe_filesystem(base / RUN_FOLDER))


def _gpu(engine: Any, project: Any) -> CheckResult:
    from smctl.doctor.gpu import probe_gpu

    dockerfile = Path(project.dockerfile) if project is not None and project.dockerfile_exists else None
    facts = probe_gpu(
        runtimes=engine.runtimes if engine is not None else (),
        cdi_spec_dirs=engine.cdi_spec_dirs if engine is not None else (),
        dockerfile=dockerfile,
        needs_gpu=project.needs_gpu if project is not None else None,
    )
    return judges.judge_gpu(facts)


def _aws(online: bool, project: Any, box: list[Any]) -> list[CheckResult]:
    """AWS as smctl's commands will see it: smctl.toml's [aws] region and profile count."""
    from smctl.doctor.aws_checks import probe_aws

    region = getattr(project, "aws_region", None)
    profile = getattr(project, "aws_profile", None)
    facts = probe_aws(online, region=region, profile=profile)
    box.append(facts)
    return judges.judge_aws(facts)


def _role(opts: DoctorOptions, role: str, project: Any, aws: Any) -> list[CheckResult]:
    """The role local runs' containers get; with --online: AssumeRole, its trust policy, its permissions."""
    from smctl.doctor import role_judges

    source = "--role" if opts.role else "smctl.toml [aws] role"
    out = [role_judges.judge_role(role, source, opts.online)]
    if not opts.online:
        return out
    from smctl.doctor.role_checks import probe_role

    region = getattr(aws, "region", None)
    facts, needs, unchecked = probe_role(role, project, region, getattr(project, "aws_profile", None))
    return [*out, role_judges.judge_role_assume(facts, getattr(aws, "arn", None)),
            role_judges.judge_role_trust(facts), role_judges.judge_role_permissions(facts, needs, unchecked)]


def _endpoint(client: Any, gives_credentials: bool) -> CheckResult:
    from smctl.doctor.role_checks import probe_endpoint
    from smctl.doctor.role_judges import judge_credentials_endpoint

    return judge_credentials_endpoint(probe_endpoint(client), gives_credentials)
