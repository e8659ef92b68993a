"""Local images: look one up (id, tags, size, platform, labels) and tag it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from smctl.errors import DockerError, ImageNotFoundError


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...]
    size: int
    os: str
    architecture: str
    variant: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def platform(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def inspect_image(client: Any, ref: str) -> ImageInfo:
    """Raises: ImageNotFoundError naming the image, Hint: smctl build."""
    import docker.errors

    try:
        data = client.api.inspect_image(ref)
    except docker.errors.ImageNotFound:
        raise ImageNotFoundError(
            f"image {ref} is not in the local Docker engine",
            "build it first with `smctl build` (or pass --image with an image that `docker images` lists)",
        ) from None
    except docker.errors.APIError as exc:
        raise DockerError(f"the engine could not inspect image {ref}: {exc.explanation or exc}") from None
    return image_info(data)


def image_info(data: dict[str, Any]) -> ImageInfo:
    return ImageInfo(
        id=data["Id"],
        tags=tuple(data.get("RepoTags") or ()),
        size=int(data.get("Size") or 0),
        os=data.get("Os") or "",
        architecture=data.get("Architecture") or "",
        variant=data.get("Variant") or None,
        labels=dict((data.get("Config") or {}).get("Labels") or {}),
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
