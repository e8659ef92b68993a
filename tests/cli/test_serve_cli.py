"""`smctl local-serve` and `smctl runtime` refuse bad addresses and numbers before anything reaches the engine."""

from __future__ import annotations

import pytest

from smctl.contract.serving import is_every_interface, parse_host


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1", "127.0.0.1"), ("localhost", "127.0.0.1"), ("LocalHost", "127.0.0.1"), ("0.0.0.0", "0.0.0.0"),
    ("::1", "::1"), ("[::1]", "::1"), ("::", "::"), ("192.168.1.20", "192.168.1.20"),
    ("127.0.0.l", None), ("not-an-ip", None), ("", None), ("example.com", None), ("256.0.0.1", None),
])
def test_only_ip_addresses_and_localhost_are_hosts(text, expected):
    assert parse_host(text) == expected


def test_wildcards_are_every_interface():
    assert is_every_interface("0.0.0.0") and is_every_interface("::")
    assert not is_every_interface("127.0.0.1") and not is_every_interface("::1")


@pytest.mark.parametrize("host", ["127.0.0.l", "not-an-ip"])
def test_local_serve_refuses_a_host_that_is_not_an_ip_address(smctl, tmp_path, host):
    res = smctl("local-serve", "--image", "smctl-test/none:1", "--name", "h", "--host", host, cwd=tmp_path)
    assert res.exit_code == 2
    assert res.stderr.startswith(f"Error: --host must be an IP address (127.0.0.1, ::1, 0.0.0.0, ::) or localhost, "
                                 f"got '{host}'")
    assert "Hint: the engine publishes an address it cannot parse on every interface" in res.stderr


def test_smctl_toml_serve_host_is_checked_by_the_schema(smctl, tmp_path):
    (tmp_path / "smctl.toml").write_text('[project]\nname = "p"\n[serve]\nhost = "127.0.0.l"\n')
    res = smctl("local-serve", cwd=tmp_path)
    assert res.exit_code == 2
    assert "serve.host must be an IP address" in res.stderr


@pytest.mark.parametrize("value", ["1", "59", "3601"])
def test_startup_timeout_follows_sagemakers_60_to_3600(smctl, tmp_path, value):
    res = smctl("local-serve", "--image", "smctl-test/none:1", "--startup-timeout", value, cwd=tmp_path)
    assert res.exit_code == 2
    assert f"--startup-timeout must be an integer from 60 to 3600, got {value}" in res.stderr
    assert "Hint: SageMaker's ContainerStartupHealthCheckTimeoutInSeconds is 60-3600" in res.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--port", "-1"), "--port -1 is out of range 0-65535"),
    (("--runtime-port", "70000"), "--runtime-port 70000 is out of range 0-65535"),
])
def test_local_serve_ports_out_of_range_are_usage_errors(smctl, tmp_path, args, message):
    res = smctl("local-serve", "--image", "smctl-test/none:1", *args, cwd=tmp_path)
    assert res.exit_code == 2
    assert res.stderr.startswith(f"Error: {message}")


@pytest.mark.parametrize(("args", "message"), [
    (("--host", "127.0.0.l"), "--host '127.0.0.l' is not an IP address"),
    (("--port", "-5"), "--port -5 is out of range 0-65535"),
])
def test_runtime_refuses_bad_addresses(smctl, args, message):
    res = smctl("runtime", *args)
    assert res.exit_code == 2
    assert res.stderr.startswith(f"Error: {message}")


@pytest.mark.parametrize("command", ["local-serve", "invoke", "runtime", "local-stop", "local-transform", "logs"])
def test_help_shows_what_values_look_like_not_python_types(smctl, command):
    res = smctl(command, "--help")
    assert res.exit_code == 0
    for python_type in ("<str>", "<int>", "<float>", "<list[str]>"):
        assert python_type not in res.stdout.split("Arguments:")[-1].split("Options:")[-1]


def test_local_stop_all_says_it_reaches_other_projects(smctl):
    res = smctl("local-stop", "--help")
    assert "Stop every smctl endpoint on this Docker engine, other projects' included." in " ".join(res.stdout.split())


def test_logs_tail_must_not_be_negative(smctl):
    res = smctl("logs", "some-endpoint", "--tail", "-3")
    assert res.exit_code == 2
    assert res.stderr.startswith("Error: --tail -3 is negative")
