"""Following a SageMaker job or endpoint from the CLI: Ctrl-C detaches (it goes on in SageMaker) and expired
credentials stop the wait, both saying how to pick it up again."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from smctl.errors import CredentialsExpiredError

T = TypeVar("T")
Sleep = Callable[[float], None]


def follow_in_cloud(out: Any, what: str, name: str, follow: Callable[[Sleep], T], *, then: str,
                    goes_on: str = "goes on in SageMaker") -> T:
    """follow(sleep), for `what` ("training job") `name`; `then` is the other way out ("stop it: smctl stop NAME").
    follow waits between polls with `sleep`, which raises KeyboardInterrupt once Ctrl-C (or SIGTERM) has come.

    Raises: KeyboardInterrupt after warning that it was only detached; CredentialsExpiredError naming how to resume.
    """
    resume = f"follow it again: smctl logs {name} --cloud -f; {then}"
    try:
        with interrupts_remembered() as sleep:
            return follow(sleep)
    except KeyboardInterrupt:
        out.warn(f"detached: {what} {name} {goes_on}; {resume}")
        raise
    except CredentialsExpiredError as exc:
        raise exc.while_waiting(f"{what} {name}", resume) from exc


@contextmanager
def interrupts_remembered() -> Iterator[Sleep]:
    """SIGINT and SIGTERM raise KeyboardInterrupt as usual and are also remembered, and the sleep this yields raises
    it again: the exception alone can be lost mid-call (CPython 3.11.2 lost one inside botocore's event hooks, and
    smctl went on following a job for ever), the remembered signal cannot."""
    came = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        came.set()
        raise KeyboardInterrupt

    def sleep(seconds: float) -> None:
        if came.is_set() or came.wait(seconds):
            raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield sleep
        return
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield sleep
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
