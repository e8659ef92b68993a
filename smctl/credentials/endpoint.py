"""A run's credentials endpoint, from the run's side: start the agent, hand its variables to the containers, stop it.

    with container_credentials(request, on_event) as creds:   # starts the agent
        spec = creds.apply(spec) if creds else spec          # waits for it: before the container is made
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import IO, Any

from smctl.contract.credentials import (
    ENDPOINT_PREFIX,
    SECRET_VARIABLES,
    CredentialsMode,
    CredentialsRequest,
    container_environment,
)
from smctl.engine.containers import ContainerSpec
from smctl.engine.labels import LABEL_CREDENTIALS
from smctl.errors import AwsError, CredentialsEndpointError, DockerError, RoleNotAssumableError, SmctlError
from smctl.events import OnEvent

READY_TIMEOUT = 120.0  # STS over a slow network, an SSO refresh: the agent answers or says why
STOP_TIMEOUT = 10.0
NO_CREDENTIALS = ("no AWS credentials found: containers run without any, as before (configure AWS to give them "
                  "yours, --role ARN for a role's, --no-credentials to say none on purpose)")


class ContainerCredentials:
    """A run's credentials, started at once and waited for only when the first container is made (the agent's
    start-up overlaps the run's own preparation). apply() gives a spec the endpoint's variables and the run's label
    (or leaves it as it is when the run gets none after all: no AWS configuration, or the default source failed).
    """

    def __init__(self, agent: Agent, on_event: OnEvent) -> None:
        self._agent = agent
        self._on_event = on_event
        self._resolved = False
        self._warned = False
        self.source: str | None = None
        self.region: str | None = None
        self.environment: dict[str, str] = {}
        self.labels: dict[str, str] = {}

    @property
    def run(self) -> str:
        return self._agent.run

    def ready(self) -> ContainerCredentials:
        """Wait for the agent's answer (once). Raises: RoleNotAssumableError, AwsError, CredentialsEndpointError."""
        if not self._resolved:
            self._resolved = True
            self._settle(self._agent.answer())
        return self

    def apply(self, spec: ContainerSpec) -> ContainerSpec:
        """`spec` with the endpoint's variables (the user's own --env win) and the run's label."""
        self.ready()
        if not self.environment:
            return spec
        given = sorted(k for k in SECRET_VARIABLES if k in spec.environment)
        if given and not self._warned:
            self._warned = True
            self._on_event("warning", {"message": f"{', '.join(given)} from --env or smctl.toml win over the "
                                                  "credentials smctl gives the containers, and show in `docker "
                                                  "inspect`: drop them (--role ARN gives a role's credentials)"})
        return replace(spec, environment={**self.environment, **spec.environment},
                       labels={**spec.labels, **self.labels})

    def keep_after_exit(self) -> None:
        """The run's containers outlive this process (a detached endpoint): the agent serves until they are gone."""
        if self.environment:
            self._agent.detach()

    def _settle(self, answer: dict[str, Any]) -> None:
        on_event = self._on_event
        if answer["status"] == "none":
            on_event("credentials", {"message": NO_CREDENTIALS, "source": None})
            return
        if answer["status"] == "unavailable":
            on_event("warning", {"message": f"the containers run without AWS credentials: {answer['message']} "
                                            f"({answer.get('hint') or 'see smctl doctor'}; --no-credentials says "
                                            "none on purpose)"})
            return
        host = answer.get("host_address")
        env = container_environment(answer["port"], answer["path"], answer["token"], answer.get("region"),
                                    {k: off_loopback(v, host) if host and k.startswith(ENDPOINT_PREFIX) else v
                                     for k, v in os.environ.items()})
        for key in sorted(k for k in env if k.startswith(ENDPOINT_PREFIX) and env[k] != os.environ.get(k)):
            on_event("endpoint_url", {"message": f"{key}={os.environ[key]} is this machine's loopback, which "
                                                 f"containers do not share: they get {env[key]} (the host on the "
                                                 "Docker bridge); the service must listen there too (e.g. 0.0.0.0)"})
        on_event("credentials", {"message": f"AWS credentials for the containers: {answer['source']}",
                                 "source": answer["source"]})
        self.source, self.region, self.environment = answer["source"], answer.get("region"), env
        self.labels = {LABEL_CREDENTIALS: self.run}


