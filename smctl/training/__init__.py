"""`local-train`: plan (pure), inputs, run folder, run, artifacts, Pipe feeder."""
