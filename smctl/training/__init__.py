"""`local-train`: plan (pure), inputs, run folder, preflight (check, fetch, plan), run, artifacts, Pipe feeder."""
