"""Running an image the way SageMaker does, for `smctl check`: `serve` on 8080 with /ping, /invocations and a
SIGTERM (`train` runs through local-train's runner: image_train.py). Facts only; the judges decide."""

from __future__ import annotations

import contextlib
import http.client
import shutil
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smctl.contract import layout
from smctl.contract.credentials import CredentialsRequest
from smctl.contract.serving import CONTAINER_PORT, PING_TIMEOUT
from smctl.credentials.endpoint import container_credentials
from smctl.engine.container import Container, ContainerState
from smctl.engine.containers import ContainerSpec, Mount, run_container
from smctl.engine.labels import LABEL_KIND
from smctl.errors import CredentialsEndpointError, RoleNotAssumableError, SmctlError, UsageError
from smctl.serving.ports import listening_sockets

INVOKE_TIMEOUT = 60.0
POLL = 0.5
LOOPBACK_POLLS = 4  # consecutive polls that see only a loopback listener before we call it
WILDCARDS = ("0.0.0.0", "::")
PING_ERRORS_TO_GIVE_UP = 3


@dataclass(frozen=True)
class TrainRun:
    with_sample: bool
    start_error: str | None = None
    exit_code: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    logs_tail: tuple[str, ...] = ()
    model_files: tuple[str, ...] = ()
    failure_text: str | None = None
    channels: tuple[str, ...] = ()  # the channels `train` ran with (the --sample folders)


@dataclass(frozen=True)
class ServeRun:
    startup_timeout: float
    stop_grace: float
    start_error: str | None = None
    exit_code: int | None = None  # the container exited on its own before we stopped it
    listeners: tuple[str, ...] = ()  # addresses listening on 8080 inside the container, last seen
    listeners_known: bool = False
    ping_status: int | None = None  # the last /ping answer
    ping_error: str | None = None
    ping_gave_up: bool = False  # /ping kept answering an error other than 503
    ping_ok_after: float | None = None  # seconds from start to the first 200
    tries: int = 0
    invocations_status: int | None = None
    invocations_error: str | None = None
    invocations_tried: bool = False
    stopped: bool | None = None  # None: not running any more when we wanted to stop it
    stop_seconds: float | None = None
    logs_tail: tuple[str, ...] = ()


def _name(kind: str) -> str:
    return f"smctl-check-{kind}-{uuid.uuid4().hex[:10]}"


def _start_error(err: SmctlError) -> str:
    return err.engine_message or err.message


def _tail(container: Container, n: int = 20) -> tuple[str, ...]:
    try:
        text = container.logs(tail=n).decode("utf-8", errors="replace")
        return tuple(text.rstrip("\n").split("\n")) if text else ()  # not splitlines(): keep a CRLF's \r visible
    except Exception:  # noqa: BLE001 - logs are a courtesy
        return ()


def _wait(container: Container, timeout: float) -> int | None:
    """The exit code, or None if the container still runs after `timeout` seconds."""
    return container.wait(timeout)


def prepare_model(model: Path, work: Path) -> Path:
    """A folder to mount at /opt/ml/model: the folder given, or model.tar.gz extracted (safely) into `work`.

    Raises:
        UsageError: the path is missing or is neither a folder nor a tar archive.
    """
    if model.is_dir():
        return model
    if not model.is_file():
        raise UsageError(f"--model {model} does not exist", "pass a model folder or a model.tar.gz")
    dest = work / "model"
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(model) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise UsageError(f"--model {model} is not a readable model.tar.gz ({exc})",
                         "pack it with: smctl package pack DIR -o model.tar.gz") from exc
    return dest


