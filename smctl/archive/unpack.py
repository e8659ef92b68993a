"""Read model.tar.gz: inspect it for SageMaker's classic mistakes, and extract it safely (all or nothing)."""

from __future__ import annotations

import errno
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smctl.archive.guard import MemberGuard, data_filter, parts_of, shown
from smctl.archive.gzip_streams import CountingReader, gzip_errors, open_gzip_reader, sniff_format
from smctl.archive.pack import COPY_BUFSIZE, umask
from smctl.errors import ArchiveError, UnsafeArchiveError, UsageError
from smctl.events import Advance
from smctl.units import human_size

HUGE_FILE = 1 << 30
BOMB_MIN_BYTES = 1 << 30  # expansion below this is never worth a warning
BOMB_RATIO = 100  # real weights compress 1.1-3x, sparse or zero-filled tensors up to ~20x


@dataclass(frozen=True)
class Member:
    path: str
    type: str  # file | dir | symlink | hardlink | fifo | chardev | blockdev | other
    size: int
    linkname: str = ""

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "type": self.type, "size": self.size}
        if self.linkname:
            d["linkname"] = self.linkname
        return d


@dataclass(frozen=True)
class Finding:
    severity: str  # fatal | warning | info
    code: str
    message: str
    hint: str = ""
    member: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "code": self.code, "message": self.message, "hint": self.hint,
                "member": self.member}


@dataclass(frozen=True)
class Inspection:
    path: Path
    compressed_bytes: int
    members: tuple[Member, ...]
    findings: tuple[Finding, ...]

    @property
    def fatal(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "fatal")

    def totals(self) -> dict[str, Any]:
        count = {t: sum(1 for m in self.members if m.type == t) for t in ("file", "dir", "symlink", "hardlink")}
        nbytes = sum(m.size for m in self.members if m.type == "file")
        return {"entries": len(self.members), "files": count["file"], "dirs": count["dir"],
                "symlinks": count["symlink"], "hardlinks": count["hardlink"], "bytes": nbytes,
                "compressed_bytes": self.compressed_bytes,
                "expansion_ratio": round(nbytes / self.compressed_bytes, 1) if self.compressed_bytes else 0.0}

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "totals": self.totals(), "entries": [m.as_dict() for m in self.members],
                "findings": [f.as_dict() for f in self.findings], "safe": not self.fatal}


@dataclass(frozen=True)
class UnpackResult:
    dir: Path
    entries: int
    bytes: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"dir": str(self.dir), "entries": self.entries, "bytes": self.bytes, "seconds": round(self.seconds, 3)}


def _member(m: tarfile.TarInfo) -> Member:
    kind = ("file" if m.isreg() else "dir" if m.isdir() else "symlink" if m.issym() else "hardlink" if m.islnk()
            else "fifo" if m.isfifo() else "chardev" if m.ischr() else "blockdev" if m.isblk() else "other")
    return Member(m.name, kind, m.size if m.isreg() else 0, m.linkname if m.issym() or m.islnk() else "")


# ---- reading the stream ------------------------------------------------------------------------------------

def _require_archive(path: Path) -> None:
    if not path.exists():
        raise UsageError(f"{path} does not exist",
                         "check the path of the archive (smctl package pack DIR -o model.tar.gz makes one)")
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not an archive",
                         f"to pack it: smctl package pack {path} -o model.tar.gz")
    try:
        fmt = sniff_format(path)
    except OSError as exc:
        raise ArchiveError(f"cannot read {path}: {exc.strerror or exc}", "check the file's permissions") from exc
    if fmt == "gzip":
        return
    repack = "repack the model folder: smctl package pack DIR -o model.tar.gz"
    if fmt == "zip":
        raise ArchiveError(f"{path} is a zip file, but SageMaker needs a gzip-compressed tar (model.tar.gz)", repack)
    if fmt == "tar":
        raise ArchiveError(f"{path} is an uncompressed tar, but SageMaker needs it gzip-compressed",
                           f"compress it (gzip -k {path}), or {repack}")
    looks = f" (it looks like {fmt})" if fmt != "unknown" else ""
    raise ArchiveError(f"{path} is not a gzip file{looks}; SageMaker needs a gzip-compressed tar", repack)


