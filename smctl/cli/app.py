"""Root command: global options, sub-command registration and the one error handler."""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from smctl import __version__
from smctl.cli import coercion
from smctl.cli.output import Output
from smctl.errors import ExitCode, SmctlError, UsageError

GLOBAL_FLAGS = ("--json", "-v", "--verbose", "--no-color")

app = typer.Typer(
    name="smctl",
    help="Run your SageMaker container locally the way SageMaker does.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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


def _register() -> None:
    from smctl.cli import deps, init, package

    app.add_typer(package.app, name="package")
    app.command("init", help=init.HELP)(init.init_cmd)
    app.command("deps", help=deps.HELP)(deps.deps_cmd)

    from smctl.cli import train

    app.command("local-train", help=train.HELP)(train.local_train)

    from smctl.cli import process

    app.command("local-process", help=process.HELP)(process.local_process)

    from smctl.cli import cloud_train

    app.command("train", help=cloud_train.HELP)(cloud_train.train)

    from smctl.cli import cloud_process

    app.command("process", help=cloud_process.HELP)(cloud_process.process)

    from smctl.cli import deploy

    app.command("deploy", help=deploy.HELP)(deploy.deploy)
    app.command("undeploy", help=deploy.UNDEPLOY_HELP)(deploy.undeploy)

    from smctl.cli import transform

    app.command("local-transform", help=transform.HELP)(transform.local_transform)

    from smctl.cli import cloud_transform

    app.command("transform", help=cloud_transform.HELP)(cloud_transform.transform)

    from smctl.cli import jobs

    jobs.register(app)

    from smctl.cli import build, push

    app.command("build", help=build.HELP)(build.build)
    app.command("push", help=push.HELP)(push.push)

    from smctl.cli import invoke, runtime, serve

    serve.register(app)
    invoke.register(app)
    runtime.register(app)

    from smctl.cli import check, doctor

    app.command("doctor")(doctor.doctor)
    app.command("check")(check.check)


_register()
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
    """The command tree to run `argv` with: the root and only the sub-command it names (building every command's
    options costs about 25 ms on each run), or the whole tree for help, completion and anything unusual."""
    name = _invoked_name(argv)
    if name is None and "--version" in argv and "_SMCTL_COMPLETE" not in os.environ:
        bare = copy.copy(app)  # `--version` is the root's eager option: no command needs to be built
        bare.registered_commands, bare.registered_groups = [], []
        return typer.main.get_command(bare)
    if name is not None and "_SMCTL_COMPLETE" not in os.environ:
        single = copy.copy(app)
        single.registered_commands = [c for c in app.registered_commands if c.name == name]
        single.registered_groups = [g for g in app.registered_groups if g.name == name]
        if single.registered_commands or single.registered_groups:
            return typer.main.get_command(single)
    return typer.main.get_command(app)


def _invoked_name(argv: list[str]) -> str | None:
    """The sub-command's name when only global flags and --config come before it; else None."""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--config":
            i += 2
        elif token in GLOBAL_FLAGS or token.startswith("--config="):
            i += 1
        else:
            return None if token.startswith("-") else token
    return None


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
