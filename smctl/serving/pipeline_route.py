"""A multi-container endpoint's route, as its first container's labels record it: the mode and each container's
hostname and bind port (published by the first container), read back by any smctl process; which containers one
request passes; and smctl, as the platform, passing them (each response, with its Content-Type, is the next request).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smctl.errors import ModelError, UsageError

if TYPE_CHECKING:
    from smctl.serving.invoke import InvokeResult, Payload

SERIAL, DIRECT = "Serial", "Direct"  # InferenceExecutionConfig.Mode
TARGET_CONTAINER_HEADER = "X-Amzn-SageMaker-Target-Container-Hostname"
LABEL_MODE = "smctl.pipeline.mode"  # on the first container: Serial | Direct
LABEL_CONTAINERS = "smctl.pipeline.containers"  # on the first container: HOSTNAME=BIND_PORT,... in order
LABEL_MEMBER_OF = "smctl.pipeline.of"  # on the others: the endpoint they belong to
KIND_MEMBER = "serve-member"  # not "serve": the endpoint list shows one row per endpoint



@dataclass(frozen=True)
class Hop:
    hostname: str
    bind_port: int
    address: tuple[str, int] | None  # where the first container publishes this bind port; None: not published

    def url(self) -> str:
        from smctl.engine.container import url_host

        host, port = self.address or ("127.0.0.1", 0)
        return f"http://{url_host(host)}:{port}/invocations"


@dataclass(frozen=True)
class PipelineRoute:
    endpoint: str
    mode: str
    hops: tuple[Hop, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "containers": [{"hostname": h.hostname, "bind_port": h.bind_port,
                                                   "published": list(h.address) if h.address else None}
                                                  for h in self.hops]}


def route_from(name: str, labels: Mapping[str, str],
               published: Callable[[int], tuple[str, int] | None]) -> PipelineRoute | None:
    """The route recorded on an endpoint's first container; None for a single-container endpoint."""
    mode = labels.get(LABEL_MODE)
    if not mode:
        return None
    hops = []
    for item in labels.get(LABEL_CONTAINERS, "").split(","):
        hostname, _, port = item.partition("=")
        if hostname and port.isdigit():
            hops.append(Hop(hostname, int(port), published(int(port))))
    return PipelineRoute(name, mode, tuple(hops))


def route_of(endpoint: Any) -> PipelineRoute | None:
    summary = endpoint.summary
    return None if summary is None else route_from(endpoint.name, summary.labels, summary.published_address)


def is_pipeline(endpoint: Any) -> bool:
    return endpoint.summary is not None and LABEL_MODE in endpoint.summary.labels


def ping_route(route: PipelineRoute, timeout: float = 1.0) -> bool:
    """Healthy only when every container answers /ping with 200."""
    from smctl.serving.readiness import ping_once

    return all(h.address is not None and ping_once(*h.address, timeout)[0] == 200 for h in route.hops)


def select_hops(route: PipelineRoute, target: str | None) -> tuple[Hop, ...]:
    """The containers one request passes: all in order (Serial), or the one named (Direct).

    Raises: UsageError: Direct without a target, a target on a Serial endpoint, or an unknown hostname."""
    known = ", ".join(h.hostname for h in route.hops)
    if route.mode == DIRECT:
        if not target:
            raise UsageError(f"endpoint {route.endpoint} runs its containers in Direct mode: a request names one "
                             f"({known})", "add --target-container HOSTNAME (boto3: TargetContainerHostname=...)")
        hop = next((h for h in route.hops if h.hostname == target), None)
        if hop is None:
            raise UsageError(f"endpoint {route.endpoint} has no container {target!r} (containers: {known})",
                             f"pass one of them: --target-container {route.hops[0].hostname}")
        return (hop,)
    if target:
        raise UsageError(f"endpoint {route.endpoint} is a Serial inference pipeline: TargetContainerHostname is "
                         "only for Direct mode", "leave out --target-container (the request goes through "
                         f"{known} in turn), or serve it with --direct")
    return route.hops


def invoke_route(route: PipelineRoute, payload: Payload, *, target: str | None = None,
                 accept: str | None = None, custom_attributes: str | None = None,
                 max_payload: int | None = None, timeout: float | None = None) -> tuple[InvokeResult, tuple[str, ...]]:
    """smctl as the platform: POST to each container in turn, its response (body and Content-Type) becoming the
    next request; the last answer is the caller's. Returns (that answer, the hostnames passed).

    Raises: UsageError (see select_hops); ModelError naming the container that answered 4xx/5xx;
        InvocationTimeoutError / PayloadTooLargeError / SmctlError as smctl.serving.invoke.invoke.
    """
    from smctl.serving import invoke as core

    hops = select_hops(route, target)
    started = time.monotonic()
    result = None
    for hop in hops:
        if hop.address is None:
            from smctl.errors import ContainerFailedError

            raise ContainerFailedError(f"endpoint {route.endpoint}: container {hop.hostname} publishes no port",
                                       f"restart it: smctl local-stop {route.endpoint}, then smctl local-serve")
        try:
            result = core.invoke(hop.url(), payload, accept=accept, custom_attributes=custom_attributes,
                                 max_payload=max_payload or core.MAX_PAYLOAD, timeout=timeout or core.TIMEOUT,
                                 endpoint=f"{route.endpoint} (container {hop.hostname})")
        except ModelError as err:
            raise ModelError(err.message.replace("from primary", f"from {hop.hostname}"), err.hint,
                             details={**err.details, "container": hop.hostname}) from None
        payload = core.Payload(result.body, result.content_type or payload.content_type,
                               f"container {hop.hostname}", False)
    assert result is not None
    return replace(result, url=hops[0].url(), seconds=time.monotonic() - started), tuple(h.hostname for h in hops)


def members(client: Any, name: str) -> list[tuple[Any, Path | None]]:
    """(container, model folder smctl made or None) of each container that joined endpoint `name`'s first one."""
    from smctl.engine.containers import find_container, list_containers
    from smctl.engine.labels import LABEL_KIND, LABEL_RUN_DIR

    found = []
    for s in list_containers(client, [f"{LABEL_KIND}={KIND_MEMBER}", f"{LABEL_MEMBER_OF}={name}"]):
        container = find_container(client, s.id)
        if container is not None:
            run_dir = s.labels.get(LABEL_RUN_DIR)
            found.append((container, Path(run_dir) if run_dir else None))
    return found
