"""Following a SageMaker job or endpoint from the CLI: Ctrl-C detaches (it goes on in SageMaker) and expired
credentials stop the wait, both saying how to pick it up again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from smctl.errors import CredentialsExpiredError

T = TypeVar("T")


def follow_in_cloud(out: Any, what: str, name: str, follow: Callable[[], T], *, then: str,
                    goes_on: str = "goes on in SageMaker") -> T:
    """follow(), for `what` ("training job") `name`; `then` is the other way out ("stop it: smctl stop NAME").

    Raises: KeyboardInterrupt after warning that it was only detached; CredentialsExpiredError naming how to resume.
    """
    resume = f"follow it again: smctl logs {name} --cloud -f; {then}"
    try:
        return follow()
    except KeyboardInterrupt:
        out.warn(f"detached: {what} {name} {goes_on}; {resume}")
        raise
    except CredentialsExpiredError as exc:
        raise exc.while_waiting(f"{what} {name}", resume) from exc
