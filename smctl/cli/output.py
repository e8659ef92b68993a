"""The only place smctl prints: data to stdout, everything else to stderr, one JSON document with --json."""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from smctl.errors import ExitCode, SmctlError
from smctl.events import OnEvent

if TYPE_CHECKING:
    from rich.console import Console


class Output:
    """Renders results, progress, warnings and errors for one smctl invocation."""

    def __init__(self, *, json_mode: bool = False, verbose: bool = False, color: bool = True) -> None:
        self.json_mode = json_mode
        self._tail = b""  # the last byte data_bytes wrote
        self.verbose = verbose
        self.no_color = (not color) or bool(os.environ.get("NO_COLOR"))
        self.command: str | None = None
        self._result: dict[str, Any] | None = None
        self._warnings: list[str] = []

    # rich is imported when something is first rendered: `--help`, `--version` and --json runs never need it.
    # emoji=False: a container's `:fire:` is printed as it is (and rich's 3,600-entry emoji table stays unloaded).
    @cached_property
    def stdout(self) -> Console:
        from rich.console import Console

        return Console(file=sys.stdout, no_color=self.no_color, highlight=False, soft_wrap=True, emoji=False)

    @cached_property
    def stderr(self) -> Console:
        from rich.console import Console

        return Console(file=sys.stderr, no_color=self.no_color, highlight=False, soft_wrap=True, emoji=False)

    # ---- data (stdout) -------------------------------------------------------------------------
    def result(self, payload: dict[str, Any], render: Callable[[Console], None] | None = None) -> None:
        """Record the command's result: rendered for humans now, or emitted as JSON by finish()."""
        self._result = payload
        if not self.json_mode and render is not None:
            render(self.stdout)

    def data_bytes(self, data: bytes, *, last: bool = True) -> None:
        """Raw bytes to stdout as they are (a response body, or one part of a streamed one: last=False); never with
        --json, whose document carries them."""
        if self.json_mode:
            return
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is not None:
            sys.stdout.flush()
            buffer.write(data)
            buffer.flush()
        else:  # stdout replaced by a text stream (tests): the closest faithful text
            sys.stdout.write(data.decode("utf-8", errors="surrogateescape"))
            sys.stdout.flush()
        self._tail = data[-1:] or self._tail
        if last and self._tail not in (b"", b"\n") and sys.stdout.isatty():
            sys.stdout.write("\n")  # keep the shell prompt off the body's last line (terminals only)
            sys.stdout.flush()

    # ---- everything else (stderr) --------------------------------------------------------------
    def info(self, message: str) -> None:
        if not self.json_mode:
            self.stderr.print(message, markup=False)

    def log(self, line: str) -> None:
        """A line of a container's output: always to stderr, also with --json (stdout stays one document)."""
        self.stderr.print(line, markup=False, highlight=False)

    def warn(self, message: str) -> None:
        self._warnings.append(message)
        if not self.json_mode:
            self.stderr.print(f"[yellow]Warning:[/yellow] {_escape(message)}")

    def debug(self, message: str) -> None:
        if self.verbose:
            self.stderr.print(f"[dim]{_escape(message)}[/dim]")

    @property
    def interactive(self) -> bool:
        """True when progress bars make sense: stderr is a terminal and no JSON is wanted."""
        return not self.json_mode and self.stderr.is_terminal

    @contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        """Yield an `advance(n)` callback; a rich bar on a terminal, silent otherwise."""
        if not self.interactive:
            yield lambda n: None
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns = [BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
        with Progress(*Progress.get_default_columns()[:1], *columns, console=self.stderr,
                      transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)

    # ---- the end of the run ----------------------------------------------------------------------
    def error(self, err: SmctlError) -> None:
        if self.json_mode:
            self._emit_json(ok=False, error={
                "type": type(err).__name__,
                "message": err.message,
                "hint": err.hint,
                "exit_code": int(err.exit_code),
                **({"details": err.details} if err.details else {}),
            })
            return
        self.stderr.print(f"[bold red]Error:[/bold red] {_escape(err.message)}")
        if err.hint:
            self.stderr.print(f"[bold]Hint:[/bold] {_escape(err.hint)}")

    def internal_error(self, exc: BaseException) -> None:
        err = SmctlError(
            f"internal error: {type(exc).__name__}: {exc}",
            "rerun with -v for the traceback, and report it with the command you ran",
        )
        err.exit_code = ExitCode.INTERNAL
        self.traceback(exc)
        self.error(err)

    def traceback(self, exc: BaseException) -> None:
        """Print a plain traceback (never local variables: they may hold credentials) when -v is on."""
        if self.verbose:
            sys.stderr.write("".join(traceback.format_exception(exc)))

    def finish(self) -> None:
        """With --json, print the one JSON document of a successful run."""
        if self.json_mode:
            self._emit_json(ok=True, result=self._result if self._result is not None else {})

    def _emit_json(self, *, ok: bool, **fields: Any) -> None:
        doc = {"ok": ok, "command": self.command, **fields, "warnings": self._warnings}
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        sys.stdout.flush()




def event_printer(out: Output, **handlers: Callable[[dict[str, Any]], None]) -> OnEvent:
    """An on_event for a core module: the command's own `handlers` by kind first, then container log lines,
    warnings, and any other event's message. Thread-safe: hosts, log pumps and workers report at once."""
    lock = threading.Lock()

    def on_event(kind: str, data: dict[str, Any]) -> None:
        with lock:
            handler = handlers.get(kind)
            if handler is not None:
                handler(data)
            elif kind == "log":
                out.log(data["line"])
            elif kind == "warning":
                out.warn(data["message"])
            elif "message" in data:
                out.info(data["message"])

    return on_event


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
