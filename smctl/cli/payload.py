"""The request body `smctl invoke` sends to a local endpoint (plain and --stream alike)."""

from __future__ import annotations

from typing import Any

from smctl.cli.output import Output


def local_payload(out: Output, data: str | None, content_type: str | None, max_payload: int | None,
                  timeout: float | None) -> Any:
    """The request body for a local endpoint, with a warning for each limit set other than SageMaker's.

    Raises: UsageError (the body cannot be read).
    """
    from smctl.serving import invoke as core

    if max_payload is not None and max_payload != core.MAX_PAYLOAD:
        out.warn(f"--max-payload {max_payload}: SageMaker's limit stays {core.MAX_PAYLOAD:,} bytes")
    if timeout is not None and timeout != core.TIMEOUT:
        out.warn(f"--timeout {timeout:g}: SageMaker still gives up after {core.TIMEOUT:g} s")
    payload = core.read_payload(data, content_type)
    if payload.inferred:
        out.debug(f"content type {payload.content_type} (inferred from the {payload.source})")
    return payload
