"""Free space and inodes of a filesystem, the other filesystems mounted here, and what Docker could reclaim."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Filesystems that cannot hold a Docker data-root worth moving to.
VIRTUAL_FS = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "cgroup", "cgroup2", "mqueue", "overlay", "squashfs",
    "nsfs", "securityfs", "debugfs", "tracefs", "pstore", "bpf", "configfs", "fusectl", "hugetlbfs",
    "autofs", "binfmt_misc", "efivarfs", "ramfs", "rpc_pipefs", "nfsd", "selinuxfs", "fuse.lxcfs", "iso9660",
})


@dataclass(frozen=True)
class FsFacts:
    """One filesystem as seen from `path` (the folder we care about on it)."""

    path: str
    mount_point: str
    device: str
    fstype: str
    total_bytes: int
    free_bytes: int  # available to unprivileged users (f_bavail), as `df` shows
    total_inodes: int
    free_inodes: int
    dev_id: int = 0

    @property
    def free_ratio(self) -> float:
        return self.free_bytes / self.total_bytes if self.total_bytes else 1.0

    @property
    def free_inode_ratio(self) -> float | None:
        return self.free_inodes / self.total_inodes if self.total_inodes else None  # btrfs etc. report 0


@dataclass(frozen=True)
class Reclaimable:
    """What `docker system df` would call reclaimable, in bytes, per kind."""

    images: int = 0
    containers: int = 0
    volumes: int = 0
    build_cache: int = 0
    used_total: int = 0  # everything the engine stores (layers + containers + volumes + cache)

    @property
    def total(self) -> int:
        return self.images + self.containers + self.volumes + self.build_cache


def mounts(mounts_file: Path = Path("/proc/self/mounts")) -> list[tuple[str, str, str]]:
    """(device, mount point, fstype) for every mount, in mount order."""
    out: list[tuple[str, str, str]] = []
    try:
        text = mounts_file.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            out.append((parts[0], _unescape(parts[1]), parts[2]))
    return out


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def existing_ancestor(path: Path) -> Path:
    """The path itself or its nearest existing parent (./.smctl may not exist yet)."""
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def probe_filesystem(path: Path, mounts_file: Path = Path("/proc/self/mounts")) -> FsFacts:
    """statvfs of the filesystem holding `path`, named by its mount point (longest matching prefix)."""
    target = existing_ancestor(path)
    st = os.statvfs(target)
    real = Path(os.path.realpath(target))
    best = ("?", "/", "?")
    for device, point, fstype in mounts(mounts_file):
        mp = Path(point)
        if (real == mp or mp in real.parents) and len(point) >= len(best[1]):
            best = (device, point, fstype)
    return FsFacts(
        path=str(path),
        mount_point=best[1],
        device=best[0],
        fstype=best[2],
        total_bytes=st.f_blocks * st.f_frsize,
        free_bytes=st.f_bavail * st.f_frsize,
        total_inodes=st.f_files,
        free_inodes=st.f_favail,
        dev_id=os.stat(target).st_dev,
    )


def other_filesystems(exclude_dev: int, mounts_file: Path = Path("/proc/self/mounts")) -> list[FsFacts]:
    """Real (disk-backed) filesystems other than the one with device id `exclude_dev`, one entry per device."""
    seen = {exclude_dev}
    out: list[FsFacts] = []
    for _device, point, fstype in mounts(mounts_file):
        if fstype in VIRTUAL_FS:
            continue
        try:
            facts = probe_filesystem(Path(point), mounts_file)
        except OSError:
            continue
        if facts.dev_id in seen or facts.total_bytes == 0:
            continue
        seen.add(facts.dev_id)
        out.append(facts)
    return out


def probe_reclaimable(client: Any) -> Reclaimable:
    """The engine's own accounting (`docker system df`): unused images, stopped containers, volumes, cache."""
    from smctl.engine.client import disk_usage

    df = disk_usage(client)
    images = sum(max(0, (i.get("Size") or 0) - max(0, i.get("SharedSize") or 0))
                 for i in df.get("Images") or [] if not i.get("Containers"))
    containers = sum(c.get("SizeRw") or 0 for c in df.get("Containers") or [] if c.get("State") != "running")
    volumes = sum(((v.get("UsageData") or {}).get("Size") or 0) for v in df.get("Volumes") or []
                  if ((v.get("UsageData") or {}).get("RefCount") or 0) == 0)
    cache = df.get("BuildCache") or []
    build_cache = sum(b.get("Size") or 0 for b in cache if not b.get("InUse") and not b.get("Shared"))
    used = ((df.get("LayersSize") or 0) + sum(c.get("SizeRw") or 0 for c in df.get("Containers") or [])
            + sum(max(0, (v.get("UsageData") or {}).get("Size") or 0) for v in df.get("Volumes") or [])
            + sum(b.get("Size") or 0 for b in cache))
    return Reclaimable(images, containers, volumes, build_cache, used)
