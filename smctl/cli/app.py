"""Root command: global options, sub-command registration and the one error handler."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from smctl import __version__
from smctl.cli import coercion
from smctl.cli.commands import COMMANDS
from smctl.cli.output import Output
from smctl.errors import ExitCode, SmctlError, UsageError

GLOBAL_FLAGS = ("--json", "-v", "--verbose", "--no-color")


class _Commands(MutableMapping[str, Any]):
    """The root's sub-commands by name: every one in COMMANDS is listed, and built from its module on first use."""

    def __init__(self, built: Mapping[str, Any]) -> None:
        self.built = dict(built)

    def __getitem__(self, name: str) -> Any:
        if name not in self.built:
            if name not in COMMANDS:
                raise KeyError(name)
            self.built[name] = _load(name)
        return self.built[name]

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or name in self.built

    def __iter__(self) -> Iterator[str]:
        return iter([*COMMANDS, *(name for name in self.built if name not in COMMANDS)])

    def __len__(self) -> int:
        return len(COMMANDS.keys() | self.built.keys())

    def __setitem__(self, name: str, command: Any) -> None:
        self.built[name] = command

    def __delitem__(self, name: str) -> None:
        del self.built[name]


class _LazyGroup(typer.core.TyperGroup):
    """The root group: a command's module is imported only when that command runs (or completion or a test asks
    for it); the root's help lists them all from COMMANDS."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = _Commands(self.commands)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # typer's own walks .items(), which would build every command

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        built = self.commands.built if isinstance(self.commands, _Commands) else dict(self.commands)
        shown = [(name, built.get(name) or typer.core.TyperCommand(name, help=COMMANDS[name].summary))
                 for name in self.list_commands(ctx)]
        shown = [(name, command) for name, command in shown if not command.hidden]
        if shown:  # as typer's own format_commands, with the same width rule
            limit = formatter.width - 6 - max(len(name) for name, _ in shown)
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in shown])


def _load(name: str) -> Any:
    """The click command `name`, built from its module's register() alone."""
    module = importlib.import_module(COMMANDS[name].module)
    single = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False, add_completion=False)
    single.callback()(_no_options)  # a group, so that the command keeps its name
    module.register(single)
    single.registered_commands = [c for c in single.registered_commands if c.name == name]
    single.registered_groups = [g for g in single.registered_groups if g.name == name]
    return typer.main.get_command(single).commands[name]  # type: ignore[attr-defined]


def _no_options() -> None:
    pass


app = typer.Typer(
    name="smctl",
    help="Run your SageMaker container locally the way SageMaker does.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=_LazyGroup,
)


@dataclass
class AppState:
    out: Output
    config: Path | None = None
    extra: dict = field(default_factory=dict)


