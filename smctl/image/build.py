"""`smctl build`: check the request, prepare the build context (custom CA included), log in to ECR base
registries, build linux/amd64 with the classic builder, and report what was built."""

from __future__ import annotations

import hashlib
import json
import platform as host_platform
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from smctl import __version__
from smctl.errors import AwsError, UsageError
from smctl.events import OnEvent

SAGEMAKER_PLATFORM = "linux/amd64"
CA_MEMBER = "smctl-ca.crt"  # at the context root; Dockerfiles `COPY requirements.txt smctl-ca.crt* /tmp/build/`
# Docker's reference grammar for a build tag: [HOST[:PORT]/]NAME[:TAG]
IMAGE_TAG = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*"
                       r"(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?")
LABEL_PROJECT, LABEL_VERSION, LABEL_COMMIT = "smctl.project", "smctl.version", "smctl.git-commit"


@dataclass(frozen=True)
class BuildRequest:
    context: Path
    dockerfile: Path
    tags: tuple[str, ...]
    project: str
    platform: str = SAGEMAKER_PLATFORM
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)  # on top of smctl's own
    no_cache: bool = False
    pull: bool = False
    ca_cert: Path | None = None
    aws_profile: str | None = None  # for the login to ECR base-image registries


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    tags: tuple[str, ...]
    size: int
    seconds: float
    steps: int
    cache_hits: int
    platform: str
    labels: Mapping[str, str]
    dockerfile: Path
    context: Path
    registry_logins: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"image_id": self.image_id, "tags": list(self.tags), "size": self.size,
                "seconds": round(self.seconds, 2), "steps": self.steps, "cache_hits": self.cache_hits,
                "platform": self.platform, "labels": dict(self.labels), "dockerfile": str(self.dockerfile),
                "context": str(self.context), "registry_logins": list(self.registry_logins)}


def check_request(req: BuildRequest) -> None:
    """Every input checked before anything reaches the engine.

    Raises: UsageError naming the folder, file or tag, with the fix.
    """
    if not req.context.is_dir():
        raise UsageError(f"the build context {req.context} is not a folder",
                         "pass your project folder as CONTEXT (or set [build] context in smctl.toml)")
    if not req.dockerfile.is_file():
        raise UsageError(f"no Dockerfile at {req.dockerfile}",
                         "create one with `smctl init`, or point to yours with --file PATH "
                         "([build] dockerfile in smctl.toml)")
    if not req.tags:
        raise UsageError("no image tag was given", "pass --tag NAME:TAG (or set [project] image and tag)")
    for tag in req.tags:
        if not IMAGE_TAG.fullmatch(tag):
            raise UsageError(f"{tag!r} is not a valid image tag", "use lowercase NAME[:TAG], e.g. --tag my-model:v1")
    if req.ca_cert is not None:
        read_ca_cert(req.ca_cert)


def read_ca_cert(path: Path) -> str:
    """Raises: UsageError when the file is missing or is not PEM text."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"CA certificate {path} cannot be read: {exc.strerror or exc}",
                         "pass a PEM file with --ca-cert PATH (or SMCTL_CA_CERT)") from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise UsageError(f"CA certificate {path} is not PEM (no BEGIN CERTIFICATE line)",
                         f"convert it: `openssl x509 -inform der -in {path.name} -out ca.pem`, then --ca-cert ca.pem")
    return data.decode("utf-8", errors="replace")


def platform_warnings(platform: str, machine: str | None = None) -> list[str]:
    """What to tell the user about the target platform (SageMaker runs linux/amd64 only)."""
    machine = (machine or host_platform.machine()).lower()
    if platform != SAGEMAKER_PLATFORM:
        return [f"building for {platform}: SageMaker runs linux/amd64 images only, so it will not run this one"]
    if machine in ("arm64", "aarch64"):
        return [f"this host is {machine}: building linux/amd64 through emulation (binfmt/QEMU), which is slower; "
                "SageMaker runs linux/amd64 only"]
    return []


def dockerfile_lines(text: str) -> list[str]:
    """Instructions with continuation lines joined and comments dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append((current + stripped).strip())
        current = ""
    if current.strip():
        lines.append(current.strip())
    return lines


