"""`smctl deploy`'s hosting modes, read from the same options and [serve] keys as local-serve's: asynchronous
inference (--async-*, [serve.async_inference]), a multi-model endpoint (--multi-model) and a multi-container one
(--container, [[serve.containers]], --direct, [serve] execution_mode)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

import typer

from smctl.cli import pipeline as pipeline_cli
from smctl.cli.output import Output
from smctl.errors import UsageError

MultiModelOption = Annotated[str | None, typer.Option(
    "--multi-model", metavar="s3://PREFIX/|DIR", help="A multi-model endpoint (Mode MultiModel): the model archives "
    "under this S3 prefix, or a folder of them uploaded once per content.")]
ContainerOption = Annotated[list[str] | None, typer.Option(
    "--container", metavar=pipeline_cli.CONTAINER_METAVAR, help=pipeline_cli.CONTAINER_HELP)]
DirectOption = Annotated[bool, typer.Option("--direct", help=pipeline_cli.DIRECT_HELP)]


@dataclass(frozen=True)
class Modes:
    """What the modes add to the CloudEndpoint, and what they upload or name in S3."""

    async_inference: dict[str, Any] | None = None
    async_uris: tuple[str, ...] = ()
    multi_model: str | None = None  # s3://prefix/ or an absolute folder (check_source's form)
    containers: tuple[Any, ...] = ()  # CloudContainer, model_uri set for s3:// models
    container_models: tuple[Any, ...] = ()  # Location | None per container: the local ones are uploaded
    execution_mode: str = "Serial"
    images: tuple[str, ...] = field(default_factory=tuple)

    @property
    def s3_uris(self) -> list[str]:
        """What the region preflight checks: S3 URIs the options name."""
        found = list(self.async_uris)
        if self.multi_model and self.multi_model.startswith("s3://"):
            found.append(self.multi_model)
        found += [m.uri for m in self.container_models if m is not None and m.is_s3]
        return found

    @property
    def uploads(self) -> bool:
        return bool((self.multi_model and not self.multi_model.startswith("s3://"))
                    or any(m is not None and not m.is_s3 for m in self.container_models))


def read_modes(spec: Any, s: Any, *, async_flags: tuple[str | None, str | None, int | None],
               multi_model: str | None, containers: Sequence[str] | None, direct: bool, image: str | None,
               model: str | None, serverless: bool) -> Modes:
    """The modes the flags and smctl.toml ask for, with what SageMaker would refuse refused first.

    Raises: UsageError naming the contradiction (--multi-model with --model or --container, --container with
    --image or --model, serverless with any of the three modes) or the bad value.
    """
    from smctl.cli.async_invoke import async_config
    from smctl.cloud.endpoint_request import CloudContainer
    from smctl.serving import pipeline

    asynchronous = async_config(s.async_inference, *async_flags, None)
    members = pipeline_cli.pipeline_containers(spec, containers, direct=direct, image=image, model=model)
    if multi_model is not None:
        from smctl.serving.multimodel import check_source

        if model is not None:
            raise UsageError("--model and --multi-model were both given",
                             "a multi-model endpoint loads each model from its --multi-model prefix on demand: "
                             "drop --model")
        if members:
            raise UsageError("--multi-model and a multi-container endpoint (--container or [[serve.containers]]) "
                             "were both given", "deploy one of them: drop --multi-model, or the containers")
        multi_model = check_source(multi_model)
    if serverless:
        asked = [what for what, on in (
            ("asynchronous inference (--async-output or [serve.async_inference])", asynchronous is not None),
            ("a multi-model endpoint (--multi-model)", multi_model is not None),
            ("a multi-container endpoint (--container or [[serve.containers]])", bool(members))) if on]
        if asked:
            raise UsageError(f"--serverless-memory and {', '.join(asked)} were both given: SageMaker's serverless "
                             "inference supports none of these", "drop --serverless-memory to deploy on instances "
                             "(--instance-type), or drop the mode")
    if len(members) > pipeline.MAX_CONTAINERS:
        raise UsageError(f"{len(members)} containers: CreateModel takes at most {pipeline.MAX_CONTAINERS}",
                         "combine steps into fewer containers")
    names = pipeline.hostnames(members) if members else []
    cloud = tuple(CloudContainer(image=m.image, hostname=h, environment=dict(m.environment),
                                 model_uri=m.model.uri if m.model is not None and m.model.is_s3 else None)
                  for m, h in zip(members, names, strict=True))
    return Modes(
        async_inference=asynchronous.cloud_request() if asynchronous is not None else None,
        async_uris=tuple(str(p) for p in (asynchronous.output_path, asynchronous.failure_path) if p is not None)
        if asynchronous is not None else (),
        multi_model=multi_model, containers=cloud, container_models=tuple(m.model for m in members),
        execution_mode=pipeline.DIRECT if direct else s.execution_mode, images=tuple(m.image for m in members))


def cloud_images(out: Output, spec: Any, modes: Modes, *, push: bool, region: str | None) -> Modes:
    """Each container's image as the ECR URI SageMaker pulls (pushed first with --push)."""
    from smctl.cli.options import cloud_image

    if not modes.containers:
        return modes
    containers = tuple(replace(c, image=cloud_image(out, spec, c.image, push=push, region=region, command="deploy"))
                       for c in modes.containers)
    return replace(modes, containers=containers)


def check_labels(out: Output, modes: Modes, image: str | None) -> None:
    """The capability label CreateModel asks for (multi-models for --multi-model, accept-bind-to-port for each
    container), read from the local engine when it holds the image, as local-serve does; an ECR image that is not
    here cannot be inspected cheaply, so that is said, not guessed.

    Raises: UsageError when a local image lacks its label.
    """
    from smctl.serving.multimodel import CAPABILITY_LABEL, check_image_label
    from smctl.serving.pipeline import BIND_TO_PORT_LABEL, refuse_unlabelled

    if modes.multi_model is not None and image:
        _check_local_label(out, image, CAPABILITY_LABEL, lambda labels: check_image_label(labels, image))
    for each in dict.fromkeys(modes.images):
        _check_local_label(out, each, BIND_TO_PORT_LABEL, lambda labels, i=each: refuse_unlabelled(i, labels))


def _check_local_label(out: Output, image: str, label: str, check: Any) -> None:
    from smctl.errors import DockerError, ImageNotFoundError

    try:
        from smctl.engine.containers import docker_client
        from smctl.engine.images import inspect_image

        labels = inspect_image(docker_client(), image).labels
    except (ImageNotFoundError, DockerError):
        out.warn(f"image {image} is not in the local Docker engine, so its {label} label was not checked (reading "
                 "it from ECR means fetching the image's config); SageMaker's CreateModel refuses an image without it")
        return
    check(labels)


def check_serverless(memory: int | None, *, instance_type: str | None, startup_timeout: int | None,
                     instance_count: int) -> None:
    """Raises: UsageError for a memory size serverless inference does not offer, or instance settings beside it."""
    if memory is None:
        return
    if not (1024 <= memory <= 6144 and memory % 1024 == 0):
        raise UsageError(f"--serverless-memory must be 1024-6144 in steps of 1024, got {memory}",
                         "e.g. --serverless-memory 2048")
    given = [flag for flag, value in (("--instance-type", instance_type), ("--startup-timeout", startup_timeout),
                                      ("--instance-count", instance_count if instance_count != 1 else None))
             if value is not None]
    if given:
        raise UsageError(f"{', '.join(given)} and --serverless-memory were both given: a serverless endpoint "
                         "has no instances to choose and no startup health check setting",
                         f"drop {', '.join(given)} for serverless, or drop --serverless-memory for instances")
