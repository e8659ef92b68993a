"""Facts about an image without running it: its config, files read through `docker create` + get_archive,
and the names in its filesystem (a `docker export` stream, scanned without extracting)."""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smctl.engine.container import Container
    from smctl.engine.images import ImageInfo

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DRIVER_LIB = re.compile(r"(?:^|/)lib(?:cuda|nvidia-[a-z0-9-]+)\.so(?:\.[0-9.]+)?$")
GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27
MAX_LINKS = 10


@dataclass(frozen=True)
class ImageFacts:
    ref: str
    id: str
    os: str | None
    architecture: str | None
    variant: str | None = None
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    volumes: tuple[str, ...] = ()
    user: str = ""
    size: int = 0
    layers: int = 0
    media_type: str | None = None  # only engines with the containerd image store report it

    @property
    def path_dirs(self) -> list[str]:
        return [d for d in self.env.get("PATH", DEFAULT_PATH).split(":") if d]


@dataclass(frozen=True)
class FileFacts:
    """One file inside the image, after following symlinks."""

    asked: str
    path: str | None  # the resolved path; None when nothing exists there
    mode: int | None = None  # permission bits
    is_dir: bool = False
    first_line: bytes | None = None  # up to 256 bytes, line ending included

    @property
    def found(self) -> bool:
        return self.path is not None and not self.is_dir

    @property
    def executable(self) -> bool:
        return self.mode is not None and bool(self.mode & 0o111)


@dataclass(frozen=True)
class FsListing:
    files: int
    driver_libs: tuple[str, ...]


def image_facts(info: ImageInfo, ref: str) -> ImageFacts:
    env = {key: value for key, _, value in (e.partition("=") for e in info.env)}
    return ImageFacts(
        ref=ref,
        id=info.short_id,
        os=info.os or None,
        architecture=info.architecture or None,
        variant=info.variant,
        entrypoint=info.entrypoint,
        cmd=info.cmd,
        env=env,
        labels=dict(info.labels),
        volumes=info.volumes,
        user=info.user,
        size=info.size,
        layers=info.layers,
        media_type=info.media_type,
    )


def read_file(container: Container, path: str) -> FileFacts:
    """Stat and read the start of `path` in a created (never started) container, following symlinks."""
    current = PurePosixPath(path)
    for _ in range(MAX_LINKS):
        found = container.get_archive(str(current))
        if found is None:
            return FileFacts(path, None)
        stream, stat = found
        mode = int(stat.get("mode") or 0)
        link = stat.get("linkTarget") or ""
        if mode & GO_MODE_SYMLINK and link:
            _drain(stream)
            target = PurePosixPath(link)
            current = target if target.is_absolute() else current.parent / target
            continue
        if mode & GO_MODE_DIR:
            _drain(stream)
            return FileFacts(path, str(current), mode & 0o7777, is_dir=True)
        return FileFacts(path, str(current), mode & 0o7777, first_line=_first_line(stream))
    return FileFacts(path, None)


def _drain(stream: Iterator[bytes]) -> None:
    for _ in stream:
        pass


def _first_line(stream: Iterator[bytes]) -> bytes | None:
    with tarfile.open(fileobj=io.BufferedReader(StreamReader(stream)), mode="r|") as tar:
        for member in tar:
            f = tar.extractfile(member)
            if f is None:
                return None
            head = f.read(256)
            end = head.find(b"\n")
            return head if end < 0 else head[: end + 1]
    return None


def find_on_path(container: Container, name: str, path_dirs: list[str]) -> tuple[FileFacts | None, list[FileFacts]]:
    """What `exec` would pick for `name`: the first executable on PATH, plus every non-executable candidate seen."""
    if "/" in name:
        facts = read_file(container, name)
        if facts.found and facts.executable:
            return facts, []
        return None, [facts] if facts.found else []
    skipped: list[FileFacts] = []
    for d in path_dirs:
        facts = read_file(container, str(PurePosixPath(d) / name))
        if facts.found and facts.executable:
            return facts, skipped
        if facts.found:
            skipped.append(facts)
    return None, skipped


def list_filesystem(container: Container) -> FsListing:
    """Scan the member names of the container's exported filesystem for NVIDIA driver libraries."""
    found: list[str] = []
    count = 0
    with tarfile.open(fileobj=io.BufferedReader(StreamReader(container.export(1024 * 1024)), 1024 * 1024),
                      mode="r|") as tar:
        for member in tar:
            count += 1
            name = member.name.lstrip("./")
            if DRIVER_LIB.search(name) and not is_allowed_driver_path(name):
                found.append("/" + name)
    return FsListing(count, tuple(found))


def is_allowed_driver_path(name: str) -> bool:
    """CUDA's forward-compat libraries and link-time stubs are allowed; real driver copies are not."""
    parts = PurePosixPath(name).parts
    return "stubs" in parts or ("compat" in parts and any(p.startswith("cuda") for p in parts))


class StreamReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (docker-py streams), for tarfile's stream mode."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


SHELLS = ("/bin/sh", "sh", "/bin/bash", "bash", "/usr/bin/env")


def is_shell_form(entrypoint: tuple[str, ...] | None) -> bool:
    """Shell-form ENTRYPOINT shows in the image config as ["/bin/sh", "-c", "..."]."""
    return entrypoint is not None and len(entrypoint) >= 3 and entrypoint[0] in SHELLS[:4] and entrypoint[1] == "-c"


@dataclass(frozen=True)
class TrainLookup:
    """What exec would run for `docker run IMAGE train`, read from the image without running it."""

    via: str  # "path" (no ENTRYPOINT: `train` on PATH) | "entrypoint" | "shell" (shell-form ENTRYPOINT)
    program: FileFacts | None  # the file exec would start; None when nothing fits
    not_executable: tuple[FileFacts, ...] = ()  # candidates on PATH that lack the run bit


def lookup_train(container: Container, img: ImageFacts) -> TrainLookup:
    if is_shell_form(img.entrypoint):
        return TrainLookup("shell", None)
    name, via = (img.entrypoint[0], "entrypoint") if img.entrypoint else ("train", "path")
    program, skipped = find_on_path(container, name, img.path_dirs)
    return TrainLookup(via, program, tuple(skipped))
