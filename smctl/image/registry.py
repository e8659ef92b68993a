"""Reading a pushed manifest back through the registry HTTP API (v2), to prove SageMaker gets a plain image."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from smctl.errors import NotSingleImageError, RegistryReadError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SINGLE_IMAGE = (DOCKER_MANIFEST, OCI_MANIFEST)
ACCEPT = ", ".join((DOCKER_MANIFEST, OCI_MANIFEST, DOCKER_LIST, OCI_INDEX))


@dataclass(frozen=True)
class Manifest:
    url: str
    media_type: str
    digest: str
    size: int

    @property
    def is_single_image(self) -> bool:
        return self.media_type in SINGLE_IMAGE


def is_loopback(host: str) -> bool:
    """True for localhost and 127.0.0.0/8 (and ::1), with or without a port: registries spoken to over http."""
    if host.startswith("["):  # [IPv6]:port
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def manifest_url(host: str, repository: str, reference: str) -> str:
    scheme = "http" if is_loopback(host) else "https"
    return f"{scheme}://{host}/v2/{repository}/manifests/{reference}"


def read_manifest(host: str, repository: str, reference: str, username: str | None = None,
                  password: str | None = None, timeout: float = 30) -> Manifest:
    """GET /v2/REPOSITORY/manifests/REFERENCE with basic auth (ECR accepts its token that way).

    Raises: RegistryReadError naming the URL.
    """
    url = manifest_url(host, repository, reference)
    request = urllib.request.Request(url, headers={"Accept": ACCEPT})
    if username is not None and password is not None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    # loopback never goes through a proxy, whatever HTTP_PROXY says
    handlers = [urllib.request.ProxyHandler({})] if is_loopback(host) else []
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as resp:
            body = resp.read()
            content_type = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
            digest = resp.headers.get("Docker-Content-Digest") or ""
    except urllib.error.HTTPError as exc:
        raise RegistryReadError(f"the registry answered HTTP {exc.code} for {url}",
                                "check the repository and tag; the image may not have been pushed",
                                registry=host) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RegistryReadError(f"cannot read {url}: {reason}",
                                "check the registry host and your network", registry=host) from None
    if not content_type or content_type in ("application/json", "application/octet-stream"):
        with contextlib.suppress(ValueError, AttributeError):
            content_type = str(json.loads(body).get("mediaType") or content_type)
    return Manifest(url, content_type, digest or f"sha256:{hashlib.sha256(body).hexdigest()}", len(body))


def check_single_image(manifest: Manifest, image: str) -> None:
    """Raises: NotSingleImageError when SageMaker would be handed an index or manifest list."""
    if manifest.is_single_image:
        return
    if manifest.media_type in (DOCKER_LIST, OCI_INDEX):
        raise NotSingleImageError(
            f"{image} is a multi-platform index ({manifest.media_type}); SageMaker needs one linux/amd64 image "
            "manifest", "rebuild with `smctl build` (single platform, no attestations; with buildx: "
            "`--platform linux/amd64 --provenance=false --sbom=false`), then push again")
    raise NotSingleImageError(f"{image} has manifest type {manifest.media_type!r}, not a Docker v2 or OCI image "
                              "manifest", "rebuild with `smctl build`, then push again")
