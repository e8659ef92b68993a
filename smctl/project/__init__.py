"""The user's project: smctl.toml (spec and schema), init scaffolding, presets, dependency capture."""