@contextmanager
def container_credentials(request: CredentialsRequest | None,
                          on_event: OnEvent) -> Iterator[ContainerCredentials | None]:
    """The endpoint for one run, stopped when the block ends (Ctrl-C included); None for --no-credentials.

    Its errors (RoleNotAssumableError, AwsError, CredentialsEndpointError, DockerError) come from the first
    apply() or ready(), before any container is made.
    """
    if request is None or request.mode == CredentialsMode.NONE:
        yield None
        return
    agent = Agent.start(request)
    try:
        yield ContainerCredentials(agent, on_event)
    finally:
        agent.stop()


class Agent:
    """The agent process (smctl.credentials.agent): its own session, so a terminal's Ctrl-C reaches only smctl."""

    def __init__(self, proc: subprocess.Popen[str], run: str) -> None:
        self.proc = proc
        self.run = run
        self._detached = False

    @classmethod
    def start(cls, request: CredentialsRequest) -> Agent:
        run = uuid.uuid4().hex[:16]
        options: dict[str, Any] = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE,
                                   "text": True, "start_new_session": True, "env": _agent_environment()}
        try:
            proc = subprocess.Popen([sys.executable, "-m", "smctl.credentials.agent"], **options)
        except PermissionError:
            # The interpreter's path is not ours to run (seen under setpriv: the venv's python links into a
            # folder this user cannot enter), but the binary that runs smctl is: Linux names it /proc/self/exe.
            proc = subprocess.Popen(["/proc/self/exe", "-m", "smctl.credentials.agent"], **options)
        agent = cls(proc, run)
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({"request": request.__dict__, "run": run}) + "\n")
        proc.stdin.flush()
        return agent

    def answer(self) -> dict[str, Any]:
        """The agent's first line. Raises: the error it reports, or DockerError when it dies without one."""
        assert self.proc.stdout is not None
        line = _read_line(self.proc.stdout, READY_TIMEOUT)
        if not line:
            self.stop()
            detail = (self.proc.stderr.read() if self.proc.stderr else "").strip().splitlines()[-1:]
            raise CredentialsEndpointError(
                "smctl's AWS credentials endpoint did not start" + (f": {detail[0]}" if detail else ""),
                "rerun with -v; or run without credentials: --no-credentials")
        answer: dict[str, Any] = json.loads(line)
        if answer.get("status") == "error":
            raise _error(answer)
        return answer

    def detach(self) -> None:
        if self.proc.stdin is not None and self.proc.poll() is None:
            self.proc.stdin.write("detach\n")
            self.proc.stdin.flush()
            self._detached = True

    def stop(self) -> None:
        """Close its stdin: unless detached, it stops serving and says `stopped` (then tidies the network on its
        own, a second later); killed if it does not say so in time."""
        if self.proc.stdin is not None:
            with suppress(OSError):
                self.proc.stdin.close()
        if not self._detached and self.proc.poll() is None and self.proc.stdout is not None:
            try:
                while (line := _read_line(self.proc.stdout, STOP_TIMEOUT)) and '"stopped"' not in line:
                    pass
                stopped = bool(line)
            except (OSError, ValueError):
                stopped = False
            if not stopped and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with suppress(OSError):
                    stream.close()


def _read_line(stream: IO[str], timeout: float) -> str:
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
    return stream.readline()


def _agent_environment() -> dict[str, str]:
    """smctl's environment (the AWS chain reads it) and its import path: the agent imports what smctl imported,
    from wherever it came (a venv, pipx, a source tree), however the interpreter was reached."""
    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in (package_root, *sys.path) if p))
    return env


def _error(answer: dict[str, Any]) -> SmctlError:
    kinds: dict[str, type[SmctlError]] = {
        "RoleNotAssumableError": RoleNotAssumableError, "AwsError": AwsError,
        "CredentialsEndpointError": CredentialsEndpointError, "DockerError": DockerError}
    cls = kinds.get(answer.get("kind", ""), SmctlError)
    return cls(answer.get("message") or "the credentials endpoint failed", answer.get("hint"))


def off_loopback(url: str, host_address: str) -> str:
    """`url` with a loopback host (localhost, 127.x, ::1) replaced by `host_address`; other URLs as they are."""
    import ipaddress
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # not an address (a name), or not a URL: the SDK will say what it thinks of it
        return url
    if not loopback:
        return url
    netloc = host_address + (f":{port}" if port else "")
    if parts.username:
        netloc = f"{parts.username}{':' + parts.password if parts.password else ''}@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
