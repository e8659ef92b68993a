"""`smctl invoke --stream`: the answer printed as the container sends it (a local endpoint's, or a SageMaker
endpoint's through InvokeEndpointWithResponseStream), with time to first byte and total time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smctl.cli.output import Output


def invoke_stream(out: Output, target: str | None, data: str | None, content_type: str | None, accept: str | None,
                  custom_attributes: str | None, max_payload: int | None, timeout: float | None, *,
                  where: tuple[str | None, str | None] | None, local: bool, region: str | None, config: Any,
                  resolve: Callable[..., tuple[str, str | None]], only_in_cloud: type[Exception],
                  aws: Callable[[], tuple[str | None, str | None]]) -> None:
    """`resolve`, `only_in_cloud` and `aws` are invoke's own (cli/invoke.py), passed in so the two modules import one
    way; `where` is (region, profile) for --cloud: SageMaker's InvokeEndpointWithResponseStream."""
    from smctl.serving import invoke as core
    from smctl.serving.streaming import invoke_stream as stream

    if where is not None:
        return _stream_cloud(out, target or "", where, data, content_type, accept, custom_attributes, timeout)
    try:
        url, name = resolve(target, ask_cloud=not local, region=region, config=config)
    except only_in_cloud:  # not here, but SageMaker has it: streamed from there, as with --cloud
        return _stream_cloud(out, target or "", aws(), data, content_type, accept, custom_attributes, timeout)
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
        _put_body(doc, b"".join(received))
    out.result(doc)


def _stream_cloud(out: Output, name: str, where: tuple[str | None, str | None], data: str | None,
                  content_type: str | None, accept: str | None, custom_attributes: str | None,
                  timeout: float | None) -> None:
    from smctl.aws.runtime import invoke_endpoint_stream
    from smctl.serving import invoke as core

    payload = core.read_payload(data, content_type)
    received: list[bytes] = []

    def on_part(piece: bytes) -> None:
        if out.json_mode:
            received.append(piece)
        elif piece:
            out.data_bytes(piece, last=False)

    answer = invoke_endpoint_stream(name, payload.body, payload.content_type, on_part, accept=accept,
                                    custom_attributes=custom_attributes, region=where[0], profile=where[1],
                                    timeout=timeout or core.TIMEOUT)
    if not out.json_mode:
        out.data_bytes(b"")
    first = "no body" if answer.first_byte_seconds is None else \
        f"first byte in {answer.first_byte_seconds * 1000:.0f} ms"
    out.info(f"SageMaker endpoint {name} streamed: {first}, total {answer.seconds * 1000:.0f} ms, {answer.size:,} "
             f"bytes in {answer.parts} part{'s' if answer.parts != 1 else ''}"
             + (f", {answer.content_type}" if answer.content_type else ""))
    if answer.custom_attributes is not None:
        out.info(f"custom attributes: {answer.custom_attributes}")
    doc: dict[str, Any] = {
        "endpoint": name, "cloud": True, "stream": True, "content_type_sent": payload.content_type,
        "url": answer.url, "content_type": answer.content_type, "custom_attributes": answer.custom_attributes,
        "bytes": answer.size, "parts": answer.parts, "seconds": round(answer.seconds, 4),
        "first_byte_seconds": None if answer.first_byte_seconds is None else round(answer.first_byte_seconds, 4)}
    if out.json_mode:
        _put_body(doc, b"".join(received))
    out.result(doc)


def _put_body(doc: dict[str, Any], body: bytes) -> None:
    try:
        doc["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        import base64

        doc["body_base64"] = base64.b64encode(body).decode("ascii")