class _TarStream:
    """A gzip'd tar read front to back once; `report()` passes the compressed bytes consumed to the progress bar."""

    def __init__(self, tar: tarfile.TarFile, raw: CountingReader, gz: Any, on_read: Advance | None) -> None:
        self.tar, self._raw, self._gz, self._on_read = tar, raw, gz, on_read
        self._reported = 0

    def members(self) -> Iterator[tarfile.TarInfo]:
        for m in self.tar:
            yield m
            self.report()
        while self._gz.read(COPY_BUFSIZE):  # the rest of the gzip stream: its CRC and length are checked at the end
            pass
        self.report()

    def report(self) -> None:
        pos = self._raw.pos
        if self._on_read is not None and pos > self._reported:
            self._on_read(pos - self._reported)
            self._reported = pos


@contextmanager
def _open_tar(path: Path, on_read: Advance | None = None) -> Iterator[_TarStream]:
    """Stream a gzip'd tar; corrupt or truncated data becomes an ArchiveError naming the last good member."""
    damaged: tuple[type[BaseException], ...] = (tarfile.TarError, *gzip_errors())
    with open(path, "rb") as f:
        raw = CountingReader(f)
        gz = open_gzip_reader(raw)
        try:
            try:
                tar = tarfile.open(fileobj=gz, mode="r|", bufsize=COPY_BUFSIZE)  # noqa: SIM115 - `with tar` below
            except tarfile.ReadError as exc:
                raise ArchiveError(f"{path} is gzip-compressed but does not hold a tar archive ({exc})",
                                   "repack the model folder: smctl package pack DIR -o model.tar.gz") from exc
            with tar:
                yield _TarStream(tar, raw, gz, on_read)
        except damaged as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise  # a real I/O error (disk full while extracting...), not a damaged archive
            last = _last_good_member(path)
            where = f"after member {last!r}" if last else "before its first member"
            raise ArchiveError(f"{path} is truncated or corrupt {where} ({exc})",
                               f"download or pack it again; `gzip -t {path}` confirms the damage") from exc
        finally:
            gz.close()


def _last_good_member(path: Path) -> str | None:
    """Read again in small steps up to the damage (the fast reader loses up to a block before it)."""
    from isal import igzip

    last = None
    try:
        with igzip.open(path, "rb") as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
            for m in tar:
                last = m.name
    except Exception:  # noqa: BLE001 - the damage itself: what we read up to it is the answer
        pass
    return last


# ---- inspect -----------------------------------------------------------------------------------------------

def inspect_archive(path: Path) -> Inspection:
    """List the members and judge them: fatal problems (unsafe to extract), warnings and notes.

    Raises:
        UsageError: the file is missing or is a folder (exit 2).
        ArchiveError: not a gzip'd tar (a zip, say), truncated or corrupt data.
    """
    _require_archive(path)
    guard = MemberGuard()
    members: list[Member] = []
    findings: list[Finding] = []
    with _open_tar(path) as stream:
        for m in stream.members():
            members.append(_member(m))
            reason = guard.problem(m)
            if reason:
                findings.append(Finding("fatal", "unsafe-member", f"{shown(m.name)} {reason}",
                                        "SageMaker and `smctl package unpack` refuse it: repack the model folder "
                                        "with `smctl package pack`", m.name))
    findings.extend(_layout_findings(members))
    compressed = path.stat().st_size
    findings.extend(_expansion_findings(members, compressed))
    return Inspection(path, compressed, tuple(members), tuple(findings))


def _expansion_findings(members: list[Member], compressed: int) -> list[Finding]:
    """A gzip bomb (10 MB that expands to 10 GiB) is legal, but it should not surprise anyone."""
    nbytes = sum(m.size for m in members if m.type == "file")
    if nbytes < BOMB_MIN_BYTES or nbytes < BOMB_RATIO * max(compressed, 1):
        return []
    return [Finding("warning", "high-expansion",
                    f"{human_size(compressed)} expands to {human_size(nbytes)} ({nbytes / max(compressed, 1):,.0f}x): "
                    "model weights rarely compress this well",
                    "check where the archive came from; `smctl package unpack` checks free space before it writes")]


