"""Mirror TensorBoard writers into the active run (``sync_tensorboard=True``, ``patch()``).

W&B's ``sync_tensorboard``: scripts that log through ``torch.utils.tensorboard``'s
``SummaryWriter``, tensorboardX's ``SummaryWriter`` or ``tf.summary`` (cleanrl, Keras'
``TensorBoard`` callback, many RL codebases) also get their scalars, histograms, images and
text in the tracker run, one row per TensorBoard step, with the step as ``global_step``
(each mirrored key's ``step_metric``). TensorBoard's own event files are written as before.

``tracker.init(sync_tensorboard=True)`` patches for that run and undoes it at ``finish``;
:func:`patch` patches until :func:`unpatch`, for whichever run is current. Nothing is
imported to do it: a writer module is patched when the script imports it (see
:mod:`tracker.tensorboard._hooks`), so ``import tracker`` stays light.

Example:
    >>> run = tracker.init(project="rl", sync_tensorboard=True)  # doctest: +SKIP
    >>> writer = SummaryWriter("runs/exp1")  # doctest: +SKIP
    >>> writer.add_scalar("charts/episodic_return", 12.5, global_step=100)  # doctest: +SKIP
"""

from __future__ import annotations

from tracker.tensorboard import _hooks

__all__ = ["patch", "unpatch"]


def patch(
    root_logdir: str = "",
    save: bool = True,
    tensorboard_x: bool | None = None,
    pytorch: bool | None = None,
) -> None:
    """Mirror TensorBoard writers into the current run until :func:`unpatch` (W&B's signature).

    Args:
        root_logdir: Keys of a writer to ``<root_logdir>/<sub>`` get the prefix ``<sub>/``
            (default: the common parent of the log directories, once there are several).
        save: Accepted for W&B compatibility (TensorBoard's files stay where they are
            written; they are not copied into the run).
        tensorboard_x: False leaves tensorboardX alone; True (or ``pytorch=True``) leaves
            ``tf.summary`` alone, as in W&B.
        pytorch: False leaves ``torch.utils.tensorboard`` alone.

    Calling it again while patched does nothing.
    """
    targets = [
        *(_hooks.TORCH if pytorch is not False else ()),
        *(_hooks.TENSORBOARD_X if tensorboard_x is not False else ()),
        *(_hooks.TENSORFLOW if not (pytorch or tensorboard_x) else ()),
    ]
    _hooks.install(root_logdir or None, targets)


def unpatch() -> None:
    """Stop mirroring: every patched writer function is put back."""
    _hooks.uninstall()
