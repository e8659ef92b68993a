"""`local-serve --container ...` / [[serve.containers]]: the options of a multi-container endpoint, read into the
plan of smctl.serving.pipeline (local-serve's own flow then runs it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from smctl.cli.output import Output
from smctl.errors import UsageError

CONTAINER_METAVAR = "IMAGE[,model=PATH][,env=K=V][,hostname=NAME]"
CONTAINER_HELP = ("One container of a multi-container endpoint (inference pipeline), repeatable, in the order a "
                  "request passes them (at most 15); env= may repeat.")
DIRECT_HELP = ("Direct mode (InferenceExecutionConfig Mode Direct): each request names one container "
               "(smctl invoke --target-container HOSTNAME) instead of passing them all in turn.")


def parse_container(text: str) -> Any:
    """`IMAGE[,model=PATH][,env=K=V...][,hostname=NAME]` into a PipelineContainer (checked as smctl.toml's keys).

    Raises: UsageError naming the item."""
    from smctl.project.checks import Bad, Ctx
    from smctl.project.pipeline_keys import CONTAINER
    from smctl.serving.pipeline import PipelineContainer

    image, *items = [part.strip() for part in text.split(",")]
    raw: dict[str, Any] = {"image": image.removeprefix("image="), "environment": {}}
    for item in items:
        key, sep, value = item.partition("=")
        if key == "env" and "=" in value:
            k, _, v = value.partition("=")
            raw["environment"][k] = v
        elif sep and key in ("model", "hostname"):
            raw[key] = value
        else:
            raise UsageError(f"--container {text!r}: {item!r} is not model=PATH, env=KEY=VALUE or hostname=NAME",
                             f"write it as --container {CONTAINER_METAVAR}")
    checked: dict[str, Any] = {}
    for f in CONTAINER:
        if f.name in raw:
            try:
                checked[f.name] = f.check(raw[f.name], Ctx(Path.cwd()))
            except Bad as bad:
                what = "; ".join(f"{sub} {msg}" for sub, msg, _ in bad.items) or f"must be {bad.expected}"
                raise UsageError(f"--container {text!r}: {f.name} {what}", bad.hint or
                                 f"write it as --container {CONTAINER_METAVAR}") from None
    return PipelineContainer(**checked)


def pipeline_containers(spec: Any, flags: Sequence[str] | None, *, direct: bool, image: str | None,
                        model: str | None) -> list[Any]:
    """The containers of a multi-container endpoint (flags win over [[serve.containers]]); [] for one container.

    Raises: UsageError for --image/--model next to --container, or --direct without containers."""
    from smctl.serving.pipeline import PipelineContainer

    found = [parse_container(text) for text in flags or []]
    if not found:
        found = [PipelineContainer(e["image"], e["model"], e["environment"] or {}, e["hostname"])
                 for e in spec.serve.containers]
    if found and (image or model):
        flag = "--image" if image else "--model"
        raise UsageError(f"{flag} cannot be combined with a multi-container endpoint",
                         f"give each container its own: --container IMAGE,model=PATH (drop {flag})")
    if direct and not found:
        raise UsageError("--direct needs a multi-container endpoint",
                         "pass the containers: --container IMAGE_A --container IMAGE_B --direct")
    return found


def plan_pipeline(out: Output, config: Any, containers: Sequence[Any], *, direct: bool, mode: str,
                  cpus: int | None, has_gpus: bool | None) -> Any:
    from smctl.serving import pipeline

    plan = pipeline.plan_pipeline(config, containers, pipeline.DIRECT if direct else mode,
                                  engine_cpus=cpus, engine_has_gpus=has_gpus)
    steps = (" -> " if plan.mode == pipeline.SERIAL else ", ").join(
        f"{m.hostname} ({m.image} on {m.bind_port})" for m in plan.members)
    out.info(f"multi-container endpoint {config.name}, {plan.mode} mode: {steps}")
    return plan


def describe_containers(rows: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{r['hostname']} at {r['url']}" for r in rows)


def local_route(name: str | None, target_container: str | None, *, cloud: bool = False) -> Any:
    """The route of local endpoint `name` when it runs several containers, else None.

    Raises: UsageError for --target-container with --cloud, a URL, or a single-container endpoint."""
    if target_container and cloud:
        raise UsageError("--target-container is sent to local endpoints only",
                         "drop --cloud (or call boto3's invoke_endpoint with TargetContainerHostname=...)")
    if name is None:
        if target_container:
            raise UsageError("--target-container needs the endpoint's name, not a URL",
                             "smctl invoke NAME --target-container HOSTNAME --data ...")
        return None
    from smctl.engine.containers import docker_client
    from smctl.serving.pipeline import find_route

    route = find_route(docker_client(), name)
    if route is None and target_container:
        raise UsageError(f"endpoint {name} runs one container: --target-container is for multi-container endpoints "
                         "in Direct mode", "drop --target-container, or serve several: smctl local-serve "
                         "--container IMAGE_A,hostname=a --container IMAGE_B,hostname=b --direct")
    return route
