"""Mirror TensorBoard writers into the active run (``sync_tensorboard=True``, ``patch()``)."""