def base_images(text: str, build_args: Mapping[str, str] | None = None) -> list[str]:
    """The FROM images of a Dockerfile, with ARGs declared before the first FROM substituted."""
    args: dict[str, str] = {}
    images: list[str] = []
    for line in dockerfile_lines(text):
        word, _, rest = line.partition(" ")
        if word.upper() == "ARG" and not images:
            name, eq, default = rest.strip().partition("=")
            value = (build_args or {}).get(name, default.strip().strip('"\'') if eq else "")
            args[name] = value
        elif word.upper() == "FROM":
            parts = [p for p in rest.split() if not p.startswith("--")]
            if parts:
                images.append(_substitute(parts[0], args))
    return images


def _substitute(value: str, args: Mapping[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m[1] or m[3]
        return args.get(name) or (m[2] or "")
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)", repl, value)


def final_stage_copies_context(text: str) -> bool:
    """True when the last stage copies the whole context (`COPY . ...`): a CA put in the context would land there."""
    lines = dockerfile_lines(text)
    starts = [i for i, line in enumerate(lines) if line.split(" ", 1)[0].upper() == "FROM"]
    for line in lines[starts[-1] if starts else 0:]:
        word, *rest = line.split()
        if word.upper() in ("COPY", "ADD") and not any(r.startswith("--from") for r in rest):
            sources = [r for r in rest if not r.startswith("--")][:-1]
            if any(s in (".", "./", "*") for s in sources):
                return True
    return False


def image_labels(project: str, context: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """smctl's labels (project, version, git commit). Applied as the build's last step, so a new commit only
    rebuilds that metadata step: the layers above stay cached."""
    labels = {LABEL_PROJECT: project, LABEL_VERSION: __version__}
    commit = git_commit(context)
    if commit:
        labels[LABEL_COMMIT] = commit
    labels.update(extra or {})
    return labels


def git_commit(folder: Path) -> str | None:
    """`git rev-parse HEAD` of the repository holding `folder`, plus `-dirty` with uncommitted changes; None
    outside a repository or without git."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=False)
        if head.returncode != 0:
            return None
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain"], capture_output=True,
                                text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


@contextmanager
def context_archive(context: Path, dockerfile: Path, ca_pem: str | None = None,
                    labels: Mapping[str, str] | None = None) -> Iterator[tuple[IO[bytes], str]]:
    """The build context as a tar (honouring .dockerignore), with smctl-ca.crt added at its root when given, and
    `labels` as one LABEL line after the Dockerfile's last; the user's folder is never touched. Yields (archive,
    the Dockerfile's name inside it)."""
    from smctl.engine.build import write_context_tar

    root = context.resolve()
    patterns = _dockerignore(root)
    extra: list[tuple[str, str]] = []
    df = dockerfile.resolve()
    if df.is_relative_to(root):
        df_name = df.relative_to(root).as_posix()
    else:  # outside the context: sent as an extra member that .dockerignore hides from COPY, as docker-py does
        text = df.read_text()
        df_name = f".dockerfile.{hashlib.sha256(text.encode()).hexdigest()[:20]}"
        extra += [(".dockerignore", "\n".join((patterns or [".dockerignore"]) + [df_name])), (df_name, text)]
    if labels:
        line = "LABEL " + " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in labels.items())
        extra = [e for e in extra if e[0] != df_name] + [(df_name, df.read_text().rstrip("\n") + "\n" + line + "\n")]
    if ca_pem is not None:
        extra.append((CA_MEMBER, ca_pem))
    with tempfile.TemporaryFile() as fh:
        write_context_tar(root, patterns, df_name, extra, fh)
        yield fh, df_name


def _dockerignore(root: Path) -> list[str]:
    try:
        lines = (root / ".dockerignore").read_text().splitlines()
    except FileNotFoundError:
        return []
    return [x.strip() for x in lines if x.strip() and not x.strip().startswith("#")]


def build_image(req: BuildRequest, on_event: OnEvent) -> BuildResult:
    """Build the image the request describes; progress goes to on_event(kind, data).

    Raises: UsageError (inputs), AwsError (ECR base login), DockerError (engine), BuildFailedError (Dockerfile).
    """
    from smctl.engine.build import BuildOptions, add_registry_auths, run_build
    from smctl.engine.client import EngineKind, engine, engine_kind
    from smctl.engine.images import inspect_image, tag_image

    check_request(req)
    started = time.monotonic()
    for warning in platform_warnings(req.platform):
        on_event("warning", {"message": warning})
    text = req.dockerfile.read_text(errors="replace")
    ca_pem = read_ca_cert(req.ca_cert) if req.ca_cert is not None else None
    if ca_pem is not None and final_stage_copies_context(text):
        on_event("warning", {"message": f"{req.dockerfile.name}'s final stage copies the whole context, so "
                             f"{CA_MEMBER} will be in the image; copy only what the image needs"})
    auths = ecr_base_logins(text, req.build_args, req.aws_profile, on_event)
    client = engine()
    try:
        if auths:
            add_registry_auths(client, auths)
        labels = image_labels(req.project, req.context, req.labels)
        # Podman turns the build's labels into LABEL steps in a random order (a Go map), so a rebuild misses the
        # cache from the first label on: there they travel as one LABEL line of the Dockerfile in the archive.
        in_file = labels if engine_kind(client) is EngineKind.PODMAN else None
        with context_archive(req.context, req.dockerfile, ca_pem, in_file) as (archive, df_name):
            size = archive.seek(0, 2)
            archive.seek(0)
            on_event("context", {"bytes": size, "context": str(req.context)})
            options = BuildOptions(tag=req.tags[0], dockerfile=df_name, platform=req.platform,
                                   build_args=req.build_args, labels={} if in_file else labels,
                                   no_cache=req.no_cache, pull=req.pull)
            built = run_build(client, archive, options, on_event)
        for tag in req.tags[1:]:
            tag_image(client, built.image_id, tag)
        info = inspect_image(client, built.image_id)
    finally:
        client.close()
    return BuildResult(
        image_id=info.id, tags=tuple(_with_tag(t) for t in req.tags), size=info.size,
        seconds=time.monotonic() - started, steps=built.steps, cache_hits=built.cache_hits,
        platform=info.platform, labels=info.labels, dockerfile=req.dockerfile, context=req.context,
        registry_logins=tuple(auths),
    )


def ecr_base_logins(text: str, build_args: Mapping[str, str], profile: str | None,
                    on_event: OnEvent) -> dict[str, dict[str, str]]:
    """Log in (in memory) to each AWS ECR registry the Dockerfile's FROM lines name; host -> docker auth dict.

    Raises: AwsError naming the base image when the login fails.
    """
    from smctl.aws import ecr

    auths: dict[str, dict[str, str]] = {}
    for image in base_images(text, build_args):
        registry = ecr.ecr_registry_of_image(image)
        if registry is None or registry.host in auths:
            continue
        on_event("login", {"registry": registry.host, "image": image})
        try:
            auth = ecr.login_registry(registry, profile)
        except AwsError as err:
            from smctl.engine.login import has_login

            if has_login(registry.host):  # `docker login` or the ecr-login helper already covers it
                on_event("warning", {"message": f"no ECR login for {registry.host} ({err.message}); using the "
                                     "login in your docker config"})
                continue
            raise AwsError(f"the base image {image} is on ECR and the login to {registry.host} failed: "
                           f"{err.message}", err.hint, details=err.details) from None
        auths[registry.host] = auth.docker_auth(registry.host)
    return auths


def _with_tag(ref: str) -> str:
    return ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"
