"""Framework adapters; each module imports its framework (importing it is the opt-in)."""
