"""`smctl package`: pack, inspect and safely unpack model.tar.gz."""

from __future__ import annotations

import typer

app = typer.Typer(help="Pack, inspect and safely unpack model.tar.gz.", no_args_is_help=True)
