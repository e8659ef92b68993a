"""The only docker-py user besides containers.py: engine connection, build, tag, push, image lookup.

Import from here. Each name is loaded from its submodule on first use (PEP 562), so a command that only needs the
engine connection does not pay for the build and push modules; the submodules import docker-py inside their
functions.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Eager, and first: importing the submodule `engine` sets this package's attribute `engine` to the module, so the
# function must be bound here, after it, rather than looked up lazily.
from smctl.docker_runtime.engine import engine, engine_error

if TYPE_CHECKING:
    from smctl.docker_runtime.build import (
        BuildFailedError,
        BuildOptions,
        BuildProgress,
        BuiltImage,
        add_registry_auths,
        run_build,
    )
    from smctl.docker_runtime.images import (
        ImageInfo,
        ImageNotFoundError,
        inspect_image,
        split_reference,
        tag_image,
        untag_image,
    )
    from smctl.docker_runtime.login import docker_config_file, has_login, save_login
    from smctl.docker_runtime.push import PushedImage, PushFailedError, PushProgress, push_reference

_WHERE = {
    "build": ("BuildFailedError", "BuildOptions", "BuildProgress", "BuiltImage", "add_registry_auths", "run_build"),
    "images": ("ImageInfo", "ImageNotFoundError", "inspect_image", "split_reference", "tag_image", "untag_image"),
    "login": ("docker_config_file", "has_login", "save_login"),
    "push": ("PushFailedError", "PushProgress", "PushedImage", "push_reference"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "BuildFailedError", "BuildOptions", "BuildProgress", "BuiltImage", "ImageInfo", "ImageNotFoundError",
    "PushFailedError", "PushProgress", "PushedImage", "add_registry_auths", "docker_config_file", "engine",
    "engine_error", "has_login", "inspect_image", "push_reference", "run_build", "save_login", "split_reference",
    "tag_image", "untag_image",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
