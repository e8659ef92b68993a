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
from smctl.errors import (
    AwsError,
    CredentialsConfigError,
    CredentialsEndpointError,
    DockerError,
    RoleNotAssumableError,
    SmctlError,
)
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
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "smctl.credentials.agent"], executable=_this_interpreter(),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                start_new_session=True, env=_agent_environment())
        except OSError as exc:
            raise CredentialsEndpointError(f"smctl's AWS credentials endpoint did not start ({sys.executable} -m "
                                           f"smctl.credentials.agent): {exc.strerror or exc}",
                                           "run without credentials: --no-credentials") from exc
        agent = cls(proc, run)
        assert proc.stdin is not None
        with suppress(BrokenPipeError):  # it died at once: answer() reports what it said
            proc.stdin.write(json.dumps({"request": request.__dict__, "run": run}) + "\n")
            proc.stdin.flush()
        return agent

    def answer(self) -> dict[str, Any]:
        """The agent's first line. Raises: the error it reports, or DockerError when it dies without one."""
        assert self.proc.stdout is not None
        line = _read_line(self.proc.stdout, READY_TIMEOUT)
        if not line:
            detail = self._last_words()
            self.stop()
            raise CredentialsEndpointError(
                "smctl's AWS credentials endpoint did not start" + (f": {detail}" if detail else ""),
                "rerun with -v; or run without credentials: --no-credentials")
        answer: dict[str, Any] = json.loads(line)
        if answer.get("status") == "error":
            raise _error(answer)
        return answer

    def _last_words(self) -> str:
        """The last line the agent wrote to stderr, read once it is gone (killed if it hangs without answering)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        text = self.proc.stderr.read() if self.proc.stderr is not None else ""
        lines = text.strip().splitlines()
        return lines[-1] if lines else ""

    def detach(self) -> None:
        if self.proc.stdin is not None and self.proc.poll() is None:
            self.proc.stdin.write("detach\n")
            self.proc.stdin.flush()
            self._detached = True

    def stop(self) -> None:
        """Close its stdin: unless detached, it stops serving, gives the network back if it was the last, and
        exits (nothing of the run is left when this returns); killed if it does not go in time."""
        if self.proc.stdin is not None:
            with suppress(OSError):
                self.proc.stdin.close()
        if not self._detached:
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
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


def _this_interpreter() -> str | None:
    """The binary running smctl (Linux's /proc/self/exe), for Popen's `executable`; argv[0] stays sys.executable,
    so a venv is still found. Its path may not be: a venv whose python links into a home only root can enter
    runs under `setpriv`/`sudo -u` but cannot start itself again by that path. None elsewhere (macOS)."""
    return "/proc/self/exe" if os.path.exists("/proc/self/exe") else None


def _agent_environment() -> dict[str, str]:
    """smctl's environment (the AWS chain reads it), importable from wherever smctl itself was imported."""
    env = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


def _error(answer: dict[str, Any]) -> SmctlError:
    kinds: dict[str, type[SmctlError]] = {
        "RoleNotAssumableError": RoleNotAssumableError, "AwsError": AwsError,
        "CredentialsEndpointError": CredentialsEndpointError, "DockerError": DockerError,
        "CredentialsConfigError": CredentialsConfigError}
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
