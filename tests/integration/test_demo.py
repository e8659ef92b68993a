"""`make demo`'s walk (.ci/demo.sh) end to end: every step of the README's flow, and nothing left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_demo_walks_the_whole_flow_and_cleans_up(docker_client, tmp_path):
    smctl = Path(sys.executable).parent / "smctl"
    env = {"TMPDIR": str(tmp_path), "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(["bash", str(ROOT / ".ci" / "demo.sh"), str(smctl)], capture_output=True, text=True,
                          timeout=900, check=False, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    for step in ("smctl init", "smctl build", "smctl local-train", "smctl package inspect", "smctl local-serve",
                 "smctl invoke", "smctl local-transform", "smctl doctor", "cleanup"):
        assert f"==> {step}" in out
    assert "5.1,3.5,1.4,0.2 -> setosa" in out
    assert ".out:" in out
    assert not list(tmp_path.glob("smctl-demo.*")), "the demo folder was left behind"
    leftovers = [c.name for c in docker_client.containers.list(all=True)
                 if any(v.startswith("demo-") for v in c.labels.values()) or c.name.startswith("demo-")]
    assert not leftovers
    assert not docker_client.images.list(filters={"reference": "demo-*"})
