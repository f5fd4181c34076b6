"""``TrackerCallback`` for the Hugging Face ``Trainer``, and ``report_to="tracker"``.

Needs ``tracker[hf]``. ``import tracker`` registers the callback when transformers'
integration registry loads (without importing transformers itself), so
``TrainingArguments(report_to="tracker")`` works; ``report_to="all"`` includes it.
Passing ``callbacks=[TrackerCallback()]`` with ``report_to="none"`` is the stable path
if transformers ever changes its registry.

Keys follow W&B's callback: ``loss`` → ``train/loss``, ``eval_loss`` → ``eval/loss``,
``test_*`` → ``test/*``, x axis ``train/global_step``; end-of-training totals
(``train_runtime``, ``total_flos``, ...) go to the summary. Environment:

* ``TRACKER_PROJECT``: project (default: ``TrainingArguments.project`` when changed, else
  ``huggingface``);
* ``TRACKER_LOG_MODEL``: ``end`` (the final model, as ``Trainer.save_model`` writes it:
  config, weights, the tokenizer/processor, ``training_args.bin``, plus W&B's
  ``model_architecture.txt``), ``checkpoint`` (every saved checkpoint) or ``false``
  (default);
* ``TRACKER_WATCH``: ``gradients``, ``parameters``, ``all`` or ``false`` (default);
* ``TRACKER_FINISH_ON_TRAIN_END``: finish the run when training ends (default: keep it
  open so that a later ``trainer.evaluate()`` lands in the same run).

``WANDB_*`` variables are read as fallbacks for each ``TRACKER_*`` one. Gradient
histograms (``TRACKER_WATCH``) are taken at each optimizer step and land in the row of that
step's metrics (``train/global_step`` = the step they belong to). Only the world process
zero logs. Nothing ever prompts.

Subclasses written for W&B's ``WandbCallback`` keep working: ``self._wandb`` is the
``tracker`` module (``self._wandb.log``, ``self._wandb.Table``, ``self._wandb.run``),
``self._initialized`` and ``setup(args, state, model, **kwargs)`` behave as W&B's.
"""

from __future__ import annotations

from tracker._optional import require_extra

require_extra("transformers", feature="tracker.integrations.huggingface.TrackerCallback", extra="hf")

import tempfile  # noqa: E402  (after the extra check, on purpose: G5)
from types import ModuleType  # noqa: E402
from typing import Any, ClassVar, Final  # noqa: E402

from transformers.trainer_callback import TrainerCallback, TrainerControl, TrainerState  # noqa: E402
from transformers.training_args import TrainingArguments  # noqa: E402

import tracker  # noqa: E402
from tracker._optional import adapter_env, adapter_env_bool  # noqa: E402
from tracker.errors import UsageError  # noqa: E402

__all__ = ["STEP_KEY", "TrackerCallback", "register", "rewrite_logs"]

#: The x axis of every metric the callback logs.
STEP_KEY: Final = "train/global_step"
#: ``report_to`` name.
NAME: Final = "tracker"
_DEFAULT_PROJECT: Final = "huggingface"
_SINGLE_VALUE: Final = frozenset(
    {"train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos"}
)
_LOG_MODEL: Final = ("end", "checkpoint", "false")
_WATCH: Final = ("gradients", "parameters", "all", "false")


def rewrite_logs(logs: dict[str, Any]) -> dict[str, Any]:
    """Rename Trainer keys as W&B's callback does.

    ``eval_x`` → ``eval/x``, ``test_x`` → ``test/x``, anything else → ``train/x``.
    """
    out: dict[str, Any] = {}
    for key, value in logs.items():
        if key.startswith("eval_"):
            out[f"eval/{key[5:]}"] = value
        elif key.startswith("test_"):
            out[f"test/{key[5:]}"] = value
        else:
            out[f"train/{key}"] = value
    return out


