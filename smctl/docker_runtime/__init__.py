"""The only docker-py user besides containers.py: engine connection, build, tag, push, image lookup.

Import from here; the submodules import docker-py inside their functions, so importing this package is cheap.
"""

from __future__ import annotations

from smctl.docker_runtime.build import (
    BuildFailedError,
    BuildOptions,
    BuildProgress,
    BuiltImage,
    add_registry_auths,
    run_build,
)
from smctl.docker_runtime.engine import engine, engine_error
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

__all__ = [
    "BuildFailedError", "BuildOptions", "BuildProgress", "BuiltImage", "ImageInfo", "ImageNotFoundError",
    "PushFailedError", "PushProgress", "PushedImage", "add_registry_auths", "docker_config_file", "engine",
    "engine_error", "has_login", "inspect_image", "push_reference", "run_build", "save_login", "split_reference",
    "tag_image", "untag_image",
]
