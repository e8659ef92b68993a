"""`smctl deploy`: what local-serve runs, as a SageMaker endpoint: model uploaded (once per content), model, config
and endpoint created (or the endpoint updated), followed until InService; a failed create removes what it made."""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from smctl.aws.sagemaker_hosting import EndpointState
from smctl.cloud.endpoint_request import CloudEndpoint, endpoint_config_request, endpoint_request, model_request
from smctl.contract.location import Location
from smctl.errors import AwsError, ContainerFailedError
from smctl.events import ByteProgress, OnEvent

POLL_SECONDS = 10.0
LOG_GROUP = "/aws/sagemaker/Endpoints"


@dataclass(frozen=True)
class Deployment:
    endpoint: str
    model_name: str
    config_name: str
    updated: bool  # UpdateEndpoint on an endpoint that existed


def upload_model(ep: CloudEndpoint, model: Location | None, bucket: str, *, region: str, profile: str | None,
                 on_event: OnEvent, progress: ByteProgress | None = None) -> CloudEndpoint:
    """The endpoint with ModelDataUrl (see model_data_url)."""
    if model is None:
        return ep
    return replace(ep, model_uri=model_data_url(model, bucket, region=region, profile=profile, on_event=on_event,
                                                progress=progress))


def model_data_url(model: Location, bucket: str, *, region: str, profile: str | None, on_event: OnEvent,
                   progress: ByteProgress | None = None) -> str:
    """s3:// as it is; a model.tar.gz uploaded; a folder packed (reproducibly, so unchanged files give the same
    archive and no upload), then uploaded."""
    from smctl.cloud.uploads import upload_once

    if model.is_s3:
        return model.uri
    base = f"s3://{bucket}/smctl/models"
    source = model.path
    if source.is_file():
        prefix = upload_once(source, base, "model", region=region, profile=profile, on_event=on_event,
                             progress=progress)
        return prefix + source.name
    from smctl.archive.pack import pack_model

    with tempfile.TemporaryDirectory(prefix="smctl-deploy-") as tmp:
        archive = Path(tmp) / "model.tar.gz"
        pack_model(source, archive)
        prefix = upload_once(archive, base, "model", region=region, profile=profile, on_event=on_event,
                             shown=f"{source} (packed)", progress=progress)
    return prefix + "model.tar.gz"


def upload_multi_model(ep: CloudEndpoint, source: str, bucket: str, *, region: str, profile: str | None,
                       on_event: OnEvent, progress: ByteProgress | None = None) -> CloudEndpoint:
    """The endpoint with ModelDataUrl the prefix of a multi-model endpoint: s3://.../ as it is; a folder of
    archives uploaded once per content, its prefix used."""
    from smctl.cloud.uploads import upload_once

    if source.startswith("s3://"):
        return replace(ep, model_uri=source)
    prefix = upload_once(Path(source), f"s3://{bucket}/smctl/models", "multi-model", region=region, profile=profile,
                         on_event=on_event, progress=progress)
    return replace(ep, model_uri=prefix)


def upload_container_models(ep: CloudEndpoint, models: Sequence[Location | None], bucket: str, *, region: str,
                            profile: str | None, on_event: OnEvent,
                            progress: ByteProgress | None = None) -> CloudEndpoint:
    """Each container of a multi-container endpoint with its ModelDataUrl, made as for a single model."""
    containers = tuple(
        replace(c, model_uri=model_data_url(m, bucket, region=region, profile=profile, on_event=on_event,
                                            progress=progress)) if m is not None else c
        for c, m in zip(ep.containers, models, strict=True))
    return replace(ep, containers=containers)


def deploy(sm: Any, ep: CloudEndpoint, on_event: OnEvent) -> Deployment:
    """Create the model and the config, then the endpoint (UpdateEndpoint when it exists); what a failure leaves
    half-made is deleted, or named with the command that deletes it. Raises: AwsError."""
    from smctl.aws import sagemaker_hosting as hosting

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    model_name = f"{ep.name[:42]}-{stamp}-{secrets.token_hex(2)}"  # two deploys in one second stay apart
    config_name = model_name
    existed = hosting.endpoint_exists(sm, ep.name)
    hosting.create(sm, "create_model", model_request(ep, model_name), f"the model {model_name}")
    made = [("delete_model", {"ModelName": model_name}, f"aws sagemaker delete-model --model-name {model_name}")]
    try:
        hosting.create(sm, "create_endpoint_config", endpoint_config_request(ep, config_name, model_name),
                       f"the endpoint config {config_name}")
        made.insert(0, ("delete_endpoint_config", {"EndpointConfigName": config_name},
                        f"aws sagemaker delete-endpoint-config --endpoint-config-name {config_name}"))
        itype = None if ep.serverless_memory_mb else ep.instance_type  # names the quota a refusal is about
        if existed:
            hosting.create(sm, "update_endpoint", {"EndpointName": ep.name, "EndpointConfigName": config_name},
                           f"the update of endpoint {ep.name}", instance_type=itype)
        else:
            hosting.create(sm, "create_endpoint", endpoint_request(ep, config_name), f"the endpoint {ep.name}",
                           instance_type=itype)
    except (AwsError, KeyboardInterrupt) as exc:
        left = [cmd for op, kwargs, cmd in made if hosting.delete_quietly(sm, op, **kwargs) is not None]
        if left and isinstance(exc, AwsError):
            exc.hint = f"{exc.hint}; remove what was left: {'; '.join(left)}"
        raise
    verb = "updating" if existed else "creating"
    on_event("created", {"message": f"{verb} endpoint {ep.name} (model {model_name}, config {config_name})"})
    return Deployment(ep.name, model_name, config_name, existed)


def follow(sm: Any, name: str, variant: str, on_event: OnEvent, *, region: str, profile: str | None = None,
           poll: float = POLL_SECONDS, sleep: Callable[[float], None] = time.sleep) -> EndpointState:
    """Status changes and the endpoint's CloudWatch log until it is InService or Failed."""
    from smctl.aws import sagemaker_hosting as hosting
    from smctl.aws.logs import LogFollower
    from smctl.aws.session import client

    logs = LogFollower(client("logs", region, profile), f"{LOG_GROUP}/{name}", variant)
    last = None
    while True:
        state = hosting.describe_endpoint(sm, name)
        if state is None:
            raise AwsError(f"the endpoint {name} is gone", "someone deleted it; deploy again: smctl deploy")
        if state.status != last:
            on_event("status", {"message": f"{name}: {state.status}", "status": state.status})
            last = state.status
        for event in logs.poll():
            on_event("log", {"host": event.host, "line": f"{event.host} | {event.message}"})
        if state.done:
            return state
        sleep(poll)


def raise_for_state(state: EndpointState, made: Deployment | None = None, image: str = "IMAGE") -> None:
    """Raises: ContainerFailedError (exit 5): the FailureReason, the fix, what is left in the account."""
    if state.status == "InService":
        return
    left = f"endpoint {state.name} ({state.status})"
    if made is not None:
        left += f", endpoint config {made.config_name}, model {made.model_name}"
    raise ContainerFailedError(
        f"endpoint {state.name} is {state.status}: {state.failure_reason or '(no reason given)'}\n"
        f"left in the account: {left}",
        f"reproduce it here first: smctl local-serve, then smctl check {image} (its logs: aws logs tail "
        f"{LOG_GROUP}/{state.name}); remove what is left: smctl undeploy {state.name} --yes")
