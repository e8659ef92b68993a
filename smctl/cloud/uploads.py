"""Local channel folders (and files) to S3, once: the prefix is keyed by a hash of the content, and a marker beside
it says the upload finished, so unchanged data is never sent twice and a cut upload is sent again."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from smctl.events import ByteProgress

CHUNK = 1 << 20


def content_files(source: Path) -> list[tuple[Path, str]]:
    """(path, key relative to the channel) for a folder's files in a stable order, or the one file."""
    if source.is_file():
        return [(source, source.name)]
    found = []
    for root, dirs, files in os.walk(source):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            found.append((path, path.relative_to(source).as_posix()))
    return found


def content_digest(files: list[tuple[Path, str]]) -> str:
    """sha256 over each file's key, size and bytes: equal data, equal digest (16 hex digits are plenty here)."""
    total = hashlib.sha256()
    for path, key in files:
        total.update(f"{key}\0{path.stat().st_size}\0".encode())
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                total.update(chunk)
    return total.hexdigest()[:16]


def upload_once(source: Path, base_uri: str, name: str, *, region: str | None, profile: str | None,
                on_event: Callable[[str, dict], None], progress: ByteProgress | None = None,
                shown: str | None = None) -> str:
    """Upload `source` to BASE/NAME/DIGEST/ unless that upload finished before; its S3 prefix."""
    from smctl.aws import s3_sync

    files = content_files(source)
    digest = content_digest(files)
    prefix = f"{base_uri.rstrip('/')}/{name}/{digest}/"
    marker = f"{base_uri.rstrip('/')}/{name}/{digest}.complete"
    if s3_sync.exists(marker, region, profile):
        on_event("upload", {"message": f"{name}: {shown or source} is in {prefix} already (unchanged)", "uri": prefix,
                            "skipped": True})
        return prefix
    size = sum(p.stat().st_size for p, _ in files)
    on_event("upload", {"message": f"{name}: uploading {shown or source} ({len(files)} file(s), {size} bytes) to "
                                   f"{prefix}",
                        "uri": prefix, "skipped": False, "bytes": size})
    if progress is None:
        s3_sync.upload_files(files, prefix, region=region, profile=profile)
    else:
        with progress(f"uploading {name}", size) as advance:
            s3_sync.upload_files(files, prefix, region=region, profile=profile, on_progress=advance)
    s3_sync.put_text(marker, f"{len(files)} files, {size} bytes\n", region, profile)
    return prefix