def _version(ctx: typer.Context, value: bool) -> None:
    if value:
        state = ctx.obj
        if isinstance(state, AppState) and state.out.json_mode:
            state.out.result({"version": __version__})  # the one JSON document run() prints at the end
        else:
            sys.stdout.write(f"smctl {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="More detail; tracebacks on errors.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours (NO_COLOR is honoured too).")] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Path to smctl.toml (default: found in this folder or a parent)."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Run your SageMaker container locally the way SageMaker does."""
    state: AppState = ctx.ensure_object(AppState) if ctx.obj is None else ctx.obj
    state.out.json_mode = state.out.json_mode or json_
    state.out.verbose = state.out.verbose or verbose
    state.config = config
    if ctx.invoked_subcommand:
        state.out.command = ctx.invoked_subcommand




coercion.install()
coercion.install_metavars()


def _hoist_global_flags(argv: list[str], command: Any) -> tuple[list[str], list[str]]:
    """Let --json, -v and --no-color stand anywhere before `--` (users type `smctl doctor --json`).

    Returns (hoisted flags, argv with them moved to the front). A token that is an option's value
    (`--args -v`) stays where it is: `command`'s options say which of them take one.
    """
    flags: list[str] = []
    rest: list[str] = []
    takes_value = _value_options(command)
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            rest += argv[i:]
            break
        if token in GLOBAL_FLAGS:
            flags.append(token)
        else:
            rest.append(token)
            if token in takes_value:
                rest += argv[i + 1:i + 1 + takes_value[token]]
                i += takes_value[token]
            elif not token.startswith("-") and token in getattr(command, "commands", {}):
                command = command.commands[token]
                takes_value = _value_options(command)
        i += 1
    return flags, flags + rest


def _value_options(command: Any) -> dict[str, int]:
    """Each option name of `command` that takes values, with how many tokens it takes."""
    found: dict[str, int] = {}
    for param in getattr(command, "params", ()):
        if param.param_type_name == "option" and not param.is_flag and not param.count:
            for name in (*param.opts, *param.secondary_opts):
                found[name] = param.nargs
    return found


def run(argv: list[str]) -> int:
    """Run smctl with `argv` and return the exit code; every failure is rendered here, once."""
    try:
        command = _command_for(argv)
        flags, argv = _hoist_global_flags(argv, command)
    except KeyboardInterrupt:  # a signal while the commands are built: nothing has started yet
        flags = [token for token in argv if token in GLOBAL_FLAGS]
        return _interrupted(_output_for(flags))
    out = _output_for(flags)
    state = AppState(out=out)
    try:
        rv = command.main(args=argv, prog_name="smctl", standalone_mode=False, obj=state)
        code = rv if isinstance(rv, int) else 0
        if code == ExitCode.INTERRUPTED:
            return _interrupted(out)  # typer turns Ctrl-C into a return value of 130
        if code == 0:
            out.finish()
        return code
    except SmctlError as err:
        out.traceback(err)
        out.error(err)
        return int(err.exit_code)
    except typer.TyperException as err:  # click's usage errors: bad option, missing argument
        if type(err).__name__ == "NoArgsIsHelpError":  # `smctl package` alone: show its help
            sys.stderr.write(err.format_message() + "\n")
            return int(ExitCode.USAGE)
        out.error(UsageError(err.format_message(), _usage_hint(argv)))
        return int(ExitCode.USAGE)
    except typer.Exit as done:
        return done.exit_code
    except (KeyboardInterrupt, typer.Abort):
        return _interrupted(out)
    except BrokenPipeError:
        return int(ExitCode.ERROR)
    except Exception as exc:  # noqa: BLE001 - the one place that turns a bug into exit 70
        out.internal_error(exc)
        return int(ExitCode.INTERNAL)


def _output_for(flags: list[str]) -> Output:
    return Output(json_mode="--json" in flags, verbose=bool({"-v", "--verbose"} & set(flags)),
                  color="--no-color" not in flags)


def _command_for(argv: list[str]) -> Any:
    """The command tree: the root's own options, and the sub-commands built only when looked up."""
    return typer.main.get_command(app)


def _interrupted(out: Output) -> int:
    interrupted = SmctlError("interrupted; everything smctl started was stopped and removed")
    interrupted.exit_code = ExitCode.INTERRUPTED
    out.error(interrupted)
    return int(ExitCode.INTERRUPTED)


def _usage_hint(argv: list[str]) -> str:
    """`smctl CMD [SUB] --help` for the command the user typed, when it exists; else `smctl --help`."""
    command = typer.main.get_command(app)
    words: list[str] = []
    for token in argv:
        if token.startswith("-"):
            continue
        group = command
        sub = getattr(group, "commands", {}).get(token)
        if sub is None:
            break
        words.append(token)
        command = sub
    return f"run `smctl {' '.join([*words, '--help'])}`"


def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """The CLI's body; `smctl` and `python -m smctl` enter through smctl/__main__.py, which catches SIGTERM from its
    first line (before typer is imported) and then calls this."""
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    code = run(sys.argv[1:] if argv is None else argv)
    with contextlib.suppress(OSError):  # stdout may be a closed pipe (`smctl ... | head`)
        sys.stdout.flush()
        sys.stderr.flush()
    if _non_daemon_threads_alive():
        sys.exit(code)  # the interpreter joins them at exit; os._exit would kill them mid-write
    # Everything smctl started is stopped and removed by now (finally blocks inside run()), so skip the
    # interpreter's teardown: garbage-collecting typer, rich and docker-py costs about 0.1 s on every command.
    os._exit(code)


def _non_daemon_threads_alive() -> bool:
    main_thread = threading.main_thread()
    return any(t is not main_thread and not t.daemon and t.is_alive() for t in threading.enumerate())
