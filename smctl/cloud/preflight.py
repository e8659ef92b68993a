"""Client-side checks for what SageMaker would otherwise refuse after minutes of provisioning: the role of another
account, S3 locations in another region. Each failure names the fix."""

from __future__ import annotations

from collections.abc import Iterable

from smctl.errors import UsageError


class CrossAccountRoleError(UsageError):
    """The execution role belongs to another account than the caller's: SageMaker cannot pass it."""


class WrongRegionError(UsageError):
    """An S3 location is in another region than the job: SageMaker refuses it (or pays cross-region traffic)."""


def check_role_account(role_arn: str, account: str) -> None:
    """Raises: CrossAccountRoleError when the role's account is not `account`."""
    parts = role_arn.split(":")
    role_account = parts[4] if len(parts) > 4 else ""
    if role_account and role_account != account:
        raise CrossAccountRoleError(
            f"the role {role_arn} belongs to account {role_account}, and you are in account {account}: SageMaker "
            "runs jobs with a role of the account that creates them",
            f"use an execution role of account {account} (--role arn:aws:iam::{account}:role/NAME), or switch to "
            f"a profile of account {role_account} ([aws] profile, AWS_PROFILE)")


def check_regions(uris: Iterable[str], region: str, *, profile: str | None = None) -> None:
    """Raises: WrongRegionError naming the first s3:// location whose bucket is in another region."""
    from smctl.aws.s3_sync import bucket_region

    seen: dict[str, str | None] = {}
    for uri in uris:
        if not uri.startswith("s3://"):
            continue
        bucket = uri[5:].split("/", 1)[0]
        if bucket not in seen:
            seen[bucket] = bucket_region(bucket, region, profile)
        found = seen[bucket]
        if found is not None and found != region:
            raise WrongRegionError(
                f"{uri} is in {found}, and the job runs in {region}: SageMaker reads and writes S3 in its own region",
                f"use a bucket in {region} (--bucket, --output-path), or run the job in {found}: --region {found}")
