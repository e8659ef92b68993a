"""`local-serve` and `invoke`: endpoints, readiness, ports, invocations, the local SageMaker Runtime API."""
