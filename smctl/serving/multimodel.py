"""Multi-model endpoints: smctl plays SageMaker's part. A TargetModel is fetched (s3:// prefix or a folder) and
extracted into /opt/ml/models/NAME/model, loaded with POST /models, invoked with POST /models/NAME/invoke; the least
recently used models are unloaded when memory runs short (or the container answers 507).

Memory runs short when what the container's processes hold now (the engine's own figure) plus the incoming model
(its size on disk) would pass the instance type's memory; each model's footprint is what its load added.

What is loaded is the container's own answer to GET /models; LRU order and sizes live in a small state file in the
endpoint's run folder, written atomically under a lock, so separate `smctl invoke` processes share them.
The container's HTTP API: smctl.serving.multimodel_api."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smctl.errors import (
    ModelDataNotFoundError,
    ModelNotReadyError,
    MultiModelContractError,
    TargetModelError,
    UsageError,
)
from smctl.events import OnEvent
from smctl.serving.multimodel_api import MODELS_DIR, TARGET_HEADER, ContainerModels

if TYPE_CHECKING:
    from smctl.engine.containers import ContainerSpec
    from smctl.serving.registry import Endpoint

CAPABILITY_LABEL = "com.amazonaws.sagemaker.capabilities.multi-models"
ENV_MULTI_MODEL = "SAGEMAKER_MULTI_MODEL"
LABEL_SOURCE = "smctl.multi_model"  # the S3 prefix or folder TargetModel paths are under
LABEL_MEMORY = "smctl.multi_model_memory"  # bytes the loaded models may take (the instance type's memory)
LABEL_REGION = "smctl.multi_model_region"
STATE_FILE = "multi-model.json"
LOCK_FILE = "multi-model.lock"
MAX_TARGET = 1024  # InvokeEndpoint's TargetModel: 1-1024 characters


@dataclass(frozen=True)
class MultiModelEndpoint:
    name: str
    host: str
    port: int
    source: str  # s3://bucket/prefix/ or an absolute folder
    run_dir: Path
    memory_bytes: int
    region: str | None = None
    container_id: str = ""  # where the engine measures the memory in use; "" falls back to recorded sizes

    @classmethod
    def from_endpoint(cls, endpoint: Endpoint) -> MultiModelEndpoint | None:
        """The multi-model side of a running endpoint; None for a single-model one (or one without an address)."""
        labels = endpoint.summary.labels if endpoint.summary is not None else {}
        source = labels.get(LABEL_SOURCE)
        if not source or endpoint.host is None or endpoint.port is None or endpoint.run_dir is None:
            return None
        return cls(endpoint.name, endpoint.host, endpoint.port, source, endpoint.run_dir,
                   int(labels.get(LABEL_MEMORY) or 0), labels.get(LABEL_REGION) or None, endpoint.container_id)

    @property
    def models_dir(self) -> Path:
        return self.run_dir / "models"


@dataclass
class TargetResult:
    status: int
    headers: dict[str, str]
    body: bytes
    model_name: str
    loaded: bool = False  # this call fetched and loaded the model (a cold invocation)
    evicted: list[str] = field(default_factory=list)  # TargetModels unloaded to make room


# -- the plan: image, source, container ------------------------------------------------------------------------


def check_image_label(labels: Mapping[str, str], image: str) -> None:
    """Raises: UsageError, as CreateModel with Mode MultiModel refuses an image without the capability label."""
    if str(labels.get(CAPABILITY_LABEL, "")).strip().lower() != "true":
        raise UsageError(f"image {image} does not contain required {CAPABILITY_LABEL}=true Docker label(s) "
                         "(SageMaker's CreateModel refuses it for a multi-model endpoint)",
                         f"add `LABEL {CAPABILITY_LABEL}=true` to its Dockerfile and rebuild (smctl build); check the "
                         f"/models API with: smctl check --multi-model {image}")


def check_source(source: str) -> str:
    """The model prefix as stored: s3://bucket/prefix/ (a slash added) or an absolute folder.

    Raises: UsageError for a malformed s3:// URI or a folder that does not exist.
    """
    from smctl.contract.location import as_location

    location = as_location(source, Path())
    if location.is_s3:
        from smctl.aws.s3 import parse_s3_uri

        bucket, key = parse_s3_uri(source, allow_prefix=True)
        return f"s3://{bucket}/{key.rstrip('/') + '/' if key else ''}"
    path = location.path.expanduser().resolve()
    if not path.is_dir():
        raise UsageError(f"--multi-model {source}: no such folder",
                         "pass the S3 prefix (s3://bucket/models/) or a folder holding the model archives")
    return str(path)


def multi_model_container(spec: ContainerSpec, source: str, run_dir: Path, memory_bytes: int,
                          region: str | None = None) -> ContainerSpec:
    """The endpoint's container in multi-model mode: SAGEMAKER_MULTI_MODEL=true, the models folder at
    /opt/ml/models, and labels that tell later invocations where the models come from."""
    from smctl.engine.containers import Mount
    from smctl.engine.labels import LABEL_RUN_DIR

    labels = {**spec.labels, LABEL_SOURCE: check_source(source), LABEL_MEMORY: str(memory_bytes),
              LABEL_RUN_DIR: str(run_dir)}
    if region:
        labels[LABEL_REGION] = region
    return replace(spec, environment={**spec.environment, ENV_MULTI_MODEL: "true"}, labels=labels,
                   mounts=(*spec.mounts, Mount(run_dir / "models", str(MODELS_DIR))))


def prepare_host(run_dir: Path) -> None:
    """The models folder must exist before the container is created (a bind mount's source)."""
    (run_dir / "models").mkdir(parents=True, exist_ok=True)


# -- TargetModel -> model name -------------------------------------------------------------------------------


def check_target(target: str) -> str:
    """Raises: TargetModelError for a TargetModel that is empty, too long, absolute or climbs out with '..'."""
    fix = "pass the archive's path relative to the endpoint's model prefix, e.g. --target-model m1.tar.gz"
    if not target or len(target) > MAX_TARGET:
        raise TargetModelError(f"TargetModel is {len(target)} characters; SageMaker takes 1-{MAX_TARGET}", fix)
    if target[0].isspace() or not all(ch.isprintable() for ch in target) or "\\" in target:
        raise TargetModelError(f"TargetModel {target!r} holds control characters or backslashes", fix)
    if target.startswith("/"):
        raise TargetModelError(f"TargetModel {target!r} is an absolute path; it must be relative to the prefix", fix)
    if any(part in ("", ".", "..") for part in target.split("/")):
        raise TargetModelError(f"TargetModel {target!r} has an empty, '.' or '..' path part (it could name a file "
                               "outside the endpoint's model prefix)", fix)
    return target


def model_name(target: str) -> str:
    """The opaque NAME of /models/NAME for a TargetModel: readable, URL-safe, and unique per path."""
    check_target(target)
    stem = re.sub(r"\.(tar\.gz|tgz|tar)$", "", target)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.")[:64] or "model"
    return f"{slug}-{hashlib.sha256(target.encode()).hexdigest()[:8]}"


# -- the state file: LRU order and sizes, shared by every smctl process ----------------------------------------


@contextmanager
def state_lock(run_dir: Path) -> Iterator[None]:
    """One process (or thread) at a time reads and writes the state file."""
    import fcntl

    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_state(run_dir: Path) -> dict[str, dict[str, Any]]:
    """{model name: {target, size, last_used, status, pid, host}}; a missing or torn file is an empty state."""
    try:
        doc = json.loads((run_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    models = doc.get("models") if isinstance(doc, dict) else None
    return {k: v for k, v in models.items() if isinstance(v, dict)} if isinstance(models, dict) else {}


def write_state(run_dir: Path, models: Mapping[str, Mapping[str, Any]]) -> None:
    """Atomically: a temp file in the same folder, then rename over the old one."""
    tmp = run_dir / f".{STATE_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"models": models}, indent=1, sort_keys=True))
    os.replace(tmp, run_dir / STATE_FILE)


def footprint(entry: Mapping[str, Any]) -> int:
    """A loaded model's memory: what its load added in the container, or at least its size on disk."""
    return max(int(entry.get("size", 0)), int(entry.get("memory", 0)))


def plan_evictions(models: Mapping[str, Mapping[str, Any]], incoming: int, budget: int, keep: str,
                   in_use: int | None = None) -> list[str]:
    """The loaded models to unload, least recently used first, so that `incoming` more bytes fit in `budget`.

    `in_use` is the memory the container holds now (measured); None counts the loaded models' footprints instead.
    """
    if budget <= 0:
        return []
    loaded = sorted(((m.get("last_used", 0), n) for n, m in models.items()
                     if n != keep and m.get("status") == "loaded"))
    used = in_use if in_use is not None else sum(footprint(models[n]) for _, n in loaded)
    victims = []
    for _, victim in loaded:
        if used + incoming <= budget:
            break
        victims.append(victim)
        used -= footprint(models[victim])
    return victims


def memory_in_use(mme: MultiModelEndpoint) -> int | None:
    """Bytes the endpoint's container holds now, as the engine measures it; None when it cannot say."""
    if not mme.container_id or mme.memory_bytes <= 0:
        return None
    from smctl.engine.containers import docker_client, find_container

    container = find_container(docker_client(), mme.container_id)
    return None if container is None else container.memory_in_use()


def _loading_elsewhere(entry: Mapping[str, Any]) -> bool:
    """True while another (living) smctl process or thread is fetching or loading this model."""
    if entry.get("status") != "loading" or entry.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(entry.get("pid", 0)), 0)
    except (OSError, ValueError):
        return False
    return True


# -- one invocation ----------------------------------------------------------------------------------------------


def invoke_target(mme: MultiModelEndpoint, target: str, body: bytes, headers: Mapping[str, str], *,
                  timeout: float, on_event: OnEvent | None = None) -> TargetResult:
    """Load the TargetModel if it is not loaded (fetching, extracting, unloading LRU models as needed), then
    POST /models/NAME/invoke; the container's answer comes back as it is.

    Raises:
        TargetModelError: a bad TargetModel (before any fetch). ModelDataNotFoundError: no such archive.
        ModelNotReadyError: another invocation is loading it now. MultiModelContractError: /models misbehaved.
    """
    on_event = on_event or (lambda kind, data: None)
    name = model_name(target)
    api = ContainerModels(mme.host, mme.port, timeout=timeout, endpoint=mme.name)
    result = TargetResult(0, {}, b"", name)
    fresh = _ensure_loaded(mme, api, target, name, result, on_event, verify=False)
    headers = {**headers, TARGET_HEADER: target}
    result.status, result.headers, result.body = api.invoke(name, body, headers)
    if result.status == 404 and not fresh:  # unloaded behind our back (another process, a restarted container)
        _ensure_loaded(mme, api, target, name, result, on_event, verify=True)
        result.status, result.headers, result.body = api.invoke(name, body, headers)
    return result


def _ensure_loaded(mme: MultiModelEndpoint, api: ContainerModels, target: str, name: str, result: TargetResult,
                   on_event: OnEvent, *, verify: bool) -> bool:
    """True when this call loaded the model."""
    with state_lock(mme.run_dir):
        models = read_state(mme.run_dir)
        entry = models.get(name, {})
        if entry.get("status") == "loaded" and not verify:
            entry["last_used"] = time.time()
            write_state(mme.run_dir, models)
            return False
        if _loading_elsewhere(entry):
            raise ModelNotReadyError(f"endpoint {mme.name}: model {target} is still being downloaded or loaded "
                                     "(SageMaker answers ModelNotReadyException, HTTP 429)",
                                     "wait a moment and send the request again")
        models[name] = {"target": target, "status": "loading", "pid": os.getpid(), "host": socket.gethostname(),
                        "last_used": time.time(), "size": 0}
        write_state(mme.run_dir, models)
    try:
        on_event("fetch", {"message": f"{mme.name}: fetching {target} from {mme.source}", "endpoint": mme.name})
        size = fetch_model(mme, target, name)
        with state_lock(mme.run_dir):
            models = read_state(mme.run_dir)
            memory = _load(mme, api, target, name, size, models, result, on_event)
            models[name] = {"target": target, "status": "loaded", "size": size, "memory": memory,
                            "last_used": time.time()}
            write_state(mme.run_dir, models)
        result.loaded = True
        return True
    except BaseException:
        with state_lock(mme.run_dir):
            models = read_state(mme.run_dir)
            if models.get(name, {}).get("status") == "loading" and models[name].get("pid") == os.getpid():
                del models[name]
                write_state(mme.run_dir, models)
        raise


def _load(mme: MultiModelEndpoint, api: ContainerModels, target: str, name: str, size: int,
          models: dict[str, dict[str, Any]], result: TargetResult, on_event: OnEvent) -> int:
    """POST /models after making room: first for memory (the instance type's), then once per 507 answer.

    Returns the memory the load added in the container (0 when unknown)."""
    loaded = set(api.list_models())
    for n in [n for n, m in models.items() if m.get("status") == "loaded" and n not in loaded]:
        del models[n]  # the container says it is gone (restarted, or unloaded by hand)
    if name in loaded:
        return 0  # 409's case: someone loaded it already
    in_use = memory_in_use(mme)
    why = "memory" if in_use is None else f"{in_use + size:,} bytes would pass the {mme.memory_bytes:,} available"
    victims = plan_evictions(models, size, mme.memory_bytes, keep=name, in_use=in_use)
    for victim in victims:
        _unload(mme, api, victim, models, result, on_event, why)
    while True:
        before = memory_in_use(mme) if in_use is not None and (victims or result.evicted) else in_use
        status = api.load_model(name, target)
        if status in (200, 409):
            on_event("load", {"message": f"{mme.name}: loaded {target} as {name}", "endpoint": mme.name})
            after = memory_in_use(mme) if before is not None else None
            return max(0, after - before) if after is not None and before is not None else 0
        lru = sorted((m.get("last_used", 0), n) for n, m in models.items() if n != name and m.get("status") == "loaded")
        if not lru:
            raise MultiModelContractError(
                f"endpoint {mme.name}: POST /models for {target} answered 507 (out of memory) with no other model "
                "loaded to unload", "give the endpoint more memory (--instance-type) or make the model smaller",
                details={"call": "POST /models", "status": 507})
        _unload(mme, api, lru[0][1], models, result, on_event, "HTTP 507")


def _unload(mme: MultiModelEndpoint, api: ContainerModels, victim: str, models: dict[str, dict[str, Any]],
            result: TargetResult, on_event: OnEvent, why: str) -> None:
    api.unload_model(victim)
    target = models.pop(victim, {}).get("target", victim)
    shutil.rmtree(mme.models_dir / victim, ignore_errors=True)
    result.evicted.append(target)
    on_event("evict", {"message": f"{mme.name}: unloaded {target} (least recently used; {why})",
                       "endpoint": mme.name})


def fetch_model(mme: MultiModelEndpoint, target: str, name: str) -> int:
    """Extract the TargetModel's archive into models/NAME/model (afresh); returns its size on disk in bytes.

    Raises: ModelDataNotFoundError (no archive), ArchiveError / UnsafeArchiveError (a bad one), AwsError.
    """
    from smctl.serving.model_data import unpack_model

    archive = _archive(mme, target)
    folder = mme.models_dir / name
    if folder.exists():
        shutil.rmtree(folder)
    dest = folder / "model"
    dest.mkdir(parents=True)
    unpack_model(archive, dest)
    return sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())


def _archive(mme: MultiModelEndpoint, target: str) -> Path:
    url = f"{mme.source}{target}" if mme.source.startswith("s3://") else str(Path(mme.source) / target)
    missing = ModelDataNotFoundError(
        f"endpoint {mme.name}: no model archive {target} at {url} (SageMaker answers ValidationError: "
        "Failed to download model data)",
        f"upload it (aws s3 cp model.tar.gz {url})" if mme.source.startswith("s3://") else
        f"put the archive there, or check --target-model against the files under {mme.source}",
        details={"url": url})
    if mme.source.startswith("s3://"):
        from smctl.aws.s3 import fetch_object

        found = fetch_object(url, mme.run_dir / "s3-cache", region=mme.region)
        if found is None:
            raise missing
        return found
    root = Path(mme.source).resolve()
    path = (root / target).resolve()
    if not path.is_relative_to(root):  # a symlink inside the folder pointing out of it
        raise TargetModelError(f"TargetModel {target!r} resolves outside {root}", "point it at an archive inside")
    if not path.is_file():
        raise missing
    return path


def loaded_models(mme: MultiModelEndpoint, timeout: float = 1.0) -> list[dict[str, Any]]:
    """What the container says is loaded, with the TargetModel and size smctl recorded (for `smctl endpoints`)."""
    names = ContainerModels(mme.host, mme.port, timeout=timeout, endpoint=mme.name).list_models()
    with state_lock(mme.run_dir):
        models = read_state(mme.run_dir)
    return [{"name": n, "target": models.get(n, {}).get("target"), "size": models.get(n, {}).get("size"),
             "last_used": models.get(n, {}).get("last_used")} for n in names]
