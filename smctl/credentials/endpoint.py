"""A run's credentials endpoint, from the run's side: start the agent, hand its variables to the containers, stop it.

    with container_credentials(request, on_event) as creds:
        spec = creds.apply(spec) if creds else spec     # before the container is created
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import IO, Any

from smctl.contract.credentials import CredentialsMode, CredentialsRequest, container_environment
from smctl.engine.containers import ContainerSpec
from smctl.engine.labels import LABEL_CREDENTIALS
from smctl.errors import AwsError, CredentialsEndpointError, DockerError, RoleNotAssumableError, SmctlError
from smctl.events import OnEvent

READY_TIMEOUT = 120.0  # STS over a slow network, an SSO refresh: the agent answers or says why
STOP_TIMEOUT = 10.0
NO_CREDENTIALS = ("no AWS credentials found: containers run without any, as before (configure AWS to give them "
                  "yours, --role ARN for a role's, --no-credentials to say none on purpose)")


@dataclass
class ContainerCredentials:
    """What every container of the run carries: the endpoint's variables (no secret) and the run's label."""

    run: str
    source: str
    region: str | None
    environment: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    _agent: Any = None

    def apply(self, spec: ContainerSpec) -> ContainerSpec:
        """`spec` with the endpoint's variables (the user's own --env win) and the run's label."""
        return replace(spec, environment={**self.environment, **spec.environment},
                       labels={**spec.labels, **self.labels})

    def keep_after_exit(self) -> None:
        """The run's containers outlive this process (a detached endpoint): the agent serves until they are gone."""
        if self._agent is not None:
            self._agent.detach()


@contextmanager
def container_credentials(request: CredentialsRequest | None,
                          on_event: OnEvent) -> Iterator[ContainerCredentials | None]:
    """The endpoint for one run, stopped when the block ends (Ctrl-C included); None when the run gets none.

    Raises: RoleNotAssumableError, AwsError, CredentialsEndpointError, DockerError (before any container starts).
    """
    if request is None or request.mode == CredentialsMode.NONE:
        yield None
        return
    agent = Agent.start(request)
    try:
        answer = agent.answer()
        if answer["status"] == "none":
            on_event("credentials", {"message": NO_CREDENTIALS, "source": None})
            yield None
            return
        env = container_environment(answer["port"], answer["path"], answer["token"], answer.get("region"),
                                    os.environ)
        on_event("credentials", {"message": f"AWS credentials for the containers: {answer['source']}",
                                 "source": answer["source"]})
        yield ContainerCredentials(run=agent.run, source=answer["source"], region=answer.get("region"),
                                   environment=env, labels={LABEL_CREDENTIALS: agent.run}, _agent=agent)
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
        """Close its stdin (it then stops, unless detached); kill it if it does not go in time."""
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with suppress(OSError):
                    stream.close()
        if self._detached:
            return
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


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
        "CredentialsEndpointError": CredentialsEndpointError, "DockerError": DockerError}
    cls = kinds.get(answer.get("kind", ""), SmctlError)
    return cls(answer.get("message") or "the credentials endpoint failed", answer.get("hint"))
