"""`smctl logs` on a local endpoint: the output of every container it runs; on a multi-container endpoint each line
is prefixed with its container's hostname ("container-1 | ..."), as multi-host training prefixes each host's."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smctl.engine.container import Container
    from smctl.serving.registry import Endpoint

Source = tuple[str, "Container"]  # (hostname, container); hostname "" for a single-container endpoint


def log_sources(client: Any, endpoint: Endpoint) -> list[Source]:
    """The endpoint's containers in its order (the first, then the ones that joined it).

    Raises: ContainerGoneError when the first container no longer exists.
    """
    from smctl.engine.containers import find_container, get_container
    from smctl.serving.pipeline import member_name
    from smctl.serving.pipeline_route import route_of

    first = get_container(client, endpoint.container_id)
    route = route_of(endpoint)
    if route is None or not route.hops:
        return [("", first)]
    sources: list[Source] = [(route.hops[0].hostname, first)]
    for hop in route.hops[1:]:
        container = find_container(client, member_name(endpoint.name, hop.hostname))
        if container is not None:  # removed by hand: the others still have something to say
            sources.append((hop.hostname, container))
    return sources


def prefixed(hostname: str, text: bytes) -> bytes:
    """Each line of `text` behind "HOSTNAME | "; unchanged for a single-container endpoint."""
    if not hostname:
        return text
    head = f"{hostname} | ".encode()
    return b"".join(head + line for line in text.splitlines(keepends=True))


def read_logs(sources: Sequence[Source], tail: int | None = None) -> bytes:
    """Every container's output so far (its last `tail` lines each), one container after the other."""
    return b"".join(prefixed(hostname, container.logs(tail)) for hostname, container in sources)


def follow_logs(sources: Sequence[Source], on_data: Callable[[bytes], None], tail: int | None = None) -> None:
    """Hand every container's output to `on_data` as it comes (whole lines, prefixed, when there are several),
    until all of them stop; Ctrl-C raises KeyboardInterrupt here."""
    if len(sources) == 1 and not sources[0][0]:
        for chunk in sources[0][1].follow_logs(tail):
            on_data(chunk)
        return
    lock = threading.Lock()

    def pump(hostname: str, container: Container) -> None:
        buf = b""
        try:
            for chunk in container.follow_logs(tail):
                *lines, buf = (buf + chunk).split(b"\n")
                if lines:
                    with lock:
                        on_data(prefixed(hostname, b"".join(line + b"\n" for line in lines)))
        except Exception:  # noqa: BLE001 - removed while followed: its stream simply ends
            pass
        if buf:
            with lock:
                on_data(prefixed(hostname, buf + b"\n"))

    threads = [threading.Thread(target=pump, args=source, name=f"smctl-logs-{source[0]}", daemon=True)
               for source in sources]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)
