"""deferred_interrupts(): a signal during a resource's creation is held, then delivered; never lost."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from smctl.engine.containers import deferred_interrupts
from smctl.errors import DockerError

pytestmark = pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                                reason="signal handlers run in the main thread only")


def test_a_signal_inside_the_block_is_raised_once_the_block_ends():
    reached_end = False
    with pytest.raises(KeyboardInterrupt), deferred_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        reached_end = True  # the creation is not cut short
    assert reached_end


def test_a_signal_held_while_creation_fails_still_interrupts():
    with pytest.raises(KeyboardInterrupt), deferred_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        raise DockerError("could not create container x", "check the engine")


def test_a_signal_that_was_ignored_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