def layout_findings(members: list[Member]) -> list[Finding]:
    """inspect_archive's layout checks (a wrapping folder, an empty code/, ...) for members listed elsewhere."""
    return _layout_findings(members)


def _layout_findings(members: list[Member]) -> list[Finding]:
    out: list[Finding] = []
    names = ["/".join(parts_of(m.path)) for m in members]
    names = [n for n in names if n]
    if not names:
        return [Finding("warning", "empty", "the archive is empty", "pack your model folder: smctl package pack DIR")]
    tops = {n.split("/")[0] for n in names}
    if len(tops) == 1 and any("/" in n for n in names) and tops != {"code"}:
        top = tops.pop()
        out.append(Finding(
            "warning", "nested-folder",
            f"everything is inside the folder {top}/: SageMaker extracts the archive into /opt/ml/model, so your "
            f"files land in /opt/ml/model/{top}/ and model_fn(model_dir) will not find them",
            f"pack the folder's contents, not the folder: smctl package pack {top} -o model.tar.gz"))
    code_files = [m for m in members if m.type != "dir" and "/".join(parts_of(m.path)).startswith("code/")]
    if "code" in names and not code_files:
        out.append(Finding("warning", "empty-code",
                           "code/ is empty: SageMaker's inference toolkit looks there for inference.py",
                           "pack your code too: smctl package pack MODEL_DIR --code CODE_DIR -o model.tar.gz"))
    elif any(n.startswith("code/") for n in names) and "code/inference.py" not in names:
        out.append(Finding("warning", "no-inference-py",
                           "code/ has no inference.py: SageMaker's inference toolkit loads code/inference.py",
                           "add code/inference.py (model_fn, input_fn, predict_fn, output_fn), or set "
                           "SAGEMAKER_PROGRAM to your script's name"))
    junk = [n for n in names if n.rsplit("/", 1)[-1].startswith("._") or n.rsplit("/", 1)[-1] == ".DS_Store"]
    if junk:
        out.append(Finding("warning", "macos-metadata",
                           f"{len(junk)} macOS metadata file(s), e.g. {junk[0]}",
                           "delete them before packing: find DIR \\( -name '._*' -o -name .DS_Store \\) -delete",
                           junk[0]))
    for m in members:
        if m.type == "file" and m.size > HUGE_FILE:
            out.append(Finding("info", "huge-file", f"{m.path} is {m.size / (1 << 30):.1f} GiB",
                               "SageMaker downloads and extracts it before the container starts; for very large "
                               "models consider uncompressed model data (ModelDataSource, CompressionType None)",
                               m.path))
    return out


# ---- unpack ------------------------------------------------------------------------------------------------

