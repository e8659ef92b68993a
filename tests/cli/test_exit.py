"""main() skips the interpreter's teardown only when no thread the interpreter would join is still running."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import sys, threading
from smctl.cli.app import main

def late_writer():
    threading.main_thread().join()  # returns only once the interpreter shuts down normally
    sys.stdout.write("thread finished\\n")
    sys.stdout.flush()

threading.Thread(target=late_writer, daemon={daemon}).start()
main(["--version"])
"""


def _run(daemon: bool) -> subprocess.CompletedProcess[str]:
    program = PROGRAM.format(daemon=daemon)
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)


def test_main_waits_for_a_running_non_daemon_thread():
    done = _run(daemon=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["smctl 0.1.0", "thread finished"]


def test_main_does_not_wait_for_daemon_threads():
    done = _run(daemon=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["smctl 0.1.0"]
