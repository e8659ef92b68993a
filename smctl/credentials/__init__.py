"""AWS credentials for the containers of a run, through the ECS container credentials protocol."""
