"""The opt-in `--login-config`: store a registry login in the docker CLI's config.json, as `docker login` would."""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path

from smctl.errors import SmctlError


def docker_config_file() -> Path:
    folder = os.environ.get("DOCKER_CONFIG")
    return (Path(folder) if folder else Path.home() / ".docker") / "config.json"


def has_login(host: str, config_file: Path | None = None) -> bool:
    """True when the docker CLI's config holds a login or a credential helper (e.g. ecr-login) for `host`."""
    try:
        data = json.loads((config_file or docker_config_file()).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and (host in (data.get("auths") or {}) or host in (data.get("credHelpers") or {}))


def save_login(host: str, username: str, password: str, config_file: Path | None = None) -> Path | None:
    """Write the login for `host` into config.json (atomically, mode 0600); None when a credential helper owns
    that host (the docker CLI would not read auths then: `docker login` is the way).

    Raises: SmctlError naming the file when it is not valid JSON or cannot be written.
    """
    path = config_file or docker_config_file()
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError) as exc:
        raise SmctlError(f"{path} cannot be read as JSON: {exc}",
                         "fix or move that file, or push without --login-config") from None
    if not isinstance(data, dict):
        raise SmctlError(f"{path} does not hold a JSON object", "fix or move that file, or drop --login-config")
    if data.get("credsStore") or host in (data.get("credHelpers") or {}):
        return None
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    data.setdefault("auths", {})[host] = {"auth": token}
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".config.json.", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh, indent="\t")
                fh.write("\n")
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise SmctlError(f"cannot write {path}: {exc.strerror or exc}",
                         "check the folder's permissions (or DOCKER_CONFIG), or push without --login-config"
                         ) from None
    return path
