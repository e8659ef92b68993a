"""SageMaker itself: the requests (built from the same job descriptions the local runs use) and the jobs they start."""
