"""Every SIGTERM/SIGINT ends smctl with exit 130, however early it comes (the handler goes in before typer)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smctl.errors import ExitCode

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/PID/status")


def _signal_after_import(signum: int, module: str, delay: float,
                         *flags: str) -> subprocess.CompletedProcess | None:
    """Start `python -m smctl --help` and send `signum` `delay` seconds after `module` is imported (Python's
    import-time report says when, line by line); None when smctl finished first. Python's own start-up, before
    any of smctl's code runs, cannot be covered by smctl: the trigger is always an import smctl itself makes."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "smctl", *flags, "--help"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    report = []
    for line in proc.stderr:
        report.append(line)
        if line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == module:
            break
    else:
        proc.wait()
        raise AssertionError(f"smctl never imported {module}:\n{''.join(report)}")
    time.sleep(delay)
    if proc.poll() is not None:
        proc.communicate()
        return None
    os.kill(proc.pid, signum)
    out, err = proc.communicate(timeout=30)
    err = "".join(line for line in err.splitlines(keepends=True) if not line.startswith("import time:"))
    if proc.returncode == 0 and err == "":
        return None  # it was already exiting (os._exit) when the signal came; a swallowed one prints to stderr
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize(("module", "delay"), [("smctl.errors", 0.002), ("typer", 0), ("smctl.cli.commands", 0),
                                               ("smctl.cli.output", 0)])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_smctl_is_still_importing_exits_130_with_a_message(signum, module, delay):
    done = _signal_after_import(signum, module, delay)
    if done is None:
        pytest.skip(f"smctl --help finished within {delay} s of importing {module}: nothing to interrupt")
    assert done.returncode == ExitCode.INTERRUPTED, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("Error: interrupted"), done.stderr


def test_an_early_interrupt_with_json_prints_one_json_document():
    done = _signal_after_import(signal.SIGTERM, "typer", 0, "--json")
    if done is None:
        pytest.skip("smctl --help finished before the signal: nothing to interrupt")
    assert done.returncode == ExitCode.INTERRUPTED
    doc = json.loads(done.stdout)
    assert doc["ok"] is False and doc["error"]["exit_code"] == ExitCode.INTERRUPTED
    assert doc["error"]["message"].startswith("interrupted")
