"""Pack a folder into a reproducible model.tar.gz in SageMaker's layout (contents at the archive root)."""

from __future__ import annotations

import errno
import os
import signal
import stat
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from smctl.archive.gzip_streams import HashingSink, ParallelGzipWriter
from smctl.errors import ArchiveError, UsageError
from smctl.events import Advance

# Level 1 (ISA-L) is the default: it meets the benchmark targets (BENCHMARKS.md), and ISA-L's level 1 already
# compresses text better than zlib's level 1. Levels 4-9 (zlib-ng) trade speed for size as gzip -4..-9 do.
DEFAULT_LEVEL = 1
COPY_BUFSIZE = 1 << 20
PROGRESS_STEP = 8 << 20



@dataclass(frozen=True)
class Entry:
    """One archive member to write; `source` is the file whose bytes are stored (a link's target when dereferenced)."""

    arcname: str
    kind: str  # "dir" | "file" | "symlink"
    mode: int
    size: int = 0
    source: Path | None = None
    linkname: str = ""


@dataclass(frozen=True)
class PackPlan:
    output: Path
    entries: tuple[Entry, ...]
    total_bytes: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class PackResult:
    path: Path
    size: int
    entries: int
    sha256: str
    level: int
    seconds: float
    uncompressed_bytes: int
    warnings: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "size": self.size, "entries": self.entries, "sha256": self.sha256,
                "level": self.level, "seconds": round(self.seconds, 3),
                "uncompressed_bytes": self.uncompressed_bytes}


# ---- planning: walk the folders, apply the link and file-type rules, fail before writing anything ------------

def plan_pack(source: Path, output: Path, *, code: Path | None = None, dereference: bool = False,
              force: bool = False) -> PackPlan:
    """Scan SOURCE (and CODE for code/) into a sorted list of entries, checking everything that can be checked.

    Raises:
        UsageError: SOURCE/CODE missing or not a folder; the output's folder missing or not a folder (exit 2, like
            any path named on the command line that is not there).
        ArchiveError: SOURCE empty; an unsafe link or special file; a code/ clash; the output exists (without force).
    """
    root = _require_folder(source, "the folder that holds your model files: smctl package pack DIR -o model.tar.gz")
    output = Path(os.path.abspath(output))
    _check_output(output, force)
    warnings: list[str] = []
    exclude: set[Path] = set()
    if output.exists() and output.resolve().is_relative_to(root):
        exclude.add(output.resolve())
    if output.parent.resolve().is_relative_to(root):
        warnings.append(f"the output {output} is inside {source}; it is left out of the archive")
    entries = list(_walk(root, root, "", dereference, exclude))
    if code is not None:
        code_root = _require_folder(code, "the folder that holds inference.py: --code CODE_DIR")
        if any(e.arcname == "code" or e.arcname.startswith("code/") for e in entries):
            raise ArchiveError(f"{source} already has a code entry, which would clash with --code {code}",
                               "move your inference code into DIR/code and drop --code, or remove DIR/code")
        if not (code_root / "inference.py").is_file():
            warnings.append(f"{code} has no inference.py: SageMaker's inference toolkit looks for code/inference.py")
        code_entries = list(_walk(code_root, code_root, "code/", dereference, exclude))
        entries.append(Entry("code", "dir", 0o755))
        entries.extend(code_entries)
        entries.sort(key=lambda e: _sort_key(e.arcname))
    if not entries:
        raise ArchiveError(f"nothing to pack: {source} is empty",
                           "put your model files (and code/inference.py) in the folder first")
    total = sum(e.size for e in entries)
    return PackPlan(output, tuple(entries), total, tuple(warnings))


def _sort_key(arcname: str) -> tuple[str, ...]:
    return tuple(arcname.split("/"))  # a folder's contents right after it, siblings by name (tar --sort=name)


def _require_folder(path: Path, hint: str) -> Path:
    if not path.exists():
        raise UsageError(f"{path} does not exist", f"pass {hint}")
    if not path.is_dir():
        raise UsageError(f"{path} is not a folder", f"pass {hint}")
    return path.resolve()


def _check_output(output: Path, force: bool) -> None:
    parent = output.parent
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"cannot write {output}: {parent} is not a folder", "choose another output path with -o")
    if not parent.exists():
        raise UsageError(f"cannot write {output}: the folder {parent} does not exist",
                         f"create it first (mkdir -p {parent}) or choose another output path with -o")
    if output.is_dir():
        raise ArchiveError(f"{output} is a folder", f"pass a file name: -o {output / 'model.tar.gz'}")
    if output.exists() and not force:
        raise ArchiveError(f"{output} already exists", "pass --force to overwrite it, or choose another -o path")


