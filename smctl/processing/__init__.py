"""Processing jobs (CreateProcessingJob) run on the local engine: plan, run, outputs."""
