"""placeholder until the sandbox fixtures land."""