def _walk(root: Path, folder: Path, prefix: str, dereference: bool, exclude: set[Path],
          deref_stack: tuple[tuple[int, int], ...] = ()) -> Iterator[Entry]:
    """Yield entries below `folder` depth-first, children sorted by name."""
    try:
        with os.scandir(folder) as it:
            children = sorted(it, key=lambda d: d.name)
    except PermissionError as exc:
        raise ArchiveError(f"cannot read the folder {folder}: permission denied",
                           "fix its permissions (chmod u+rx) or move it out of the folder you pack") from exc
    for child in children:
        path = Path(child.path)
        arcname = prefix + child.name
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            if deref_stack:  # inside a dereferenced tree, every link is followed
                yield from _dereferenced(root, path, arcname, exclude, deref_stack)
            else:
                yield from _link(root, path, arcname, dereference, exclude)
        elif stat.S_ISDIR(st.st_mode):
            yield Entry(arcname, "dir", 0o755)
            # while dereferencing, remember every folder on the way down, so a link back up is seen as a loop
            stack = (*deref_stack, (st.st_dev, st.st_ino)) if deref_stack else ()
            yield from _walk(root, path, arcname + "/", dereference, exclude, stack)
        elif stat.S_ISREG(st.st_mode):
            if path.resolve() in exclude:
                continue
            yield Entry(arcname, "file", _file_mode(st.st_mode), st.st_size, path)
        else:
            raise ArchiveError(f"{path} is a {_special_kind(st.st_mode)}, which cannot go into a model archive",
                               "remove it or move it out of the folder you pack")


def _link(root: Path, path: Path, arcname: str, dereference: bool, exclude: set[Path]) -> Iterator[Entry]:
    text = os.readlink(path)
    target = (path.parent / text).resolve()
    if not target.exists():
        raise _dangling(path)
    if target.is_relative_to(root):
        link_dir = os.path.dirname(arcname)
        lexical = os.path.normpath(os.path.join(link_dir, text))
        if os.path.isabs(text) or lexical == ".." or lexical.startswith("../"):
            # keep the link, but relative and inside the archive: SageMaker extracts it elsewhere
            text = os.path.relpath(target.relative_to(root), link_dir or ".")
        yield Entry(arcname, "symlink", 0o777, linkname=text)
        return
    if not dereference:
        raise ArchiveError(f"the symlink {path} points outside the folder, to {target}",
                           "pass --dereference to store the target's content, or copy the file into the folder")
    yield from _dereferenced(root, path, arcname, exclude, ())


def _dereferenced(root: Path, path: Path, arcname: str, exclude: set[Path],
                  deref_stack: tuple[tuple[int, int], ...]) -> Iterator[Entry]:
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise _dangling(path) from exc
    if stat.S_ISDIR(st.st_mode):
        key = (st.st_dev, st.st_ino)
        if key in deref_stack:
            raise ArchiveError(f"the symlink {path} makes a loop", "remove the link, or pack without --dereference")
        yield Entry(arcname, "dir", 0o755)
        yield from _walk(root, path, arcname + "/", True, exclude, (*deref_stack, key))
    elif stat.S_ISREG(st.st_mode):
        yield Entry(arcname, "file", _file_mode(st.st_mode), st.st_size, path.resolve())
    else:
        raise ArchiveError(f"the symlink {path} points to a {_special_kind(st.st_mode)}, which cannot be packed",
                           "remove the link")


def _dangling(link: Path) -> ArchiveError:
    return ArchiveError(f"the symlink {link} points to {os.readlink(link)}, which does not exist",
                        "fix or remove the link (a dangling link cannot be packed, even with --dereference)")


def _file_mode(mode: int) -> int:
    return 0o755 if mode & 0o111 else 0o644


