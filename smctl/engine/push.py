"""`docker push` through the engine, with the registry login passed in memory and the stream checked chunk by chunk."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smctl.engine.client import EngineKind, engine_error, engine_kind
from smctl.errors import DockerError, PushFailedError
from smctl.events import OnEvent

AUTH_FAILURE = re.compile(r"denied|unauthori[sz]ed|authentication required|authorization token has expired|"
                          r"no basic auth credentials|status: 401|\b403\b", re.I)
UNREACHABLE = re.compile(r"connection refused|no such host|i/o timeout|dial tcp|network is unreachable|"
                         r"server gave http response to https client|x509|tls: ", re.I)
PLAIN_HTTP = re.compile(r"server gave http response to https client", re.I)
INSECURE_PODMAN = ('if {host} is meant to be plain http, mark it insecure for Podman: put `[[registry]]` '
                   '`location = "{host}"` `insecure = true` (one per line) in '
                   '/etc/containers/registries.conf.d/50-insecure.conf (rootless: ~/.config/containers/'
                   'registries.conf), then restart Podman\'s API service (`systemctl restart podman.socket`, '
                   'or stop and start `podman system service`); else give it TLS')
INSECURE_DOCKER = ('if {host} is meant to be plain http, add it to "insecure-registries" in /etc/docker/daemon.json '
                   'and restart Docker (Docker Desktop: Settings > Docker Engine); else give it TLS')
DIGEST_LINE = re.compile(r"digest: (sha256:[0-9a-f]{64}) size: (\d+)")


@dataclass(frozen=True)
class PushedImage:
    digest: str
    size: int | None
    layers_pushed: int | None  # None: the engine reported no layers (Podman 4's push stream names none)
    layers_existing: int | None


class PushProgress:
    """Turns the engine's decoded push stream into per-layer events; Raises (from feed): PushFailedError."""

    def __init__(self, reference: str, host: str, on_event: OnEvent, kind: EngineKind = EngineKind.DOCKER) -> None:
        self.reference = reference
        self.host = host
        self.on_event = on_event
        self.kind = kind
        self.layers: dict[str, str] = {}
        self.digest: str | None = None
        self.size: int | None = None

    def feed(self, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            return
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("errorDetail") or {}
            raise self.failure(str(detail.get("message") or chunk.get("error") or "unknown error"))
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            self.digest, self.size = aux["Digest"], aux.get("Size")
        status = str(chunk.get("status") or "")
        m = DIGEST_LINE.search(status)
        if m and not self.digest:
            self.digest, self.size = m[1], int(m[2])
        layer = chunk.get("id")
        if layer and status and not m:
            first = self.layers.get(layer) != status
            self.layers[layer] = status
            progress = chunk.get("progressDetail") or {}
            self.on_event("layer", {"id": layer, "status": status, "changed": first,
                                    "current": progress.get("current"), "total": progress.get("total")})

    def failure(self, error: str) -> PushFailedError:
        if "immutable" in error.lower():
            return PushFailedError(f"the tag of {self.reference} already exists and its repository is immutable",
                                   "push under a new --tag (immutable tags cannot be overwritten)",
                                   registry=self.host, details={"registry": self.host, "engine_message": error})
        if AUTH_FAILURE.search(error):
            return PushFailedError(f"the registry {self.host} refused the push of {self.reference}: {error}",
                                   "check your AWS identity has ecr:InitiateLayerUpload, ecr:UploadLayerPart, "
                                   "ecr:CompleteLayerUpload and ecr:PutImage on the repository",
                                   reason="auth", registry=self.host, details={"registry": self.host})
        if PLAIN_HTTP.search(error):
            return PushFailedError(
                f"the registry {self.host} speaks plain http, and {self.kind.the_engine} expects https: {error}",
                INSECURE_PODMAN.format(host=self.host) if self.kind is EngineKind.PODMAN
                else INSECURE_DOCKER.format(host=self.host),
                reason="unreachable", registry=self.host, details={"registry": self.host, "plain_http": True})
        if UNREACHABLE.search(error):
            return PushFailedError(f"the registry {self.host} cannot be reached from {self.kind.the_engine}: {error}",
                                   "check the registry host (--registry, [aws] registry), the network and any "
                                   "proxy the engine uses (`docker info` shows it)",
                                   reason="unreachable", registry=self.host, details={"registry": self.host})
        return PushFailedError(f"pushing {self.reference} to {self.host} failed: {error}",
                               "rerun with -v; `smctl doctor` checks the engine and AWS setup",
                               registry=self.host, details={"registry": self.host})

    def result(self) -> PushedImage:
        if not self.digest:
            raise PushFailedError(f"the engine finished pushing {self.reference} without reporting a digest",
                                  "rerun with -v; check the registry's log", registry=self.host)
        if not self.layers:  # Docker always names every layer (pushed or already there); Podman 4 names none
            return PushedImage(self.digest, self.size, None, None)
        statuses = list(self.layers.values())
        existing = sum(1 for s in statuses if s == "Layer already exists" or s.startswith("Mounted from"))
        pushed = sum(1 for s in statuses if s == "Pushed")
        return PushedImage(self.digest, self.size, pushed, existing)


def push_reference(client: Any, repository: str, tag: str, host: str, auth: Mapping[str, str] | None,
                   on_event: OnEvent) -> PushedImage:
    """Push the local REPOSITORY:TAG (REPOSITORY starts with the registry host) with this login, in memory only
    (auth None: whatever `docker login` stored for the host).

    Raises: PushFailedError (reason auth/unreachable/other); DockerError when the engine itself fails.
    """
    import docker.errors
    import requests.exceptions

    progress = PushProgress(f"{repository}:{tag}", host, on_event, engine_kind(client))
    try:
        auth_config = dict(auth) if auth is not None else None
        for chunk in client.api.push(repository, tag=tag, stream=True, decode=True, auth_config=auth_config):
            progress.feed(chunk)
    except docker.errors.APIError as exc:
        text = str(exc.explanation or exc)
        if exc.status_code == 404 or "does not exist" in text:
            raise DockerError(f"the engine has no image {repository}:{tag} to push: {text}",
                              "build it first with `smctl build`") from None
        raise progress.failure(text) from None
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        raise engine_error(exc) from None
    return progress.result()
