"""`python -m smctl` and the `smctl` script: the interrupt handler goes in before anything slow is imported.

Importing typer, rich and the commands takes about 0.2 s; a SIGTERM in that window used to kill smctl with the
default action (exit 143, no message). Only the standard library is imported here, so from the first line of
smctl's own code every SIGINT and SIGTERM ends in exit 130 (one that comes during the imports, once they are done).
"""

import signal

_caught: list[int] = []


def _remember(signum: int, frame: object) -> None:
    # Only remembered while smctl imports, and acted on once the imports are done (they take about 0.2 s): a
    # KeyboardInterrupt raised in the middle of them is printed with a traceback when it lands in importlib's own
    # weakref callbacks ("Exception ignored in: ...") and comes out as RuntimeError when it lands while a dataclass
    # is created (Python 3.11: "Error calling __set_name__").
    _caught.append(signum)


def _interrupt(signum: int, frame: object) -> None:
    _caught.append(signum)
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, _remember)  # first, before any other import (this module is only ever the entry point)
_OWN_SIGINT = signal.getsignal(signal.SIGINT) is signal.default_int_handler  # not when started with SIGINT ignored
if _OWN_SIGINT:
    signal.signal(signal.SIGINT, _remember)

import os  # noqa: E402
import sys  # noqa: E402
from typing import NoReturn  # noqa: E402


def main() -> None:
    try:
        from smctl.cli.app import main as run_cli
    except KeyboardInterrupt:  # nothing has been started yet: nothing to clean up
        _exit_interrupted("interrupted before smctl started; nothing was started")
    try:
        signal.signal(signal.SIGTERM, _interrupt)  # from here on a signal raises (run() stops what it started)
        if _OWN_SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own Ctrl-C handling
        if _caught:  # a signal came while smctl imported (checked after the handlers changed: none slips between)
            _exit_interrupted("interrupted before smctl started; nothing was started")
        run_cli()
    except KeyboardInterrupt:  # a signal in the instant between the import and run()'s own handler
        _exit_interrupted("interrupted; nothing was started")


def _exit_interrupted(message: str) -> NoReturn:
    from smctl.errors import ExitCode

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    args = sys.argv[1:]
    if "--json" in args[:args.index("--")] if "--" in args else "--json" in args:  # one JSON document, as always
        import json

        error = {"type": "SmctlError", "message": message, "hint": None, "exit_code": int(ExitCode.INTERRUPTED)}
        sys.stdout.write(json.dumps({"ok": False, "command": None, "error": error, "warnings": []}, indent=2) + "\n")
        sys.stdout.flush()
    else:
        sys.stderr.write(f"Error: {message}\n")
        sys.stderr.flush()
    os._exit(int(ExitCode.INTERRUPTED))


if __name__ == "__main__":
    main()
