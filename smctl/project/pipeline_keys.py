"""[[serve.containers]]: the containers of a multi-container endpoint (inference pipeline), each an image with its
own model, environment and hostname; checked key by key as every other table is."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from smctl.project.checks import ENVIRONMENT, Bad, Ctx, Field, image_ref, local_or_s3, show, text

HOSTNAME_RULE = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"  # ContainerDefinition.ContainerHostname
CONTAINER: tuple[Field, ...] = (
    Field("image", image_ref),
    Field("model", local_or_s3),
    Field("environment", ENVIRONMENT, {}),
    Field("hostname", text(HOSTNAME_RULE, "1-63 letters, digits and hyphens, starting with a letter or digit", 63)),
)
EXAMPLE = '[[serve.containers]] tables, each with image = "..." (and model, environment, hostname)'


def containers(v: Any, ctx: Ctx) -> tuple[Mapping[str, Any], ...]:
    """Each entry as a read-only table of image, model, environment, hostname (None when not set)."""
    if not isinstance(v, list) or not all(isinstance(entry, dict) for entry in v):
        raise Bad(EXAMPLE, "write one [[serve.containers]] table per container, in the order requests pass them")
    items: list[tuple[str, str, str | None]] = []
    out = []
    known = {f.name for f in CONTAINER}
    for i, entry in enumerate(v, 1):
        row: dict[str, Any] = {}
        items.extend((str(i), f"key {key!r} is not known", f"known keys: {', '.join(sorted(known))}")
                     for key in entry if key not in known)
        for f in CONTAINER:
            value = entry.get(f.name, f.default)
            try:
                row[f.name] = None if value is None else f.check(value, ctx)
            except Bad as bad:
                items.extend((str(i), f"{f.name}{'.' + sub if sub else ''} {msg}", hint)
                             for sub, msg, hint in bad.items)
                if not bad.items:
                    items.append((str(i), f"{f.name} must be {bad.expected}, got {show(value)}", bad.hint))
        if row.get("image") is None and "image" not in entry:
            items.append((str(i), "has no image", f'add image = "my-step:latest" to container {i}'))
        out.append(MappingProxyType(row))
    if items:
        raise Bad(items=items)
    return tuple(out)
