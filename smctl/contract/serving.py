"""SageMaker hosting's numbers: the container's port, /ping and /invocations limits, stop grace, name rules."""

from __future__ import annotations

import re

CONTAINER_PORT = 8080  # SageMaker sends /ping and /invocations to the container's port 8080
PING_TIMEOUT = 2.0  # each /ping must answer within 2 s
INVOCATION_TIMEOUT = 60.0  # the container must answer /invocations within 60 s
MAX_PAYLOAD = 6 * 1024 * 1024  # 6,291,456 bytes: the limit for request and response bodies
MAX_CUSTOM_ATTRIBUTES = 1024
SERVE_STOP_GRACE = 30  # SIGTERM, then SIGKILL after 30 s
MAX_ENV_VALUE = 1024  # CreateModel's limit for a container environment value
ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
