"""`smctl undeploy`: an endpoint, its endpoint config and the config's models, found from the endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smctl.aws.session import aws_errors
from smctl.errors import EndpointNotFoundError


@dataclass(frozen=True)
class Removal:
    endpoint: str
    config: str | None
    models: tuple[str, ...]


def what_to_remove(sm: Any, name: str) -> Removal:
    """Raises: EndpointNotFoundError when there is no such endpoint in the region."""
    from smctl.aws.sagemaker_hosting import describe_endpoint

    state = describe_endpoint(sm, name)
    if state is None:
        raise EndpointNotFoundError(f"there is no SageMaker endpoint {name} in this region",
                                    "list them: aws sagemaker list-endpoints (or pass --region)")
    models: tuple[str, ...] = ()
    if state.config_name:
        with aws_errors(f"describing the endpoint config {state.config_name}"):
            config = sm.describe_endpoint_config(EndpointConfigName=state.config_name)
        models = tuple(v["ModelName"] for v in config.get("ProductionVariants", []) if v.get("ModelName"))
    return Removal(name, state.config_name, models)


def remove_endpoint(sm: Any, plan: Removal) -> list[str]:
    """Endpoint first, then its config, then the models; the names removed."""
    removed = []
    with aws_errors(f"deleting the endpoint {plan.endpoint}"):
        sm.delete_endpoint(EndpointName=plan.endpoint)
        removed.append(f"endpoint {plan.endpoint}")
        if plan.config:
            sm.delete_endpoint_config(EndpointConfigName=plan.config)
            removed.append(f"endpoint config {plan.config}")
        for model in plan.models:
            sm.delete_model(ModelName=model)
            removed.append(f"model {model}")
    return removed
