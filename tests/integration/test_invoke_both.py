"""A name that is both a local endpoint and a SageMaker endpoint (moto's server) is refused, never guessed."""

from __future__ import annotations

from smctl.errors import ExitCode
from tests.helpers import create_cloud_endpoint
from tests.integration import serving_fixtures

serve_images = serving_fixtures.serve_images
endpoint_name = serving_fixtures.endpoint_name


def test_a_name_in_both_places_is_refused_with_both_choices(smctl, serve_images, endpoint_name, tmp_path, aws_env):
    name = endpoint_name("both")
    res = smctl("local-serve", "--image", serve_images["ok"], "--name", name, "--detach", "--port", "0",
                "--no-credentials", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    assert smctl("invoke", name, "--data", "hi", cwd=tmp_path).stdout == "HI"  # only local so far: used at once
    create_cloud_endpoint(name)
    res = smctl("invoke", name, "--data", "hi", cwd=tmp_path)
    assert res.exit_code == ExitCode.USAGE
    assert "both a local endpoint and a SageMaker endpoint" in res.stderr
    assert "--local" in res.stderr and "--cloud" in res.stderr
    local = smctl("invoke", name, "--local", "--data", "hi", cwd=tmp_path)
    assert (local.exit_code, local.stdout) == (0, "HI")
