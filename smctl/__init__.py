"""smctl: run SageMaker containers locally the way SageMaker does."""

__version__ = "0.1.0"
