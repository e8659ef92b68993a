"""What ECR holds under an image URI, as SageMaker will pull it: the manifest's type, and its platform when ECR lets
us read the image config (GetDownloadUrlForLayer; a stand-in or a narrow policy may not: then it is unknown)."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any

from smctl.aws.ecr import ImageUri, aws_error

INDEX_TYPES = ("application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json")
ACCEPTED = ["application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json",
            *INDEX_TYPES]
NOT_FOUND = ("ImageNotFound", "ImageNotFoundException", "RepositoryNotFoundException")


@dataclass(frozen=True)
class EcrImage:
    media_type: str
    digest: str | None
    platforms: tuple[str, ...] = ()  # an index: each entry's os/architecture
    platform: str | None = None  # one image: from its config, when it could be read

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


def ecr_image(ecr: Any, uri: ImageUri, registry_id: str) -> EcrImage | None:
    """BatchGetImage of the URI's tag (or digest); None when the repository or the image is not there.

    Raises: AwsError (credentials, permissions, network) naming the image.
    """
    image_id = {"imageDigest": uri.digest} if uri.digest else {"imageTag": uri.tag or "latest"}
    what = f"the image {uri.repository}:{uri.tag or uri.digest or 'latest'} in ECR"
    try:
        answer = ecr.batch_get_image(registryId=registry_id, repositoryName=uri.repository, imageIds=[image_id],
                                     acceptedMediaTypes=ACCEPTED)
    except Exception as exc:  # noqa: BLE001 - botocore's errors become AwsError below
        if _code(exc) in NOT_FOUND:
            return None
        raise aws_error(exc, "BatchGetImage", what) from exc
    images = answer.get("images") or []
    if not images:
        return None
    found = images[0]
    manifest = _json(found.get("imageManifest"))
    media_type = str(found.get("imageManifestMediaType") or manifest.get("mediaType") or ACCEPTED[0])
    digest = (found.get("imageId") or {}).get("imageDigest")
    if media_type in INDEX_TYPES:
        entries = [m.get("platform") or {} for m in manifest.get("manifests") or []]
        platforms = tuple(f"{p.get('os', '?')}/{p.get('architecture', '?')}" for p in entries)
        return EcrImage(media_type, digest, platforms=platforms)
    config_digest = (manifest.get("config") or {}).get("digest")
    platform = _platform(ecr, registry_id, uri.repository, config_digest) if config_digest else None
    return EcrImage(media_type, digest, platform=platform)


def _platform(ecr: Any, registry_id: str, repository: str, digest: str) -> str | None:
    """os/architecture from the image config blob; None when it cannot be read (not an error: a check we skip)."""
    try:
        url = ecr.get_download_url_for_layer(registryId=registry_id, repositoryName=repository,
                                             layerDigest=digest)["downloadUrl"]
        with urllib.request.urlopen(url, timeout=30) as resp:  # a presigned URL: no credentials of ours in it
            config = json.loads(resp.read(1 << 20))
    except Exception:  # noqa: BLE001 - unsupported by the endpoint, denied, or unreadable: the platform stays unknown
        return None
    return f"{config.get('os', '?')}/{config.get('architecture', '?')}" if isinstance(config, dict) else None


def _json(text: Any) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
