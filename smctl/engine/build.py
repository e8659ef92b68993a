"""`docker build` through the engine's classic builder, its stream checked chunk by chunk.

The classic builder (POST /build without BuildKit, API 1.41) writes one single-platform image with a plain image
manifest and no provenance/SBOM attestation index: exactly what SageMaker accepts. buildx's defaults (attestations
-> an OCI index) are the images SageMaker rejects, so smctl does not use BuildKit here.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from smctl.engine.client import engine_error
from smctl.errors import BuildFailedError, DockerError
from smctl.events import OnEvent

# Docker's classic builder says "Step 1/3 : FROM x", " ---> Using cache", " ---> [Warning] w"; Podman's
# (buildah) says "STEP 1/3: FROM x", "--> Using cache ID", "[Warning] w", "COMMIT name", "--> ID" and the bare id.
STEP = re.compile(r"^(?:Step|STEP) (\d+)/(\d+) ?: (.*)$")
CACHED = re.compile(r"^ ?-?--> Using cache\b")
WARNING = re.compile(r"^(?: ---> )?\[Warning\] (.*)$")
CHATTER = re.compile(r"^(?: ---> |--> |Removing intermediate container |Successfully (?:built|tagged) |"
                     r"Sending build context |COMMIT |[0-9a-f]{64}$)")
# buildah's failure text names the step again: 'building at STEP "RUN x": while running runtime: exit status 7'
PODMAN_STEP_ERROR = re.compile(r'^building at STEP "(?:[^"\\]|\\.)*": ', re.DOTALL)
PODMAN_EXIT = re.compile(r"^while running runtime: exit status (\d+)$")
PODMAN_DUMP = re.compile(r" &imagebuilder\.Step\{.*$", re.DOTALL)  # Go's dump of the parsed step, after the message
# Podman adds these for --platform whether the Dockerfile uses them or not: its warning about them is noise
PLATFORM_ARGS = re.compile(r"^one or more build args were not consumed: \[(?:TARGET(?:ARCH|OS|PLATFORM|VARIANT) ?)+\]$")
TAIL_LINES = 20
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # the engine paints a RUN's stderr red
NON_ZERO = re.compile(r"^The command .* returned a non-zero code: (\d+)$", re.DOTALL)


@dataclass(frozen=True)
class BuildOptions:
    tag: str
    dockerfile: str  # its path inside the context archive
    platform: str | None = "linux/amd64"
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    no_cache: bool = False
    pull: bool = False


@dataclass(frozen=True)
class BuiltImage:
    image_id: str
    steps: int
    cache_hits: int


class BuildProgress:
    """Turns the engine's decoded build stream into events (step, cached, output, status, warning).

    Raises (from feed): BuildFailedError with the failing step and the last lines of its output.
    """

    def __init__(self, on_event: OnEvent, tail: int = TAIL_LINES) -> None:
        self.on_event = on_event
        self.step = 0
        self.total = 0
        self.instruction = ""
        self.cache_hits = 0
        self.image_id: str | None = None
        self.tail: deque[str] = deque(maxlen=tail)
        self._partial = ""

    def feed(self, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            return
        if "error" in chunk or "errorDetail" in chunk:
            self._flush()
            detail = chunk.get("errorDetail") or {}
            raise self.failure(str(detail.get("message") or chunk.get("error") or "unknown error"),
                               detail.get("code"))
        if "aux" in chunk and isinstance(chunk["aux"], dict) and chunk["aux"].get("ID"):
            self.image_id = chunk["aux"]["ID"]
        if "status" in chunk:  # pulling a base image
            text = " ".join(str(chunk[k]) for k in ("id", "status") if chunk.get(k))
            self.on_event("status", {"message": text, "progress": chunk.get("progressDetail") or {}})
        if "stream" in chunk:
            self._partial += str(chunk["stream"])
            *lines, self._partial = self._partial.split("\n")
            for line in lines:
                self._line(ANSI.sub("", line).rstrip("\r"))

    def _flush(self) -> None:
        if self._partial:
            self._line(ANSI.sub("", self._partial))
            self._partial = ""

    def _line(self, line: str) -> None:
        step = STEP.match(line)
        if step:
            self.step, self.total, self.instruction = int(step[1]), int(step[2]), step[3]
            self.tail.clear()
            self.on_event("step", {"number": self.step, "total": self.total, "instruction": self.instruction})
        elif CACHED.match(line):
            self.cache_hits += 1
            self.on_event("cached", {"number": self.step})
        elif WARNING.match(line):
            text = WARNING.match(line)[1]  # type: ignore[index]
            if not PLATFORM_ARGS.match(text):
                self.on_event("warning", {"message": text})
        elif line.startswith("Successfully built ") and not self.image_id:
            self.image_id = line.split()[-1]
        elif CHATTER.match(line) or not line.strip() or "(UNHANDLED LOGLEVEL)" in line:
            return
        else:
            self.tail.append(line)
            self.on_event("output", {"line": line, "number": self.step})

    def failure(self, error: str, code: Any = None) -> BuildFailedError:
        where = f"step {self.step}/{self.total} ({self.instruction})" if self.step else "before the first step"
        lines = list(self.tail)
        error = PODMAN_EXIT.sub(r"the command returned a non-zero code: \1", PODMAN_STEP_ERROR.sub("", error.strip()))
        error = PODMAN_DUMP.sub("", error)
        # the classic builder quotes the whole command again ("The command '/bin/sh -c ...' returned a non-zero
        # code: N"); `where` names it already, so it is shown once
        error = NON_ZERO.sub(r"the command returned a non-zero code: \1", error.strip()) if self.step else error
        message = f"the build failed at {where}: {error.strip()}"
        if lines:
            message += f"\nlast {len(lines)} line(s) of its output:\n" + "\n".join(f"  | {x}" for x in lines)
        return BuildFailedError(message, build_hint(error, self.instruction), details={
            "step": self.step, "total_steps": self.total, "instruction": self.instruction,
            "exit_code": code, "output_tail": lines,
        })

    def result(self) -> BuiltImage:
        self._flush()
        if not self.image_id:
            raise DockerError("the build stream ended without an image id",
                              "rerun with -v; if it repeats, check the engine's log (`smctl doctor`)")
        return BuiltImage(self.image_id, self.total, self.cache_hits)


def build_hint(error: str, instruction: str) -> str:
    """The likely fix for a build failure, from the engine's message and the failing instruction."""
    low = error.lower()
    if "exec format error" in low:
        return ("this engine cannot run linux/amd64 programs: install emulation with "
                "`docker run --privileged --rm tonistiigi/binfmt --install amd64`, or build on an amd64 machine")
    if "parse error" in low or "unknown instruction" in low:
        return "fix that line of your Dockerfile (reference: https://docs.docker.com/reference/dockerfile/)"
    if "returned a non-zero code" in low:
        return "fix that step of your Dockerfile (the command and its last lines are above); rerun with -v to see " \
            "the whole build output"
    if "copy failed" in low or "add failed" in low or "no source files were specified" in low \
            or "checking on sources" in low:
        return "check the path in that COPY/ADD and your .dockerignore: paths are relative to the build context"
    if instruction.upper().startswith("FROM") or "pull access denied" in low or "manifest unknown" in low:
        return ("check the FROM image name and tag; a private registry needs `docker login` first (smctl logs in "
                "to ECR base images itself)")
    if "certificate" in low or "x509" in low:
        return "behind a TLS-intercepting proxy? pass its CA with --ca-cert PATH (or SMCTL_CA_CERT)"
    return "fix the Dockerfile at that step; rerun with -v to see the whole build output"


