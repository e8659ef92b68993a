"""The safety rules for model archives, shared by inspect and unpack: which members would be unsafe to extract.

tarfile's own "data" filter runs on top where the Python has it (3.10.12+, 3.11.4+, 3.12+); on earlier patch
releases (Debian 12's 3.11.2, say) data_filter below applies the same rules.
"""

from __future__ import annotations

import copy
import os
import tarfile

MAX_NAME_BYTES = 255  # NAME_MAX: the longest component any Linux file system takes
MAX_PATH_BYTES = 3840  # under PATH_MAX (4096), leaving room for the folder the archive is extracted into
MAX_DEPTH = 256  # deeper than any real model; Python's makedirs recurses once per level


def parts_of(name: str) -> list[str]:
    """A member name's path components, without empty and '.' ones."""
    return [p for p in name.split("/") if p not in ("", ".")]


class MemberGuard:
    """Judges each member in archive order; remembers earlier links and files, which later members may abuse."""

    def __init__(self) -> None:
        self.symlinks: set[str] = set()
        self.files: set[str] = set()

    def problem(self, m: tarfile.TarInfo) -> str | None:
        """Why extracting `m` would be unsafe, or None; records `m` when it is safe."""
        if "\x00" in m.name or "\x00" in m.linkname:
            return "has a NUL byte in its name or link target, which no file system accepts"
        if m.name.startswith("/"):
            return "has an absolute path"
        parts = parts_of(m.name)
        reason = _size_problem(parts)
        if reason:
            return reason
        if ".." in parts:
            return "has a '..' component: it would be written outside the target folder"
        if m.ischr() or m.isblk():
            return "is a device file"
        if m.isfifo():
            return "is a FIFO (named pipe)"
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if prefix in self.symlinks:
                return f"would be written through the symlink {prefix!r} that comes before it"
        name = "/".join(parts)
        if m.issym():
            reason = self._symlink_problem(parts, m.linkname)
            if reason:
                return reason
            self.symlinks.add(name)
        elif m.islnk():
            reason = self._hardlink_problem(m.linkname)
            if reason:
                return reason
            self.files.add(name)
        elif m.isreg():
            self.files.add(name)
        return None

    def _symlink_problem(self, parts: list[str], linkname: str) -> str | None:
        if linkname.startswith("/"):
            return f"is a symlink to an absolute path ({linkname})"
        stack: list[str] = []
        through_link = False
        for c in parts[:-1] + linkname.split("/"):
            if c in ("", "."):
                continue
            if c == "..":
                if not stack:
                    return f"is a symlink that points outside the target folder ({linkname})"
                if through_link:
                    return f"is a symlink whose target climbs out of another symlink ({linkname})"
                stack.pop()
            else:
                stack.append(c)
                through_link = through_link or "/".join(stack) in self.symlinks
        return None

    def _hardlink_problem(self, linkname: str) -> str | None:
        if linkname.startswith("/"):
            return f"is a hard link to an absolute path ({linkname})"
        lparts = parts_of(linkname)
        if ".." in lparts:
            return f"is a hard link that points outside the target folder ({linkname})"
        if any("/".join(lparts[:i]) in self.symlinks for i in range(1, len(lparts) + 1)):
            return f"is a hard link through a symlink ({linkname})"
        if "/".join(lparts) not in self.files:
            return f"is a hard link to {linkname}, which is not an earlier file of the archive"
        return None


def _size_problem(parts: list[str]) -> str | None:
    if len(parts) > MAX_DEPTH:
        return f"is {len(parts):,} folders deep (smctl extracts at most {MAX_DEPTH} levels)"
    longest = max((len(p.encode("utf-8", "surrogateescape")) for p in parts), default=0)
    if longest > MAX_NAME_BYTES:
        return f"has a path component of {longest} bytes (file systems take at most {MAX_NAME_BYTES})"
    size = len("/".join(parts).encode("utf-8", "surrogateescape"))
    if size > MAX_PATH_BYTES:
        return f"has a path of {size:,} bytes (smctl extracts paths of at most {MAX_PATH_BYTES:,})"
    return None


def shown(name: str, limit: int = 100) -> str:
    """A member name for a message: quoted, and cut in the middle when a hostile archive makes it huge."""
    if len(name) <= limit:
        return repr(name)
    return repr(name[: limit // 2]) + f" ... ({len(name):,} characters) ... " + repr(name[-limit // 2 :])


def data_filter(m: tarfile.TarInfo, root: str) -> tarfile.TarInfo:
    """tarfile's "data" filter, or the same rules where this Python lacks it. Raises: tarfile.TarError."""
    builtin = getattr(tarfile, "data_filter", None)
    if builtin is not None:
        return builtin(m, root)
    return _data_filter(m, root)


def _data_filter(m: tarfile.TarInfo, root: str) -> tarfile.TarInfo:
    """PEP 706's data filter for Pythons released before it (3.10.0-3.10.11, 3.11.0-3.11.3)."""
    root = os.path.realpath(root)
    name = m.name.lstrip("/")
    if os.path.isabs(name):
        raise tarfile.TarError(f"{m.name!r} is an absolute path")
    if not _inside(os.path.join(root, name), root):
        raise tarfile.TarError(f"{m.name!r} would be extracted outside the target")
    if m.islnk() or m.issym():
        if os.path.isabs(m.linkname):
            raise tarfile.TarError(f"{m.name!r} links to an absolute path")
        base = os.path.join(root, os.path.dirname(name)) if m.issym() else root
        if not _inside(os.path.join(base, m.linkname), root):
            raise tarfile.TarError(f"{m.name!r} links outside the target")
    mode: int | None = m.mode
    if mode is not None:
        mode &= 0o755  # no setuid/setgid/sticky, no group/other write
        if m.isreg() or m.islnk():
            if not mode & 0o100:
                mode &= ~0o111
            mode |= 0o600
        elif m.isdir() or m.issym():
            mode = None
        else:
            raise tarfile.TarError(f"{m.name!r} is a special file")
    safe = copy.copy(m)
    safe.name = name
    safe.mode = mode  # type: ignore[assignment]  # None: the default mode, as tarfile's filter gives
    safe.uid = safe.gid = None  # type: ignore[assignment]
    safe.uname = safe.gname = None  # type: ignore[assignment]
    return safe


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([os.path.realpath(path), root]) == root
