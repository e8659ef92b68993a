"""Local channel folders (and files) to S3, once: the prefix is keyed by a hash of the content, and a marker beside
it says the upload finished, so unchanged data is never sent twice and a cut upload is sent again."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from smctl.errors import AwsError
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


def file_digests(files: list[tuple[Path, str]]) -> list[str]:
    """sha256 of each file's bytes, in the order given."""
    found = []
    for path, _ in files:
        one = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                one.update(chunk)
        found.append(one.hexdigest())
    return found


def content_digest(files: list[tuple[Path, str]], digests: list[str] | None = None) -> str:
    """sha256 over each file's key, size and bytes' digest: equal data, equal digest (16 hex digits are plenty)."""
    total = hashlib.sha256()
    for (path, key), digest in zip(files, digests or file_digests(files), strict=True):
        total.update(f"{key}\0{path.stat().st_size}\0{digest}\0".encode())
    return total.hexdigest()[:16]


@dataclass(frozen=True)
class UploadPlan:
    """What goes to PREFIX: files sent from here, and files S3 copies from an earlier upload of the channel."""

    send: list[tuple[Path, str]]
    reuse: list[tuple[str, str]]  # (earlier s3:// URI, new s3:// URI)
    send_bytes: int
    reuse_bytes: int


def upload_once(source: Path, base_uri: str, name: str, *, region: str | None, profile: str | None,
                on_event: Callable[[str, dict], None], progress: ByteProgress | None = None,
                shown: str | None = None) -> str:
    """Upload `source` to BASE/NAME/DIGEST/ unless that upload finished before; its S3 prefix.

    A file of 1 MiB or more that an earlier upload of NAME holds already (same bytes) is copied inside S3, not sent
    again: one changed file of a channel of large files costs that file's upload. The `.complete` marker beside the
    prefix lists each file's size and sha256 for that purpose.
    """
    from smctl.aws import s3_sync

    files = content_files(source)
    digests = file_digests(files)
    digest = content_digest(files, digests)
    channel = f"{base_uri.rstrip('/')}/{name}/"
    prefix = f"{channel}{digest}/"
    marker = f"{channel}{digest}{MARKER}"
    if s3_sync.exists(marker, region, profile):
        on_event("upload", {"message": f"{name}: {shown or source} is in {prefix} already (unchanged)", "uri": prefix,
                            "skipped": True})
        return prefix
    plan = _plan(files, digests, prefix, earlier_files(channel, region, profile))
    what = f"{len(plan.send)} file(s), {plan.send_bytes} bytes"
    if plan.reuse:
        what += f"; {len(plan.reuse)} unchanged file(s), {plan.reuse_bytes} bytes, copied within S3"
    on_event("upload", {"message": f"{name}: uploading {shown or source} ({what}) to {prefix}", "uri": prefix,
                        "skipped": False, "bytes": plan.send_bytes, "reused_bytes": plan.reuse_bytes})
    try:
        s3_sync.copy_objects(plan.reuse, region=region, profile=profile)
    except AwsError as err:  # the earlier upload was removed meanwhile (a lifecycle rule...): send them after all
        on_event("warning", {"message": f"{name}: could not copy unchanged files from the earlier upload "
                                        f"({err.message}); sending them"})
        plan = _plan(files, digests, prefix, {})
    if progress is None or not plan.send:
        s3_sync.upload_files(plan.send, prefix, region=region, profile=profile)
    else:
        with progress(f"uploading {name}", plan.send_bytes) as advance:
            s3_sync.upload_files(plan.send, prefix, region=region, profile=profile, on_progress=advance)
    manifest = {"files": {key: {"size": path.stat().st_size, "sha256": d} for (path, key), d in zip(files, digests,
                                                                                                  strict=True)}}
    s3_sync.put_text(marker, json.dumps(manifest, sort_keys=True) + "\n", region, profile)
    return prefix


MARKER = ".complete"
# A copy inside S3 is one request per object, as an upload is: it saves only the bytes, so small files are sent.
REUSE_MIN_BYTES = 1 << 20


def earlier_files(channel: str, region: str | None, profile: str | None) -> dict[str, str]:
    """sha256 -> s3:// URI of each file of the newest finished upload under CHANNEL (empty when there is none, or
    its marker predates the file list)."""
    from smctl.aws import s3_sync

    marker = s3_sync.newest_object(channel, MARKER, region, profile)
    text = s3_sync.read_text(marker, region, profile) if marker else None
    try:
        listed = json.loads(text or "")["files"]
    except (ValueError, KeyError, TypeError):
        return {}
    earlier = marker[: -len(MARKER)] + "/" if marker else ""
    return {entry["sha256"]: earlier + key for key, entry in listed.items()
            if isinstance(entry, dict) and isinstance(entry.get("sha256"), str)}


def _plan(files: list[tuple[Path, str]], digests: list[str], prefix: str, earlier: dict[str, str]) -> UploadPlan:
    send: list[tuple[Path, str]] = []
    reuse: list[tuple[str, str]] = []
    send_bytes = reuse_bytes = 0
    for (path, key), digest in zip(files, digests, strict=True):
        size = path.stat().st_size
        if digest in earlier and size >= REUSE_MIN_BYTES:
            reuse.append((earlier[digest], prefix + key))
            reuse_bytes += size
        else:
            send.append((path, key))
            send_bytes += size
    return UploadPlan(send, reuse, send_bytes, reuse_bytes)
