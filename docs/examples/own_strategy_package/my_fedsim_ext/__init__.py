"""An example of a user's own fedsim extension package (entry points in its pyproject.toml)."""
