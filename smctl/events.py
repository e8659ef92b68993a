"""The one progress-callback type: a capability calls on_event(name, fields) and never prints.

The CLI renders events with rich (cli/output.py); a test collects them in a list.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

OnEvent = Callable[[str, dict[str, Any]], None]


def ignore(name: str, fields: dict[str, Any]) -> None:
    """An OnEvent for callers that want no progress."""


Advance = Callable[[int], None]  # n more bytes done
# A byte-progress bar: (description, total bytes) -> a context manager that yields its Advance.
ByteProgress = Callable[[str, int], AbstractContextManager[Advance]]
