"""Ctrl-C while following a SageMaker job detaches, even when the KeyboardInterrupt is lost inside a library call
(seen on CPython 3.11.2 inside botocore's event hooks: smctl went on following for ever). Real signals, sent to
this process."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from smctl.cli.cloud_follow import follow_in_cloud, interrupts_remembered


class Warnings:
    def __init__(self) -> None:
        self.said: list[str] = []

    def warn(self, message: str) -> None:
        self.said.append(message)


def _swallowing_poll() -> None:
    """A library call that loses the KeyboardInterrupt raised while it runs."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)  # the handler raises here
    except KeyboardInterrupt:
        pass


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_lost_inside_a_poll_still_ends_the_follow_at_its_next_wait(sig):
    out = Warnings()
    polls = []

    def follow(sleep):
        while True:
            polls.append(1)
            try:
                os.kill(os.getpid(), sig)
                time.sleep(1)
            except KeyboardInterrupt:
                pass  # lost, as the library lost it
            sleep(30)  # the wait between polls: must not wait, nor poll again

    with pytest.raises(KeyboardInterrupt):
        follow_in_cloud(out, "processing job", "job-1", follow, then="stop it: smctl stop job-1")
    assert len(polls) == 1  # the wait raised at once instead of polling on
    assert out.said == ["detached: processing job job-1 goes on in SageMaker; follow it again: smctl logs job-1 "
                        "--cloud -f; stop it: smctl stop job-1"]


def test_the_handlers_before_the_follow_are_back_after_it():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), interrupts_remembered() as sleep:
        _swallowing_poll()
        sleep(30)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_without_a_signal_the_wait_returns():
    with interrupts_remembered() as sleep:
        assert sleep(0.01) is None


def test_outside_the_main_thread_it_only_waits():
    got: list[object] = []

    def run() -> None:
        with interrupts_remembered() as sleep:
            sleep(0.01)
            got.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert got == [signal.getsignal(signal.SIGINT)]
