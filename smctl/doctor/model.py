"""What a check reports: a status, a one-line summary, details and the concrete remedy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from smctl.compat import StrEnum

Event = Callable[[str], None]


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"  # a rule that could not be judged because an earlier one failed


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict; `data` holds the measured facts for --json consumers."""

    id: str
    title: str
    status: Status
    summary: str
    details: tuple[str, ...] = ()
    remedy: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "summary": self.summary,
            "details": list(self.details),
            "remedy": self.remedy,
            "data": self.data,
        }


def ok(id: str, title: str, summary: str, *details: str, **data: Any) -> CheckResult:
    return CheckResult(id, title, Status.OK, summary, tuple(details), None, data)


def warn(id: str, title: str, summary: str, remedy: str | None, *details: str, **data: Any) -> CheckResult:
    return CheckResult(id, title, Status.WARN, summary, tuple(details), remedy, data)


def fail(id: str, title: str, summary: str, remedy: str | None, *details: str, **data: Any) -> CheckResult:
    return CheckResult(id, title, Status.FAIL, summary, tuple(details), remedy, data)


def skip(id: str, title: str, summary: str, *details: str) -> CheckResult:
    return CheckResult(id, title, Status.SKIP, summary, tuple(details))


@dataclass(frozen=True)
class Report:
    """Every check of one `doctor` or `check` run, in the order they ran."""

    checks: tuple[CheckResult, ...]
    subject: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(c.status is Status.FAIL for c in self.checks)

    def counts(self) -> dict[str, int]:
        return {s.value: sum(1 for c in self.checks if c.status is s) for s in Status}

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.subject,
            "passed": not self.failed,
            "counts": self.counts(),
            "checks": [c.as_dict() for c in self.checks],
        }


def guarded(id: str, title: str, judge: Callable[[], CheckResult | Sequence[CheckResult]]) -> list[CheckResult]:
    """Run one check; a crash in it becomes a failed result instead of hiding the checks after it."""
    try:
        got = judge()
    except Exception as exc:  # noqa: BLE001 - one broken probe must not hide the others
        from smctl.errors import SmctlError

        if isinstance(exc, SmctlError):
            return [fail(id, title, exc.message, exc.hint)]
        return [fail(id, title, f"the check itself crashed: {type(exc).__name__}: {exc}",
                     "rerun with -v and report it: this is a bug in smctl")]
    return [got] if isinstance(got, CheckResult) else list(got)
