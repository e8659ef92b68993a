"""Signals held off while smctl creates a resource (so its cleanup owns it) or while cleanup runs."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold a SIGINT/SIGTERM that arrives inside the block and deliver it to the handler it was meant for when the
    block ends, so a resource the block creates is always handed to its cleanup first (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: object) -> None:
        caught.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    previous_term = signal.signal(signal.SIGTERM, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
        if caught:  # also when the block failed: the user asked to stop, so the interrupt wins
            signal.raise_signal(caught[0])  # KeyboardInterrupt under smctl's handlers; ignored if it was ignored


@contextmanager
def no_interrupts() -> Iterator[None]:
    """Hold off a second Ctrl-C while cleanup runs, so cleanup cannot be cut short (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_term = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
