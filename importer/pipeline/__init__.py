"""The pipeline's machinery: how runs of background work change state (transitions)."""
