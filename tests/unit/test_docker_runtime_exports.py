"""smctl.docker_runtime loads its submodules on first use: every exported name resolves to its submodule's object."""

from __future__ import annotations

import importlib

from smctl import docker_runtime


def test_every_exported_name_is_its_submodules_object():
    assert sorted(docker_runtime.__all__) == sorted([*docker_runtime._MODULE_OF, "engine", "engine_error"])
    for name in docker_runtime.__all__:
        module = docker_runtime._MODULE_OF.get(name, "engine")
        assert getattr(docker_runtime, name) is getattr(importlib.import_module(f"smctl.docker_runtime.{module}"),
                                                        name)
    assert callable(docker_runtime.engine)  # not shadowed by the submodule of the same name
