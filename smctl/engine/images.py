"""Local images: look one up (id, tags, size, platform, labels, config) and tag it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from smctl.errors import DockerError, ImageNotFoundError

BUILD_HINT = "build it first with `smctl build` (or pass --image with an image that `docker images` lists)"


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...]
    size: int
    os: str
    architecture: str
    variant: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()  # KEY=VALUE, as the image config lists them
    volumes: tuple[str, ...] = ()
    user: str = ""
    layers: int = 0
    media_type: str | None = None  # only engines with the containerd image store report it

    @property
    def platform(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    @property
    def short_id(self) -> str:
        """As `docker images` shows it (docker-py's short_id)."""
        return self.id[:19] if self.id.startswith("sha256:") else self.id[:12]


def inspect_image(client: Any, ref: str, *, hint: str = BUILD_HINT) -> ImageInfo:
    """The one "is the image there?" question to the engine.

    Raises: ImageNotFoundError naming the image, with `hint` (smctl build); DockerError when the engine fails.
    """
    import docker.errors

    try:
        data = client.api.inspect_image(ref)
    except docker.errors.ImageNotFound:
        raise ImageNotFoundError(f"image {ref} is not in the local Docker engine", hint) from None
    except docker.errors.APIError as exc:
        raise DockerError(f"the engine could not inspect image {ref}: {exc.explanation or exc}",
                          "check the Docker engine with `smctl doctor`") from None
    return image_info(data)


def image_exists(client: Any, ref: str) -> bool:
    """Raises: DockerError when the engine cannot say."""
    try:
        inspect_image(client, ref)
    except ImageNotFoundError:
        return False
    return True


def image_info(data: dict[str, Any]) -> ImageInfo:
    cfg = data.get("Config") or {}
    return ImageInfo(
        id=data["Id"],
        tags=tuple(data.get("RepoTags") or ()),
        size=int(data.get("Size") or 0),
        os=data.get("Os") or "",
        architecture=data.get("Architecture") or "",
        variant=data.get("Variant") or None,
        labels=dict(cfg.get("Labels") or {}),
        entrypoint=tuple(cfg["Entrypoint"]) if cfg.get("Entrypoint") else None,
        cmd=tuple(cfg["Cmd"]) if cfg.get("Cmd") else None,
        env=tuple(cfg.get("Env") or ()),
        volumes=tuple(sorted(cfg.get("Volumes") or {})),
        user=cfg.get("User") or "",
        layers=len((data.get("RootFS") or {}).get("Layers") or []),
        media_type=(data.get("Descriptor") or {}).get("mediaType"),
    )


def tag_image(client: Any, image: str, reference: str) -> None:
    """Tag `image` as `reference` (REPOSITORY[:TAG]); Raises: DockerError."""
    import docker.errors

    repository, tag = split_reference(reference)
    try:
        client.api.tag(image, repository, tag, force=True)
    except docker.errors.APIError as exc:
        raise DockerError(f"could not tag {image} as {reference}: {exc.explanation or exc}",
                          "check the tag: lowercase repository, tag of letters, digits, '.', '_', '-'") from None


def untag_image(client: Any, reference: str) -> None:
    """Remove the tag `reference` (the image stays while another tag or a container uses it); never raises."""
    import docker.errors

    with contextlib.suppress(docker.errors.DockerException):
        client.api.remove_image(reference, noprune=True)


def split_reference(reference: str) -> tuple[str, str]:
    """'host:5000/repo:tag' -> ('host:5000/repo', 'tag'); 'latest' when there is no tag."""
    last = reference.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = reference.rsplit(":", 1)
        return repository, tag
    return reference, "latest"
