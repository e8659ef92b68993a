"""The check of smctl.toml's [serve.async_inference] table (SageMaker's AsyncInferenceConfig, for local-serve)."""

from __future__ import annotations

from typing import Any

from smctl.contract.async_inference import AsyncConfig, build_async_config
from smctl.errors import AsyncConfigError
from smctl.project.checks import Bad, Ctx

KEYS = ("output_path", "failure_path", "max_concurrent_invocations", "invocation_timeout")


def async_table(v: Any, ctx: Ctx) -> AsyncConfig:
    """[serve.async_inference]: output_path (required), failure_path, max_concurrent_invocations (1-1000),
    invocation_timeout (1-3600 s, default 900)."""
    if not isinstance(v, dict):
        raise Bad("a table: [serve.async_inference] with output_path = \"s3://BUCKET/PREFIX\"")
    unknown = [k for k in v if k not in KEYS]
    if unknown:
        raise Bad(items=[(k, "is not a known key", f"known keys: {', '.join(KEYS)}") for k in unknown])
    try:
        return build_async_config(*(v.get(k) for k in KEYS))
    except AsyncConfigError as err:
        raise Bad(items=[(err.key, _tail(err.message, err.key), err.hint)]) from None


def _tail(message: str, key: str) -> str:
    return message[len(key) + 1:] if message.startswith(f"{key} ") else message