def run_serve(client: Any, image: str, *, model: Path | None, startup_timeout: float, stop_grace: float,
              labels: Mapping[str, str], on_event: Callable[[str], None],
              credentials: CredentialsRequest | None = None) -> ServeRun:
    """`docker run IMAGE serve` with 8080 published on loopback; ping, invoke, then SIGTERM and time the stop."""
    work = Path(tempfile.mkdtemp(prefix="smctl-check-serve-"))
    try:
        mounts = (Mount(prepare_model(model, work), str(layout.MODEL), read_only=True),) if model else ()
        spec = ContainerSpec(image=image, name=_name("serve"), command=["serve"], mounts=mounts,
                             ports={f"{CONTAINER_PORT}/tcp": ("127.0.0.1", None)},
                             labels={LABEL_KIND: "check", **labels})
        on_event(f"running `{image} serve` (startup window {startup_timeout:g} s)")
        try:
            with container_credentials(credentials, lambda kind, data: on_event(data["message"])) as creds, \
                    run_container(client, creds.apply(spec) if creds else spec, stop_grace=0) as container:
                return _exercise(container, startup_timeout, stop_grace, on_event)
        except (RoleNotAssumableError, CredentialsEndpointError):
            raise
        except SmctlError as err:
            return ServeRun(startup_timeout, stop_grace, start_error=_start_error(err))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _exercise(container: Container, startup_timeout: float, stop_grace: float,
              on_event: Callable[[str], None]) -> ServeRun:
    facts: dict[str, Any] = {"startup_timeout": startup_timeout, "stop_grace": stop_grace}
    address = container.published_address(CONTAINER_PORT)
    if address is None:  # it exited already: a stopped container publishes nothing
        return ServeRun(**facts, exit_code=_wait(container, 5), logs_tail=_tail(container))
    host, host_port = address
    t0 = time.monotonic()
    loopback_polls = tries = errors_in_a_row = 0
    while time.monotonic() - t0 < startup_timeout:
        if container.state() not in (ContainerState.RUNNING, ContainerState.CREATED):
            facts["exit_code"] = _wait(container, 5)
            break
        listeners = container_listeners(container, CONTAINER_PORT)
        if listeners is not None:
            facts.update(listeners=tuple(listeners), listeners_known=True)
        tries += 1
        status, error = http_request(host, host_port, "GET", "/ping", PING_TIMEOUT)
        facts.update(ping_status=status, ping_error=error)
        if status == 200:
            facts["ping_ok_after"] = round(time.monotonic() - t0, 2)
            again = container_listeners(container, CONTAINER_PORT)  # the first read may predate the bind
            if again is not None:
                facts["listeners"] = tuple(again)
            break
        # 503 means "still loading"; any other error answer, three times running, will not turn into a 200
        errors_in_a_row = errors_in_a_row + 1 if status is not None and status >= 400 and status != 503 else 0
        if errors_in_a_row >= PING_ERRORS_TO_GIVE_UP:
            facts["ping_gave_up"] = True
            break
        only_loopback = bool(listeners) and not any(a.rsplit(":", 1)[0] in WILDCARDS for a in listeners or [])
        loopback_polls = loopback_polls + 1 if only_loopback else 0
        if loopback_polls >= LOOPBACK_POLLS:
            break
        time.sleep(POLL)
    facts["tries"] = tries
    if facts.get("ping_status") is not None:
        on_event("POST /invocations")
        status, error = http_request(host, host_port, "POST", "/invocations", INVOKE_TIMEOUT, b"{}")
        facts.update(invocations_tried=True, invocations_status=status, invocations_error=error)
    if container.state() is ContainerState.RUNNING:
        on_event(f"SIGTERM, waiting up to {stop_grace:g} s for the container to stop")
        t1 = time.monotonic()
        container.kill(signal="SIGTERM")
        code = _wait(container, stop_grace)
        facts.update(stopped=code is not None, stop_seconds=round(time.monotonic() - t1, 2))
    elif "exit_code" not in facts:
        facts["exit_code"] = _wait(container, 5)
    facts["logs_tail"] = _tail(container)
    return ServeRun(**facts)


def container_listeners(container: Container, port: int) -> list[str] | None:
    """Addresses listening on `port` inside the container: the host's /proc/PID/net/tcp, else `cat` in it."""
    pid = container.pid
    text = ""
    if pid:
        with contextlib.suppress(OSError):
            text = Path(f"/proc/{pid}/net/tcp").read_text() + Path(f"/proc/{pid}/net/tcp6").read_text()
    if not text:
        # an image without cat gives None: we fall back to what HTTP tells us
        text = container.proc_net_tcp() or ""
        if not text:
            return None
    return [addr for addr, _ in listening_sockets(text, port)]


def http_request(host: str, port: int, method: str, path: str, timeout: float,
                 body: bytes | None = None) -> tuple[int | None, str | None]:
    """(status, None) for any HTTP answer, (None, what went wrong) otherwise."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json", "Accept": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status, None
    except TimeoutError:
        return None, f"no answer within {timeout:g} s"
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}".rstrip(": ")
    finally:
        conn.close()
