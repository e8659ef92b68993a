"""engine/ is the only docker-py user: no other module imports docker or names docker-py's errors and types."""

import re
from pathlib import Path

import smctl

ROOT = Path(smctl.__file__).parent
DOCKER_PY = re.compile(r"^\s*(?:import docker\b|from docker\b)|\bdocker\.(?:errors|types|utils|tls|auth)\b", re.M)


def test_only_engine_imports_docker_py():
    users = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                   if p.relative_to(ROOT).parts[0] != "engine" and DOCKER_PY.search(p.read_text()))
    assert users == []
