"""Bring runs over from W&B, TensorBoard and MLflow (``tracker import ...``)."""
