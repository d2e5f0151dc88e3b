"""The discovery flow's phases: each takes a WorkContext and returns its summary."""
