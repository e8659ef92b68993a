"""Writable overlay channels as named volumes: created before their container, checked to show the user's files
before the algorithm starts, removed with the container.

An inline volume with driver options (a Mount's DriverConfig) is what Docker mounts, but Podman 4.3 accepts it,
drops the options and mounts an empty folder. A volume created by name with the same options is mounted as asked
by both; and since an engine may still hand over an empty folder, a short check container lists one of the user's
entries through each overlay first. Part of engine/, the only docker-py user.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smctl.engine.labels import LABEL_KIND, LABEL_MANAGED, LABEL_PROCESS, extra_labels, process_id
from smctl.errors import OverlayUnavailableError

LABEL_CONTAINER = "smctl.container"  # on a volume: the container it was made for (removed with it)
READ_ONLY_HINT = "use read-only channels: --read-only-channels"
CHECK_TIMEOUT = 60


def overlay_options(lower: Path, layers: Path) -> dict[str, str]:
    """The `local` driver's options for an overlay of `lower` whose writes land in `layers`/upper."""
    o = f"lowerdir={_escaped(lower)},upperdir={_escaped(layers / 'upper')},workdir={_escaped(layers / 'work')}"
    return {"type": "overlay", "device": "overlay", "o": o}


def _escaped(path: Path) -> str:
    """A path inside overlayfs's option string: ',' separates options and ':' lower layers, so both are escaped."""
    return str(path).replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


def create_overlay_volumes(client: Any, container: str, overlays: Sequence[tuple[Path, Path]],
                           labels: dict[str, str]) -> list[str]:
    """One named, labelled volume per (lower, layers) overlay, for `container`; their names, in order.
    A failure removes the ones already made."""
    made: list[str] = []
    try:
        for lower, layers in overlays:
            name = f"{container}-overlay-{uuid.uuid4().hex[:8]}"
            client.volumes.create(name, driver="local", driver_opts=overlay_options(lower, layers), labels={
                **extra_labels(), LABEL_MANAGED: "1", LABEL_PROCESS: process_id(), **labels,
                LABEL_CONTAINER: container})
            made.append(name)
    except BaseException:
        remove_volumes(client, made)
        raise
    return made


def remove_volumes(client: Any, names: Sequence[str]) -> None:
    """Remove these volumes; one already gone (or still held by a container being removed) is left alone."""
    import docker.errors

    for name in names:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            client.api.remove_volume(name, force=True)


def container_volumes(client: Any, attrs: dict[str, Any]) -> list[str]:
    """The volumes smctl made for the container whose inspect document is `attrs`."""
    import docker.errors

    name = str(attrs.get("Name") or "").lstrip("/")
    found = []
    for m in attrs.get("Mounts") or []:
        if m.get("Type") != "volume" or not m.get("Name"):
            continue
        try:
            labels = client.api.inspect_volume(m["Name"]).get("Labels") or {}
        except docker.errors.APIError:
            continue
        if labels.get(LABEL_MANAGED) and labels.get(LABEL_CONTAINER) == name:
            found.append(str(m["Name"]))
    return found


def first_entry(folder: Path) -> str | None:
    """One entry of `folder` (None when it is empty or not a folder): what its overlay must show."""
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                return entry.name
    except OSError:
        return None
    return None


def check_overlays(client: Any, image: str, container: str, volumes: Sequence[tuple[str, str, Path]]) -> None:
    """Before the algorithm starts: a short container of `image` lists, through each (volume, target, lower)
    overlay, one entry of the lower folder. An empty lower folder has nothing to show and is not checked.

    Raises: OverlayUnavailableError when an overlay hides the user's files, or the check cannot run at all.
    """
    import docker.errors
    from docker.types import Mount as DockerMount

    from smctl.engine.client import engine_kind
    from smctl.engine.interrupts import deferred_interrupts

    expected = []
    for _volume, target, lower in volumes:
        entry = first_entry(lower)
        if entry is not None:
            expected.append(f"{target.rstrip('/')}/{entry}")
    if not expected:
        return
    engine = engine_kind(client).the_engine
    raw = None
    try:
        with deferred_interrupts():  # created and owned at once: a Ctrl-C cannot leave it behind
            raw = client.containers.create(
                image, entrypoint=["ls", "-d", "--"], command=expected, network_mode="none",
                name=f"{container}-check-{uuid.uuid4().hex[:6]}",
                mounts=[DockerMount(target, volume, type="volume") for volume, target, _ in volumes],
                labels={**extra_labels(), LABEL_MANAGED: "1", LABEL_PROCESS: process_id(), LABEL_KIND: "check"})
        raw.start()
        code = int(raw.wait(timeout=CHECK_TIMEOUT)["StatusCode"])
        output = bytes(raw.logs(stdout=True, stderr=True)).decode("utf-8", errors="replace").strip()
    except docker.errors.APIError as exc:
        text = str(exc.explanation or exc)
        if "executable file not found" in text or "no such file or directory" in text:
            raise OverlayUnavailableError(f"the overlay channels of {container} could not be checked: image "
                                          f"{image} has no `ls` ({text})", READ_ONLY_HINT) from None
        err = OverlayUnavailableError(f"{engine} could not mount the overlay channels of {container}: {text}",
                                      READ_ONLY_HINT)
        err.engine_message = text  # run_container tells a host that starts no container at all apart
        raise err from None
    except Exception as exc:  # noqa: BLE001 - the wait timed out or broke: unchecked means not trusted
        raise OverlayUnavailableError(f"the overlay channels of {container} could not be checked: {exc}",
                                      READ_ONLY_HINT) from None
    finally:
        if raw is not None:
            with contextlib.suppress(docker.errors.APIError):
                raw.remove(force=True)
    if code != 0:
        missing = [p for p in expected if p in output] or expected
        raise OverlayUnavailableError(
            f"{engine} mounted the overlay channel(s) of {container} without the user's files "
            f"({', '.join(missing)} not there: {output.splitlines()[-1] if output else f'exit code {code}'})",
            READ_ONLY_HINT)
