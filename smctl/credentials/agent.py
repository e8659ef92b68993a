"""The process that serves a run's credentials: `python -m smctl.credentials.agent`, driven over stdin/stdout.

It reads one JSON line (the request and the run's label), gets the first credentials, gives the host ECS's address,
binds the endpoint and answers one JSON line: ready (port, path, token, region, source), none, or error. It then
serves until its parent closes stdin (the run ended, however it ended) or, after a `detach` line, until the
run's containers are gone (a detached endpoint); SIGTERM ends it too, tidily. Nothing secret is ever in its
argv, its output or a file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import IO, Any, TypeVar

from smctl.contract.credentials import ECS_HOST, CredentialsMode, CredentialsRequest, credentials_document

T = TypeVar("T")
WATCH_INTERVAL = 1.0
BIND_ATTEMPTS = 5
DETACHED_GRACE = 60.0  # a detached run's first container may take this long to appear


def main() -> int:
    from smctl.errors import CredentialsConfigError, SmctlError

    # `kill PID` (or a shutdown) ends it through its finally blocks, which give the host's address back.
    signal.signal(signal.SIGTERM, _terminated)
    stdout = sys.stdout
    try:
        config = json.loads(sys.stdin.readline() or "{}")
        request = CredentialsRequest(**config["request"])
        run = str(config["run"])
    except (ValueError, KeyError, TypeError) as exc:
        _reply(stdout, status="error", kind="UsageError", message=f"bad agent configuration: {exc}", hint=None)
        return 2
    try:
        return _serve(request, run, stdout)
    except SmctlError as exc:
        # The default never stops a local run for what is not the user's to fix here (offline, STS refused, the
        # engine elsewhere): it says why and runs without. A broken configuration is theirs to fix: an error.
        if request.mode == CredentialsMode.CALLER and not isinstance(exc, CredentialsConfigError):
            _reply(stdout, status="unavailable", message=exc.message, hint=exc.hint)
            return 0
        _reply(stdout, status="error", kind=type(exc).__name__, message=exc.message, hint=exc.hint,
               exit=int(exc.exit_code))
        return 0


def _serve(request: CredentialsRequest, run: str, stdout: IO[str]) -> int:
    from smctl.aws.credentials import CredentialSource, NoCallerCredentials
    from smctl.credentials.server import AddressBook, CredentialsServer
    from smctl.engine.client import engine
    from smctl.engine.linklocal import bridge_gateway, host_address, run_addresses

    source = CredentialSource(request)
    try:
        source.current()  # a role that cannot be assumed fails here, before any container starts
    except NoCallerCredentials as exc:
        _reply(stdout, status="none", message=str(exc))
        return 0
    client = engine()

    def fetch() -> dict[str, str]:
        c = source.current()
        return credentials_document(c.access_key, c.secret_key, c.token, c.expiration, c.role_arn)

    with host_address(client) as keep_address:  # the last agent out removes the network, after `stopped`
        server = _bind(keep_address, lambda: CredentialsServer(
            (ECS_HOST, 0), path=f"/v2/credentials/{uuid.uuid4()}", token=secrets.token_urlsafe(32), fetch=fetch,
            allowed=AddressBook(lambda: run_addresses(client, run))))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="credentials",
                         daemon=True).start()
        try:
            _reply(stdout, status="ready", port=server.server_address[1], path=server.path, token=server.token,
                   region=source.region, source=source.description, host_address=bridge_gateway(client))
            _quiet_stderr()
            _watch(client, run, keep_address)
        finally:
            server.shutdown()
            server.server_close()
            with contextlib.suppress(OSError):  # the parent is gone: nobody to tell
                _reply(stdout, status="stopped")
    return 0


def _watch(client: Any, run: str, keep_address: Callable[[], None]) -> None:
    """Until stdin closes (unless detached), or a detached run's containers are gone; keep the address meanwhile."""
    from smctl.engine.linklocal import running_count

    closed = threading.Event()
    detached = threading.Event()

    def read() -> None:
        for line in sys.stdin:
            if line.strip() == "detach":
                detached.set()
        closed.set()

    threading.Thread(target=read, name="parent", daemon=True).start()
    since: float | None = None
    seen = False
    while True:
        if closed.is_set() and not detached.is_set():
            return
        if closed.is_set():  # detached, and the parent is gone: only the containers tell when to stop
            time.sleep(WATCH_INTERVAL)
        else:
            closed.wait(WATCH_INTERVAL)
        if closed.is_set() and not detached.is_set():
            return
        if detached.is_set():
            since = since or time.monotonic()
            try:
                alive = running_count(client, run)
            except Exception:  # noqa: BLE001 - the engine stopped: so did the containers
                return
            seen = seen or alive > 0
            if alive == 0 and (seen or time.monotonic() - since > DETACHED_GRACE):
                return
        with contextlib.suppress(Exception):  # someone removed the network by hand: back it comes (next round)
            keep_address()


def _bind(keep_address: Callable[[], None], make: Callable[[], T]) -> T:
    """make() (the endpoint, bound on ECS_HOST); the address given back first if it went meanwhile (someone
    removed the network by hand, or an smctl that does not share the lock did).

    Raises: CredentialsEndpointError.
    """
    from smctl.errors import CredentialsEndpointError

    for attempt in range(BIND_ATTEMPTS):
        try:
            return make()
        except OSError as exc:
            if exc.errno != errno.EADDRNOTAVAIL or attempt == BIND_ATTEMPTS - 1:
                raise CredentialsEndpointError(f"smctl's AWS credentials endpoint cannot listen on {ECS_HOST}: "
                                               f"{exc}", "run without credentials: --no-credentials") from exc
            keep_address()
    raise AssertionError("unreachable")


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _reply(stdout: IO[str], **fields: Any) -> None:
    stdout.write(json.dumps(fields) + "\n")
    stdout.flush()


def _quiet_stderr() -> None:
    """The agent may outlive the terminal (a detached endpoint): it never writes to it after the first answer."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # all is tidied: the interpreter's own teardown would only make the run's end wait longer
