"""`local-transform`: SageMaker batch transform on the local engine (CONTRACT.md §3), one concern per module."""