class TrackerCallback(TrainerCallback):
    """Log a ``transformers.Trainer`` to a tracker run (W&B's ``WandbCallback``).

    Built with no arguments by ``Trainer(report_to="tracker")``; the keywords override
    the environment. The constructor does no I/O; the run starts at ``on_train_begin``
    (or the first log) on the world process zero.

    Args:
        project: Project (default: see module docs).
        run_name: Run name (default ``TrainingArguments.run_name``).
        log_model: ``"end"``, ``"checkpoint"`` or ``"false"`` (default ``$TRACKER_LOG_MODEL``).
        watch: ``"gradients"``, ``"parameters"``, ``"all"`` or ``"false"`` (default ``$TRACKER_WATCH``).
        log_freq: Optimizer steps between histograms (default ``max(100, logging_steps)``).
        finish_on_train_end: Finish the run when training ends.

    Example:
        >>> args = TrainingArguments("out", report_to="tracker")  # doctest: +SKIP
        >>> Trainer(model=model, args=args, train_dataset=ds).train()  # doctest: +SKIP
    """

    #: W&B's callback keeps the wandb module here; subclasses call ``self._wandb.log(...)``.
    #: A class attribute, so that the callback still pickles.
    _wandb: ClassVar[ModuleType] = tracker

    def __init__(
        self,
        *,
        project: str | None = None,
        run_name: str | None = None,
        log_model: str | None = None,
        watch: str | None = None,
        log_freq: int | None = None,
        finish_on_train_end: bool | None = None,
    ) -> None:
        self._project = project
        self._run_name = run_name
        self._log_model = log_model
        self._watch = watch
        self._log_freq = log_freq
        self._finish_on_train_end = finish_on_train_end
        self._run: tracker.Run | None = None
        self._initialized = False
        self._state: TrainerState | None = None
        # Histograms of the optimizer step under way: (its global_step, row), merged into
        # that step's on_log row, else logged on their own at the next step.
        self._pending: tuple[int, dict[str, Any]] | None = None

    @property
    def run(self) -> tracker.Run | None:
        """The run being logged to (None before setup and off the world process zero)."""
        return self._run

    # ------------------------------------------------------------------ setup
    def _setting(self, given: str | None, env_name: str, choices: tuple[str, ...]) -> str:
        if given is not None:
            value = str(given).lower()
            if value not in choices:
                raise UsageError(f"TrackerCallback: {given!r} is not one of {', '.join(choices)}.")
            return value
        return adapter_env(env_name, choices) or "false"

    def setup(self, args: TrainingArguments, state: TrainerState, model: Any = None, **kwargs: Any) -> None:
        """Start (or join) the run and record the model config and ``TrainingArguments``."""
        self._initialized = True
        self._state = state
        if not state.is_world_process_zero:
            return
        config: dict[str, Any] = {}
        model_config = getattr(model, "config", None)
        if model_config is not None and hasattr(model_config, "to_dict"):
            to_dict: Any = model_config.to_dict  # transformers' PretrainedConfig is untyped here
            config.update(to_dict())
        args_dict: Any = args.to_dict  # untyped in transformers
        config.update(args_dict())
        peft_config = getattr(model, "peft_config", None)
        if peft_config is not None:
            config["peft_config"] = {
                k: getattr(v, "to_dict", lambda v=v: str(v))() for k, v in peft_config.items()
            }
        run = tracker.run
        if run is None:
            args_project = getattr(args, "project", None)
            project = (
                self._project
                or adapter_env("TRACKER_PROJECT")
                or (args_project if args_project and args_project != _DEFAULT_PROJECT else None)
                or _DEFAULT_PROJECT
            )
            name = self._run_name or args.run_name
            group = None
            if state.is_hyper_param_search and state.trial_name:
                group, name = name or args.output_dir, state.trial_name
            if name == args.output_dir:
                name = None  # the default run_name is the output folder; let tracker name it
            run = tracker.init(
                project=project, name=_safe_name(name), group=_safe_name(group), resume="allow"
            )
        self._run = run
        run.config.update(config, allow_val_change=True)
        run.define_metric(STEP_KEY)
        run.define_metric("*", step_metric=STEP_KEY, step_sync=True)
        if model is not None and hasattr(model, "num_parameters"):
            run.config.update({"model/num_parameters": int(model.num_parameters())}, allow_val_change=True)
        watch = self._setting(self._watch, "TRACKER_WATCH", _WATCH)
        if watch != "false" and model is not None:
            from tracker.integrations.torch import watch as torch_watch

            freq = self._log_freq or max(100, int(args.logging_steps or 0))
            torch_watch(run, model, log=watch, log_freq=freq, sink=self._hold_histograms)

    def _hold_histograms(self, row: dict[str, Any]) -> None:
        # Called from the optimizer's pre-step hook: global_step counts completed steps, so
        # the step under way is the next one.
        step = (self._state.global_step if self._state is not None else 0) + 1
        if self._pending is not None and self._pending[0] != step:
            self._flush_histograms()
        held = self._pending[1] if self._pending is not None else {}
        self._pending = (step, {**held, **row})

    def _flush_histograms(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and self._run is not None:
            self._run.log({**pending[1], STEP_KEY: pending[0]})

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Log the previous step's histograms on their own when no metrics row took them."""
        if self._pending is not None and self._pending[0] <= state.global_step:
            self._flush_histograms()

    # ------------------------------------------------------------------ events
    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        """Start the run (finishing the previous trial's run during a hyperparameter search)."""
        if state.is_hyper_param_search and self._run is not None:
            self._run.finish()
            self._run = None
            self._initialized = False
        if not self._initialized:
            self.setup(args, state, model, **kwargs)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        """Log a row of renamed metrics at ``train/global_step``; totals go to the summary."""
        if not self._initialized:
            self.setup(args, state, model, **kwargs)
        if not state.is_world_process_zero or self._run is None or not logs:
            return
        row: dict[str, Any] = {}
        for key, value in logs.items():
            if key in _SINGLE_VALUE:
                self._run.summary[key] = value
            else:
                row[key] = value
        if row:
            row = rewrite_logs(row)
            row[STEP_KEY] = state.global_step
            if self._pending is not None and self._pending[0] == state.global_step:
                row.update(self._pending[1])
                self._pending = None
            self._run.log(row)

    def on_predict(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: Any = None,
        **kwargs: Any,
    ) -> None:
        """Log ``predict()`` metrics (``test/*``)."""
        if not self._initialized:
            self.setup(args, state, **kwargs)
        if state.is_world_process_zero and self._run is not None and metrics:
            self._run.log(rewrite_logs(dict(metrics)))

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """With ``TRACKER_LOG_MODEL=checkpoint``, log the checkpoint folder just written."""
        if not state.is_world_process_zero or self._run is None:
            return
        if self._setting(self._log_model, "TRACKER_LOG_MODEL", _LOG_MODEL) != "checkpoint":
            return
        from pathlib import Path

        folder = Path(args.output_dir or ".") / f"checkpoint-{state.global_step}"
        if not folder.is_dir():
            return
        artifact = tracker.Artifact(self._artifact_name(args), type="model", metadata=self._metadata())
        artifact.add_dir(folder)
        aliases = [f"epoch_{round(state.epoch or 0, 2)}", f"checkpoint_global_step_{state.global_step}"]
        self._run.log_artifact(artifact, aliases=aliases).wait()

    def on_train_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        """With ``TRACKER_LOG_MODEL=end``, log the final model; optionally finish the run."""
        if not state.is_world_process_zero or self._run is None:
            return
        self._flush_histograms()
        if self._setting(self._log_model, "TRACKER_LOG_MODEL", _LOG_MODEL) == "end" and model is not None:
            processor = kwargs.get("processing_class") or kwargs.get("tokenizer")
            self._log_final_model(args, state, model, processor)
        finish = self._finish_on_train_end
        if finish is None:
            finish = adapter_env_bool("TRACKER_FINISH_ON_TRAIN_END", False)
        if finish:
            self._run.finish()
            self._run = None
            self._initialized = False

    # ------------------------------------------------------------------ model artifacts
    def _artifact_name(self, args: TrainingArguments) -> str:
        assert self._run is not None
        if args.run_name and args.run_name != args.output_dir and _safe_name(args.run_name):
            return f"model-{_safe_name(args.run_name)}"
        return f"model-{self._run.id}"

    def _metadata(self) -> dict[str, Any]:
        assert self._run is not None
        summary = dict(self._run.summary)
        return {k: v for k, v in summary.items() if isinstance(v, (int, float)) and not k.startswith("_")}

    def _log_final_model(
        self, args: TrainingArguments, state: TrainerState, model: Any, processor: Any
    ) -> None:
        assert self._run is not None
        unwrapped = getattr(model, "module", model)
        if not hasattr(unwrapped, "save_pretrained"):
            return
        with tempfile.TemporaryDirectory() as tmp:
            # What Trainer.save_model writes, without a second Trainer (W&B builds one, which
            # re-instantiates every callback): the model (config.json + weights), the
            # tokenizer/processor, the arguments; plus W&B's model_architecture.txt.
            unwrapped.save_pretrained(tmp)
            if processor is not None and hasattr(processor, "save_pretrained"):
                processor.save_pretrained(tmp)
            import torch

            torch.save(args, f"{tmp}/training_args.bin")
            with open(f"{tmp}/model_architecture.txt", "w", encoding="utf-8") as f:
                f.write(f"{unwrapped}\n")
            meta = self._metadata()
            meta["final_model"] = True
            if args.load_best_model_at_end and args.metric_for_best_model:
                meta[f"eval/{args.metric_for_best_model}"] = state.best_metric
            artifact = tracker.Artifact(self._artifact_name(args), type="model", metadata=meta)
            artifact.add_dir(tmp)
            # wait(): the files are read in the background and the folder goes away below.
            self._run.log_artifact(artifact, aliases=["final_model"]).wait()


def _safe_name(name: str | None) -> str | None:
    """Run names are 1-128 of ``[A-Za-z0-9._-]``; map anything else (paths, spaces) to ``-``."""
    if not name:
        return None
    out = "".join(c if (c.isalnum() and c.isascii()) or c in "._-" else "-" for c in str(name)).strip("-._")
    return out[:128] or None


def register() -> None:
    """Make ``report_to="tracker"`` (and ``"all"``) reach :class:`TrackerCallback`.

    Idempotent; a callback the user registered under ``"tracker"`` first wins. Called by
    ``import tracker`` when transformers' integration registry loads.
    """
    import transformers.integrations as lazy
    from transformers.integrations import integration_utils

    integration_utils.INTEGRATION_TO_CALLBACK.setdefault(NAME, TrackerCallback)
    original: Any = integration_utils.get_available_reporting_integrations
    if getattr(original, "_tracker_wrapped", False):
        return

    def get_available_reporting_integrations() -> list[str]:
        names = list(original())
        if NAME not in names:
            names.append(NAME)
        return names

    get_available_reporting_integrations._tracker_wrapped = True  # type: ignore[attr-defined]
    get_available_reporting_integrations.__doc__ = original.__doc__
    # Both: the lazy package caches attributes it has served, and TrainingArguments reads it there.
    integration_utils.get_available_reporting_integrations = get_available_reporting_integrations
    lazy.get_available_reporting_integrations = get_available_reporting_integrations  # type: ignore[attr-defined]
