"""The exit-code table and the error tree every smctl failure goes through."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit code smctl uses; the README's table is generated from the same numbers."""

    OK = 0
    ERROR = 1
    USAGE = 2
    DOCKER = 3
    AWS = 4
    CONTAINER_FAILED = 5
    CHECKS_FAILED = 6
    INTERNAL = 70
    INTERRUPTED = 130


class SmctlError(Exception):
    """Base of every error a user can cause: a message naming the object, and a hint that fixes it."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, hint: str | None = None, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or {}


class UsageError(SmctlError):
    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """smctl.toml is missing, unreadable or invalid."""


class DockerError(SmctlError):
    exit_code = ExitCode.DOCKER


class AwsError(SmctlError):
    exit_code = ExitCode.AWS


class ContainerFailedError(SmctlError):
    exit_code = ExitCode.CONTAINER_FAILED


class ChecksFailedError(SmctlError):
    exit_code = ExitCode.CHECKS_FAILED


class ArchiveError(SmctlError):
    """A model archive could not be written, read or safely extracted."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would escape the target folder or is a device, FIFO or unsafe link."""

    exit_code = ExitCode.CHECKS_FAILED
