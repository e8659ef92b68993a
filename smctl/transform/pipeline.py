"""A transform against a multi-container endpoint: each request passes the containers in order, the Content-Type of
one's answer becoming the next request's, as SageMaker runs a serial inference pipeline in a batch transform."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from smctl.errors import InvocationError, UsageError
from smctl.transform.invoker import Invoker

if TYPE_CHECKING:
    from smctl.serving.registry import Endpoint
    from smctl.transform.params import RunSettings


def chain_of(endpoint: Endpoint) -> tuple[tuple[str, str, int], ...]:
    """(hostname, host, port) of each container of a Serial pipeline endpoint; () for a single container.

    Raises: UsageError for a Direct endpoint (a transform cannot name one container)."""
    from smctl.serving.pipeline_route import DIRECT, route_of

    route = route_of(endpoint)
    if route is None:
        return ()
    if route.mode == DIRECT:
        raise UsageError(f"endpoint {endpoint.name} runs its containers in Direct mode: a transform's requests "
                         "name no container", "serve it in Serial mode (leave out --direct) for the transform")
    missing = [h.hostname for h in route.hops if h.address is None]
    if missing:
        raise UsageError(f"endpoint {endpoint.name}: container {missing[0]} publishes no port",
                         f"restart it: smctl local-stop {endpoint.name}, then smctl local-serve")
    return tuple((h.hostname, *h.address) for h in route.hops if h.address is not None)


class ChainInvoker:
    """Invoker's interface over the containers of a pipeline: each keeps its own connections and retries."""

    def __init__(self, chain: tuple[tuple[str, str, int], ...], settings: RunSettings,
                 stop: threading.Event) -> None:
        self.hops = [(hostname, Invoker(host, port, settings, stop)) for hostname, host, port in chain]

    def invoke(self, payload: bytes) -> tuple[bytes, int]:
        """(the last container's body, the most attempts one hop took); Raises: InvocationError naming the
        container, Stopped."""
        attempts, content_type = 0, None
        for hostname, hop in self.hops:
            try:
                payload, tries = hop.invoke(payload, content_type)
            except InvocationError as exc:
                raise InvocationError(f"container {hostname}: {exc}") from None
            attempts = max(attempts, tries)
            content_type = getattr(hop._local, "content_type", None)
        return payload, attempts

    def close(self) -> None:
        for _, hop in self.hops:
            hop.close()

