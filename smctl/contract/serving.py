"""SageMaker hosting's numbers: the container's port, /ping and /invocations limits, stop grace, name rules."""

from __future__ import annotations

import ipaddress
import re

CONTAINER_PORT = 8080  # SageMaker sends /ping and /invocations to the container's port 8080
PING_TIMEOUT = 2.0  # each /ping must answer within 2 s
INVOCATION_TIMEOUT = 60.0  # the container must answer /invocations within 60 s
MAX_PAYLOAD = 6 * 1024 * 1024  # 6,291,456 bytes: the limit for request and response bodies
MAX_CUSTOM_ATTRIBUTES = 1024
SERVE_STOP_GRACE = 30  # SIGTERM, then SIGKILL after 30 s
MAX_ENV_VALUE = 1024  # CreateModel's limit for a container environment value
ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")

HOST_EXPECTED = "an IP address (127.0.0.1, ::1, 0.0.0.0, ::) or localhost"
HOST_HINT = ("the engine publishes an address it cannot parse on every interface, so smctl takes only IP addresses: "
             "--host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface)")


def parse_host(text: str) -> str | None:
    """The address to publish on: an IPv4/IPv6 address as written, `localhost` as 127.0.0.1; None for anything
    else (a host name or a typo such as 127.0.0.l, which the engine would publish on every interface)."""
    if text.strip().lower() == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        return None


def is_every_interface(host: str) -> bool:
    """0.0.0.0 or ::: reachable from the network, not just this machine."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
