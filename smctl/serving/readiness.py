"""Is a serving container ready? /ping polling, and the contract checks SageMaker would fail it on."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from smctl.contract.serving import CONTAINER_PORT, PING_TIMEOUT
from smctl.errors import ContainerFailedError, ContainerGoneError
from smctl.events import OnEvent

if TYPE_CHECKING:
    from smctl.engine.container import Container, ContainerState

# SageMaker's health check pings about every 5 s once the container runs. Locally a quick start should be noticed
# quickly (most servers are up within a second, and a refused connection costs nothing), so the first FAST_TRIES
# tries are PING_FIRST apart, then the gap doubles up to one try every PING_EVERY: a 60 s failed start makes ~40
# pings (not ~950 whose tracebacks bury the error), and a server up at 0.4 s is seen by 0.5 s.
PING_FIRST, PING_EVERY, FAST_TRIES = 0.1, 2.0, 10
STATE_EVERY = 0.25  # how often the engine is asked whether the container still runs (a crash is noticed at once)
LISTENER_CHECK_AFTER = 1.0  # a server usually needs a moment to bind: look inside only after this
LISTENER_CHECK_EVERY = 1.0
LOG_TAIL = 20
TRACEBACK_LINES = 40  # the most of one traceback shown in an error message
BIND_HINT = "listen on 0.0.0.0:8080 (for example gunicorn --bind 0.0.0.0:8080, uvicorn --host 0.0.0.0 --port 8080)"


def ping_interval(tries: int) -> float:
    """Seconds from try number `tries` (1, 2, ...) to the next: 0.1 for the first ten, then 0.2, 0.4, 0.8, 1.6, 2."""
    return min(PING_EVERY, PING_FIRST * 2 ** max(tries - FAST_TRIES, 0))


def wait_for_ping(container: Container, name: str, *, host: str, port: int, started: float, timeout: float,
                  on_event: OnEvent, on_exit: Callable[[Container], Exception],
                  log_file: Path | None = None) -> float:
    """Poll GET /ping (2 s per try; 0.1 s apart for the first second, backing off to every 2 s) until 200; return the
    seconds since `started`.

    Raises:
        ContainerFailedError: the container exits (on_exit's error), listens only on loopback, or is not healthy
            within `timeout` (with an excerpt of its logs; the whole log is saved to `log_file`).
    """
    deadline = started + timeout
    warned: set[str] = set()
    last_answer = "no answer"
    last_state = last_listeners = started
    tries = 0
    next_ping = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= next_ping:
            status, detail = ping_once(host, port)
            tries += 1
            now = time.monotonic()
            next_ping = now + ping_interval(tries)
            if status == 200:
                return now - started
            if status is not None:
                last_answer = f"HTTP {status}" + (f" {detail!r}" if detail else "")
            elif detail == "timeout":
                last_answer = f"no answer within {PING_TIMEOUT:g} s"
                if "slow-ping" not in warned:
                    warned.add("slow-ping")
                    on_event("warning", {"message": f"/ping took more than {PING_TIMEOUT:g} s: SageMaker counts a "
                                                    "ping slower than 2 s as failed (answer /ping without waiting "
                                                    "on the model)"})
            elif now - started >= LISTENER_CHECK_AFTER and now - last_listeners >= LISTENER_CHECK_EVERY:
                last_listeners = now
                problem = judge_listeners(container_listeners(container))
                if problem is not None and problem[0] == "fatal":
                    raise ContainerFailedError(f"endpoint {name}: {problem[1]}", BIND_HINT,
                                               details={"container": container.name})
                if problem is not None and problem[1] not in warned:
                    warned.add(problem[1])
                    on_event("warning", {"message": problem[1]})
        if now - last_state >= STATE_EVERY:
            last_state = now
            if state_or_fail(container, name, "while starting").finished:
                raise on_exit(container)
        if now >= deadline:
            excerpt, saved = failure_logs(container, log_file)
            raise ContainerFailedError(
                f"endpoint {name} did not become healthy within {timeout:g} s (last /ping: {last_answer}, "
                f"{tries} tries); the container was removed" + describe_logs(excerpt, saved),
                "make GET /ping answer 200 once the model is loaded, or allow longer: --startup-timeout SECONDS "
                "(60-3600)",
                details={"last_ping": last_answer, "pings": tries, "log_excerpt": excerpt,
                         "log_file": str(saved) if saved else None},
            )
        time.sleep(max(0.0, min(next_ping, deadline, now + STATE_EVERY) - now))


def failure_logs(container: Container, log_file: Path | None) -> tuple[list[str], Path | None]:
    """(a short excerpt: the last traceback or the last 20 lines, the file now holding the whole log or None)."""
    try:
        text = container.logs().decode("utf-8", errors="replace")
    except ContainerGoneError:
        return [], None
    saved = None
    if log_file is not None and text:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            partial = log_file.with_name(log_file.name + ".partial")
            partial.write_text(text, encoding="utf-8")
            partial.replace(log_file)
            saved = log_file
        except OSError:
            saved = None  # the excerpt still says what went wrong
    return log_excerpt(text.splitlines()), saved


def log_excerpt(lines: list[str]) -> list[str]:
    """The last Python traceback in the log (where the error is), else the last LOG_TAIL lines."""
    starts = [i for i, line in enumerate(lines) if line.lstrip().startswith("Traceback (most recent call last)")]
    if starts:
        block = lines[starts[-1]:]
        if len(block) <= TRACEBACK_LINES:
            return block
        return [*block[:5], "...", *block[-(TRACEBACK_LINES - 6):]]
    return lines[-LOG_TAIL:]


def describe_logs(excerpt: list[str], saved: Path | None) -> str:
    """'; its logs end with:' + the excerpt indented, and where the whole log is (for an error message)."""
    where = f" (the whole log: {saved})" if saved else ""
    if not excerpt:
        return f"; it printed nothing{where}"
    body = "\n".join(f"  {line}" for line in excerpt)
    return f"; the end of its log{where}:\n{body}"


def ping_once(host: str, port: int, timeout: float = PING_TIMEOUT) -> tuple[int | None, str]:
    """(status, start of the body); status None with 'timeout' or the connection error's name."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/ping")
        resp = conn.getresponse()
        return resp.status, resp.read(200).decode("utf-8", errors="replace").strip()
    except TimeoutError:
        return None, "timeout"
    except (OSError, http.client.HTTPException) as exc:
        return None, type(exc).__name__
    finally:
        conn.close()


def state_or_fail(container: Container, name: str, when: str) -> ContainerState:
    """The container's state now; Raises: ContainerFailedError when it was removed behind smctl's back."""
    try:
        return container.state()
    except ContainerGoneError:
        raise removed_error(name, container.name, when) from None


def removed_error(name: str, container_name: str, when: str) -> ContainerFailedError:
    return ContainerFailedError(f"endpoint {name}: its container {container_name} was removed by something "
                                f"other than smctl {when}",
                                "check for scripts that remove containers (docker rm, docker system prune), "
                                "then start it again with smctl local-serve")


def published_address(container: Container, on_exit: Callable[[Container], Exception] | None = None
                      ) -> tuple[str, int]:
    """The host address and port the container's 8080 is published on (known only after start, for --port 0).

    A container that already exited has no published port: that is on_exit's error, not a missing port.
    """
    found = container.published_address(CONTAINER_PORT)  # refreshes the container's state
    for _ in range(10):  # an exiting container loses its ports a moment before its state says "exited"
        if found is not None or on_exit is None:
            break
        if container.state(refresh=False).finished:
            raise on_exit(container)
        time.sleep(0.05)
        found = container.published_address(CONTAINER_PORT)
    if found is None:
        raise ContainerFailedError(f"container {container.name} publishes no port for 8080",
                                   f"report this with the output of `docker inspect {container.name}`")
    return found


def container_listeners(container: Container) -> list[tuple[str, int]]:
    """The TCP sockets listening inside the container, read from its /proc/net/tcp{,6} (empty when unreadable)."""
    return parse_proc_net_tcp(container.proc_net_tcp() or "")


def parse_proc_net_tcp(text: str) -> list[tuple[str, int]]:
    """Listening (state 0A) sockets of /proc/net/tcp and tcp6 as (address, port)."""
    from smctl.serving.ports import listen_table

    return [(addr, port) for addr, port, _ in listen_table(text)]


def judge_listeners(listeners: list[tuple[str, int]], port: int = CONTAINER_PORT) -> tuple[str, str] | None:
    """('fatal'|'warn', message) when the container listens, but not where SageMaker connects (0.0.0.0:8080)."""
    if not listeners:
        return None
    wildcard = ("0.0.0.0", "::")
    if any(addr in wildcard and p == port for addr, p in listeners):
        return None
    local = [addr for addr, p in listeners if p == port]
    if local:
        return ("fatal", f"the container listens on {local[0]}:{port} only, so nothing outside it can connect; "
                         f"SageMaker connects to 0.0.0.0:{port} and would fail the same way")
    others = sorted({p for addr, p in listeners if addr in wildcard})
    if others:
        return ("warn", f"the container listens on port {', '.join(map(str, others))} but not on {port}: "
                        f"SageMaker only talks to port {port}")
    return None
