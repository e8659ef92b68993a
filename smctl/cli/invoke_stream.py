"""`smctl invoke --stream`: the answer printed as the container sends it, with time to first byte and total time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smctl.cli.output import Output


def invoke_stream(out: Output, target: str | None, data: str | None, content_type: str | None, accept: str | None,
                  custom_attributes: str | None, max_payload: int | None, timeout: float | None, *, cloud: bool,
                  local: bool, region: str | None, config: Any, resolve: Callable[..., tuple[str, str | None]],
                  only_in_cloud: type[Exception]) -> None:
    """`resolve` and `only_in_cloud` are invoke's own (cli/invoke.py), passed in so the two modules import one way.

    Raises: UsageError for --stream with --cloud (SageMaker's streams are read with boto3, not here).
    """
    from smctl.errors import UsageError
    from smctl.serving import invoke as core
    from smctl.serving.streaming import invoke_stream as stream

    if cloud:
        raise UsageError("--stream reads local endpoints only",
                         "drop --cloud, or call invoke_endpoint_with_response_stream with boto3 for a SageMaker "
                         "endpoint")
    try:
        url, name = resolve(target, ask_cloud=not local, region=region, config=config)
    except only_in_cloud:
        raise UsageError(f"{target} is a SageMaker endpoint, and --stream reads local endpoints only",
                         "drop --stream to invoke it on SageMaker (smctl invoke NAME --cloud)") from None
    from smctl.cli.payload import local_payload

    payload = local_payload(out, data, content_type, max_payload, timeout)
    received: list[bytes] = []

    def on_part(piece: bytes) -> None:
        if out.json_mode:
            received.append(piece)
        else:
            out.data_bytes(piece, last=False)

    result = stream(url, payload, on_part, accept=accept, custom_attributes=custom_attributes,
                    max_payload=max_payload or core.MAX_PAYLOAD, timeout=timeout or core.TIMEOUT, endpoint=name)
    if not out.json_mode:
        out.data_bytes(b"")  # ends the line on a terminal
    first = "no body" if result.first_byte_seconds is None else \
        f"first byte in {result.first_byte_seconds * 1000:.0f} ms"
    out.info(f"HTTP {result.status} streamed: {first}, total {result.seconds * 1000:.0f} ms, {result.size:,} bytes "
             f"in {result.parts} part{'s' if result.parts != 1 else ''}"
             + (f", {result.content_type}" if result.content_type else ""))
    if result.custom_attributes is not None:
        out.info(f"custom attributes: {result.custom_attributes}")
    doc = {"endpoint": name, "content_type_sent": payload.content_type, "stream": True, **result.as_dict()}
    if out.json_mode:
        body = b"".join(received)
        try:
            doc["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            import base64

            doc["body_base64"] = base64.b64encode(body).decode("ascii")
    out.result(doc)