def _special_kind(mode: int) -> str:
    for test, name in ((stat.S_ISSOCK, "socket"), (stat.S_ISFIFO, "FIFO (named pipe)"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def pack_trees(roots: Sequence[Path], output: Path, *, level: int = DEFAULT_LEVEL) -> list[str]:
    """Pack several folders merged into one archive (the first root's copy of a path wins); return the clashes."""
    seen: dict[str, Entry] = {}
    clashes: list[str] = []
    for root in roots:
        if not root.is_dir():
            continue
        for e in _walk(root.resolve(), root.resolve(), "", False, set()):
            if e.arcname not in seen:
                seen[e.arcname] = e
            elif not (e.kind == "dir" and seen[e.arcname].kind == "dir"):
                clashes.append(e.arcname)
    entries = tuple(sorted(seen.values(), key=lambda e: _sort_key(e.arcname)))
    plan = PackPlan(Path(os.path.abspath(output)), entries, sum(e.size for e in entries))
    write_pack(plan, level=level)
    return clashes


# ---- writing: temp file next to the output, threaded gzip, sha256 while writing, rename at the end ------------

def write_pack(plan: PackPlan, *, level: int = DEFAULT_LEVEL, threads: int | None = None,
               on_progress: Advance | None = None) -> PackResult:
    """Write the planned archive atomically: any failure (Ctrl-C and ENOSPC included) leaves no file behind.

    Raises:
        UsageError: a level outside 1-9.
        ArchiveError: the output folder is not writable, the disk is full, the file-size limit is hit.
    """
    if not 1 <= level <= 9:
        raise UsageError(f"compression level {level} is out of range", "pass --level between 1 and 9")
    started = time.perf_counter()
    out = plan.output
    try:
        fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as exc:
        raise _write_error(exc, out) from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f, _ignore_sigxfsz():
            sink = HashingSink(f)
            _write_tar(plan, sink, level, threads or _default_threads(), on_progress or (lambda n: None))
            if sink.error is not None:
                raise sink.error
            os.fchmod(f.fileno(), 0o666 & ~umask())
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _write_error(exc, out) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return PackResult(out, sink.size, len(plan.entries), sink.sha256.hexdigest(), level,
                      time.perf_counter() - started, plan.total_bytes, plan.warnings)


def pack_model(source: Path, output: Path, *, code: Path | None = None, level: int = DEFAULT_LEVEL,
               force: bool = False, dereference: bool = False, threads: int | None = None,
               on_progress: Advance | None = None) -> PackResult:
    """plan_pack + write_pack in one call."""
    plan = plan_pack(source, output, code=code, dereference=dereference, force=force)
    return write_pack(plan, level=level, threads=threads, on_progress=on_progress)


def _write_tar(plan: PackPlan, sink: HashingSink, level: int, threads: int, on_progress: Advance) -> None:
    gz = ParallelGzipWriter(sink, level, threads)
    try:
        mtime = _source_date_epoch()
        with tarfile.TarFile(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT,  # type: ignore[arg-type]
                             copybufsize=COPY_BUFSIZE) as tar:
            for e in plan.entries:
                info = tarfile.TarInfo(e.arcname)
                info.mtime, info.mode = mtime, e.mode
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                if e.kind == "dir":
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                elif e.kind == "symlink":
                    info.type, info.linkname = tarfile.SYMTYPE, e.linkname
                    tar.addfile(info)
                else:
                    assert e.source is not None
                    info.size = e.size
                    with _open_source(e.source) as src:
                        reader = _ProgressReader(src, e.source, on_progress)
                        tar.addfile(info, reader)
                        reader.done()
        gz.close()
    finally:
        gz.abort()


@contextmanager
def _open_source(path: Path) -> Iterator[BinaryIO]:
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except PermissionError as exc:
        raise ArchiveError(f"cannot read {path}: permission denied",
                           "fix its permissions (chmod u+r) or move it out of the folder you pack") from exc
    with f:
        yield f


class _ProgressReader:
    """Reports bytes read to the progress callback every few MiB; turns a file that shrank into a clear error."""

    def __init__(self, f: BinaryIO, path: Path, on_progress: Advance) -> None:
        self._f, self._path, self._on_progress, self._pending = f, path, on_progress, 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        if n > 0 and len(data) < n:  # tarfile asks for exactly the size it recorded
            raise ArchiveError(f"{self._path} changed while it was being packed (it got shorter)",
                               "pack again once nothing writes to the folder")
        self._pending += len(data)
        if self._pending >= PROGRESS_STEP:
            self.done()
        return data

    def done(self) -> None:
        if self._pending:
            self._on_progress(self._pending)
            self._pending = 0


def _write_error(exc: OSError, out: Path) -> ArchiveError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left on device" if exc.errno == errno.ENOSPC else "disk quota exceeded"
        return ArchiveError(f"{what} writing {out}",
                            "free some space on that filesystem, or write the archive elsewhere with -o")
    if exc.errno == errno.EFBIG:
        return ArchiveError(f"file too large writing {out}: the file-size limit (ulimit -f) was reached",
                            "raise the limit (ulimit -f unlimited) or write to a filesystem that allows larger files")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = "read-only filesystem" if exc.errno == errno.EROFS else "permission denied"
        return ArchiveError(f"cannot write {out}: {reason}",
                            "choose a writable output folder with -o, or fix the folder's permissions")
    return ArchiveError(f"cannot write {out}: {exc.strerror or exc}", "choose another output path with -o")


@contextmanager
def _ignore_sigxfsz() -> Iterator[None]:
    """With SIGXFSZ ignored, a write past RLIMIT_FSIZE fails with EFBIG instead of killing the process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGXFSZ, old)


def _source_date_epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return 0
    try:
        return max(0, int(value))
    except ValueError as exc:
        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds",
                         "set it to an integer (e.g. $(git log -1 --format=%ct)) or unset it") from exc


def _default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def umask() -> int:
    """The process umask, read without changing it (os.umask would, for a moment, for every thread)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
