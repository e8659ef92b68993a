"""The project's record of what smctl created on SageMaker (`.smctl/cloud.jsonl`): what `smctl jobs` lists.

One JSON line per creation, appended (O_APPEND: two smctl runs never interleave a line). The record is a list of
names, never of state: status is always asked from SageMaker, so the file cannot go stale in a way that misleads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

LEDGER = Path(".smctl") / "cloud.jsonl"
KINDS = ("training job", "transform job", "processing job", "endpoint")


@dataclass(frozen=True)
class Entry:
    kind: str  # one of KINDS
    name: str
    region: str
    created: str  # ISO 8601, UTC

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "region": self.region, "created": self.created}


def ledger_path(root: Path | None) -> Path:
    """The project's ledger: beside smctl.toml, or in the current folder when there is none."""
    return (root or Path.cwd()) / LEDGER


def record(root: Path | None, kind: str, name: str, region: str) -> Path | None:
    """Append one creation; the file written, or None when it could not be (the job exists all the same)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    path = ledger_path(root)
    line = json.dumps({"kind": kind, "name": name, "region": region,
                       "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError:
        return None
    return path


def entries(root: Path | None, *, limit: int | None = None) -> list[Entry]:
    """The recorded creations, newest first, each (kind, name, region) once (a redeploy records its endpoint again);
    lines that are not a well-formed record are skipped."""
    path = ledger_path(root)
    lines: list[str] = []
    with contextlib.suppress(FileNotFoundError):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    seen: set[tuple[str, str, str]] = set()
    found: list[Entry] = []
    for line in reversed(lines):
        entry = _parse(line)
        if entry is None or (entry.kind, entry.name, entry.region) in seen:
            continue
        seen.add((entry.kind, entry.name, entry.region))
        found.append(entry)
        if limit is not None and len(found) >= limit:
            break
    return found


def _parse(line: str) -> Entry | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    values = [data.get(key) for key in ("kind", "name", "region", "created")]
    if not all(isinstance(v, str) and v for v in values) or values[0] not in KINDS:
        return None
    return Entry(*values)  # type: ignore[arg-type]
