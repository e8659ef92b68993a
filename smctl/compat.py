"""What Python 3.10 lacks and smctl uses: StrEnum (3.11) and tomllib (3.11, the `tomli` package before)."""

from __future__ import annotations

import sys
from enum import Enum

if sys.version_info >= (3, 11):
    from enum import StrEnum

    import tomllib
else:  # pragma: no cover - exercised by the Python 3.10 leg of .ci/pythons.sh
    import tomli as tomllib

    class StrEnum(str, Enum):
        """3.11's StrEnum: members are their values, in str() and in f-strings alike."""

        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return format(str(self.value), spec)

__all__ = ["StrEnum", "tomllib"]