def unpack_archive(archive: Path, dest: Path, *, on_progress: Advance | None = None) -> UnpackResult:
    """Extract into a temp folder next to DEST, renamed into place at the end: on any failure nothing remains.

    Raises:
        UsageError: the archive is missing or a folder; DEST's parent folder is missing (exit 2).
        ArchiveError: non-gzip/corrupt archive, DEST not empty, disk full.
        UnsafeArchiveError: a member that would escape DEST, a device or FIFO, a link abused (exit 6).
    """
    started = time.perf_counter()
    _require_archive(archive)
    dest = Path(os.path.abspath(dest))
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        what = "is not empty" if dest.is_dir() else "exists and is not a folder"
        raise ArchiveError(f"{dest} {what}", "unpack into a new or empty folder (smctl never merges into one)")
    if dest.exists() and os.path.ismount(dest):
        raise ArchiveError(f"{dest} is a mount point, which smctl cannot swap for the extracted folder",
                           f"unpack into a new folder inside it: smctl package unpack {archive} {dest / 'model'}")
    if not dest.parent.is_dir():
        raise UsageError(f"cannot unpack into {dest}: the folder {dest.parent} does not exist",
                         f"create it first (mkdir -p {dest.parent}) or choose another target")
    mode = dest.stat().st_mode & 0o7777 if dest.exists() else 0o777 & ~umask()
    try:
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.unpack-"))
    except OSError as exc:
        raise _extract_error(exc, archive, dest) from exc
    try:
        entries, nbytes = _extract_all(archive, tmp, dest, on_progress)
        os.chmod(tmp, mode)
        if dest.exists():
            dest.rmdir()
        os.rename(tmp, dest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _extract_error(exc, archive, dest) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return UnpackResult(dest, entries, nbytes, time.perf_counter() - started)


def _extract_all(archive: Path, root: Path, dest: Path, on_progress: Advance | None) -> tuple[int, int]:
    guard = MemberGuard()
    free = shutil.disk_usage(root).free  # each file's size is checked against it before a byte of it is written
    real_root = os.path.realpath(root)
    dirs: list[tuple[str, tarfile.TarInfo]] = []
    entries = nbytes = 0
    with _open_tar(archive, on_progress) as stream:
        for m in stream.members():
            reason = guard.problem(m)
            if reason is None:
                try:
                    m = data_filter(m, real_root)
                except tarfile.TarError as exc:  # FilterError, where this Python has it, is a TarError
                    reason = f"is refused by tarfile's data filter ({exc})"
            if reason:
                raise UnsafeArchiveError(f"unsafe member {shown(m.name)} in {archive}: it {reason}; "
                                         "nothing was extracted",
                                         f"inspect it with `smctl package inspect {archive}`, and repack the model "
                                         "folder with `smctl package pack`", details={"member": m.name})
            name = "/".join(parts_of(m.name))
            if not name:
                continue  # the archive's own root ("./")
            target = os.path.join(real_root, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.commonpath([os.path.realpath(os.path.dirname(target)), real_root]) != real_root:
                raise UnsafeArchiveError(f"unsafe member {shown(m.name)} in {archive}: its folder leads outside the "
                                         "target; nothing was extracted",
                                         f"inspect it: smctl package inspect {archive}")
            entries += 1
            if m.isdir():
                os.makedirs(target, exist_ok=True)
                dirs.append((target, m))
            elif m.issym():
                _remove_file(target)
                os.symlink(m.linkname, target)
            elif m.islnk():
                _remove_file(target)
                os.link(os.path.join(real_root, *parts_of(m.linkname)), target, follow_symlinks=False)
            else:
                if nbytes + m.size > free:
                    raise ArchiveError(
                        f"no space left on device for {dest}: the files of {archive} hold at least "
                        f"{human_size(nbytes + m.size)} ({shown(m.name)} alone is {human_size(m.size)}) and its "
                        f"file system has {human_size(free)} free; nothing was extracted",
                        "free some space there, or unpack elsewhere (`smctl package inspect` lists the sizes first)",
                        details={"needed_bytes_at_least": nbytes + m.size, "free_bytes": free, "member": m.name})
                nbytes += _write_file(stream, m, target)
    for target, m in reversed(dirs):  # deepest first, after their contents, as tar does
        if m.mode is not None:
            os.chmod(target, m.mode)
        os.utime(target, (m.mtime, m.mtime))
    return entries, nbytes


def _write_file(stream: _TarStream, m: tarfile.TarInfo, target: str) -> int:
    _remove_file(target)
    src = stream.tar.extractfile(m)
    assert src is not None
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with open(fd, "wb", buffering=COPY_BUFSIZE) as out:
        while chunk := src.read(COPY_BUFSIZE):
            out.write(chunk)
            stream.report()
        os.fchmod(fd, m.mode if m.mode is not None else 0o644)
    os.utime(target, (m.mtime, m.mtime))
    return m.size


def _remove_file(target: str) -> None:
    """A later member of the same name replaces an earlier file (as tar does); never a folder."""
    if os.path.lexists(target) and not os.path.isdir(target):
        os.unlink(target)


def _extract_error(exc: OSError, archive: Path, dest: Path) -> ArchiveError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ArchiveError(f"no space left on device extracting {archive} into {dest}; nothing was left behind",
                            "free some space on that filesystem, or unpack elsewhere")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ArchiveError(f"cannot write into {dest.parent}: {exc.strerror}",
                            "choose a writable target folder, or fix the folder's permissions")
    return ArchiveError(f"extracting {archive} into {dest} failed: {exc.strerror or exc}; nothing was left behind",
                        "check the target folder and try again")

