"""Storage: the run-log format, replay, the index and the state store."""
