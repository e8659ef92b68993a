"""Plain option values (text, decimal numbers, lists of text) converted without typer's pydantic adapters.

Recent typer versions convert every option value through a pydantic TypeAdapter, and importing pydantic costs
about 60 ms on every command that takes an option. The values smctl's options take are almost always plain: this
gives the same result for those and hands anything else (a Path, an odd number, a bad value and its error message)
to typer's own conversion, built only then. The hook is a private part of typer, so install() touches only the
typer releases it was checked against (VERIFIED); with any other, typer converts everything itself as usual.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, get_args, get_origin

INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")  # what int() and pydantic read alike
DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
NOT_PLAIN = object()
VERIFIED = frozenset({(0, 29)})  # typer (major, minor) releases whose build_runtime_param/RuntimeParam this fits


def plain_value(value: Any, annotation: Any) -> Any:
    """`value` converted to `annotation` as typer would, or NOT_PLAIN when typer's own conversion must decide."""
    kind = type(value)
    if annotation is str and kind is str:
        return value
    if annotation is bool and kind is bool:
        return value
    if annotation is int:
        if kind is int:
            return value
        if kind is str and INTEGER.fullmatch(value):
            return int(value)
    if annotation is float:
        if kind is float:
            return value
        if kind is int or (kind is str and DECIMAL.fullmatch(value)):
            return float(value)
    if (get_origin(annotation) is list and get_args(annotation) == (str,) and kind in (list, tuple)
            and all(type(item) is str for item in value)):
        return list(value)
    return NOT_PLAIN


def typer_release() -> tuple[int, ...]:
    import typer

    try:
        return tuple(int(part) for part in str(getattr(typer, "__version__", "")).split(".")[:2])
    except ValueError:
        return ()


def install() -> None:
    """Make typer try plain_value() before it builds a pydantic adapter for a parameter (verified typers only)."""
    if typer_release() not in VERIFIED:
        return
    try:
        import typer.core
        from typer._coercion import RuntimeParam, TypeDescriptor
    except ImportError:
        return
    found = getattr(typer.core, "build_runtime_param", None)
    if found is None or getattr(found, "smctl_plain", False):
        return
    build: Callable[[TypeDescriptor], Any] = found

    class PlainFirst(RuntimeParam):
        """typer's RuntimeParam (its None and multi-value rules kept) that converts plain values itself."""

        descriptor: TypeDescriptor
        full: Any  # typer's own RuntimeParam, built on the first value that is not plain

        def __init__(self, descriptor: TypeDescriptor) -> None:
            super().__init__(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)
            object.__setattr__(self, "descriptor", descriptor)
            object.__setattr__(self, "full", None)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            converted = plain_value(value, self.annotation)
            if converted is not NOT_PLAIN:
                return converted
            if self.full is None:
                object.__setattr__(self, "full", build(self.descriptor))
            return self.full._coerce_value(value, param=param, ctx=ctx)

    def plain_first(descriptor: TypeDescriptor) -> Any:
        info = descriptor.parameter_info
        numeric_rules = info.min is not None or info.max is not None or info.clamp
        if descriptor.file_annotation is not None or info.parser is not None or numeric_rules:
            return build(descriptor)
        try:
            return PlainFirst(descriptor)
        except Exception:  # noqa: BLE001 - a typer patch release that changed RuntimeParam: its own conversion
            return build(descriptor)

    plain_first.smctl_plain = True  # type: ignore[attr-defined]
    typer.core.build_runtime_param = plain_first


def default_metavar(opts: Any) -> str:
    """`--output-dir` -> OUTPUT_DIR: the name help shows for an option's value when the option sets no metavar."""
    names = [o for o in opts if o.startswith("--")] or list(opts)
    return names[0].lstrip("-").replace("-", "_").upper() if names else "VALUE"


def install_metavars() -> None:
    """Help shows `--image IMAGE`, not typer's Python type (`--image <str>`, `--hp <list[str]>`); an explicit
    metavar and a fixed set of choices (`[json|str]`) are kept. Arguments show only their name (`DIR`)."""
    import typer.core

    option = getattr(typer.core, "TyperOption", None)
    argument = getattr(typer.core, "TyperArgument", None)
    if option is None or argument is None or getattr(option, "smctl_metavars", False):
        return
    typer_option_display = option.display_type_rich

    def option_display(self: Any, ctx: Any) -> str | None:
        if self.metavar is not None:
            return str(self.metavar)
        descriptor = getattr(self, "type_descriptor", None)
        if descriptor is not None and descriptor.is_choice and not descriptor.is_list:
            shown = typer_option_display(self, ctx)
            return f"[{shown[1:-1]}]" if shown and shown.startswith("<") and shown.endswith(">") else shown
        return default_metavar(self.opts)

    def argument_display(self: Any, ctx: Any) -> str | None:
        return None  # the argument's name (its metavar, or typer's upper-cased parameter name) is shown already

    option.display_type_rich = option_display
    argument.display_type_rich = argument_display
    option.smctl_metavars = True