def add_registry_auths(client: Any, auths: Mapping[str, Mapping[str, str]]) -> None:
    """Make the build send these registry logins (X-Registry-Config), in memory only: nothing is written to disk."""
    from docker import auth

    api = client.api
    if not api._auth_configs or api._auth_configs.is_empty:
        # the user's own logins (read-only) stay usable for the other FROM images
        api._auth_configs = auth.load_config(credstore_env=api.credstore_env)
    for host, cfg in auths.items():
        api._auth_configs.add_auth(host, dict(cfg))


def run_build(client: Any, context: IO[bytes], options: BuildOptions, on_event: OnEvent) -> BuiltImage:
    """Send the context archive to the engine and follow the build to its image id.

    Raises: BuildFailedError for the Dockerfile's faults; DockerError for the engine's.
    """
    import docker.errors
    import requests.exceptions

    from smctl.engine.client import EngineKind, engine_kind

    progress = BuildProgress(on_event)
    # Podman keeps intermediate layers (the build cache) only when asked: layers=true, which docker-py's build()
    # has no argument for; the session's query parameters carry it on this one request (sent before build returns).
    podman = engine_kind(client) is EngineKind.PODMAN
    try:
        if podman:
            client.api.params = {**(client.api.params or {}), "layers": "true"}
        stream = client.api.build(
            fileobj=context, custom_context=True, tag=options.tag, dockerfile=options.dockerfile,
            buildargs=dict(options.build_args) or None, labels=dict(options.labels) or None,
            platform=options.platform, nocache=options.no_cache, pull=options.pull,
            rm=True, forcerm=True,  # intermediate containers go away even when a step fails
            decode=True, timeout=None,  # a quiet RUN may take an hour: no read timeout
        )
        if podman:
            client.api.params.pop("layers", None)
        for chunk in stream:
            progress.feed(chunk)
    except docker.errors.APIError as exc:
        text = str(exc.explanation or exc)
        if exc.is_client_error() or "dockerfile" in text.lower() or "unknown instruction" in text.lower():
            raise BuildFailedError(f"the engine refused the build: {text}", build_hint(text, "")) from None
        raise DockerError(f"the engine failed the build: {text}", "rerun with -v; `smctl doctor` checks the engine"
                          ) from None
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        raise engine_error(exc) from None
    finally:
        if podman:
            client.api.params.pop("layers", None)
    return progress.result()


def write_context_tar(root: Path, patterns: list[str], dockerfile: str, extra: list[tuple[str, str]],
                      fileobj: IO[bytes]) -> None:
    """Write `root` as a build-context tar into `fileobj`, minus what .dockerignore `patterns` exclude (the
    Dockerfile always kept), plus the `extra` (name, text) members, exactly as the docker CLI would."""
    from docker.utils.build import create_archive, exclude_paths

    files = sorted(exclude_paths(str(root), list(patterns), dockerfile=dockerfile))
    create_archive(str(root), files=files, fileobj=fileobj, extra_files=extra)
