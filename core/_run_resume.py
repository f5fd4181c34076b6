"""Which run ``init`` continues, and what it continues from.

The resume modes (``allow``, ``must``, ``never``, ``auto``), ``resume_from``, the launch
identity ``resume="auto"`` knows a launch by (its record under ``<root>/.resume``), the
check that a run exists as ``resume`` expects, and the fold of an existing log (repaired
first, under the run's lease) into the state, first step and summary the new session
starts from. ``tracker._init`` calls these steps in order.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from tracker._naming import ID_RE, LOG_NAME, check_id, run_dir_for
from tracker._settings import ENV_RESUME, ENV_RESUME_TIMEOUT, Settings, env
from tracker.errors import RunNotFoundError, UsageError
from tracker.storage import _lease
from tracker.storage._format import HEADER_SIZE, repair
from tracker.storage._replay import RunState
from tracker.storage._summary_rule import effective_summary

if TYPE_CHECKING:
    from tracker._port import RunPort

__all__: list[str] = []

_RESUME: Final = {"allow", "must", "never", "auto"}

#: Scheduler variables that tell one launch from another: a SLURM job (and array task),
#: a torchelastic run, a PBS or LSF job, a Kubernetes indexed Job's completion index. A
#: requeue or elastic restart keeps them, so it resumes; a new submission is a new run. The
#: pod name is left out on purpose: a Job's retry runs in a new pod and must resume.
_LAUNCH_ENV: Final = (
    "SLURM_JOB_ID",
    "SLURM_ARRAY_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "TORCHELASTIC_RUN_ID",
    "PBS_JOBID",
    "PBS_ARRAY_INDEX",
    "LSB_JOBID",
    "LSB_JOBINDEX",
    "JOB_COMPLETION_INDEX",
)


# --------------------------------------------------------------------------- arguments
def resolve_resume(resume: Any) -> str | None:
    """``init(resume=...)`` (or ``$TRACKER_RESUME``) as a mode, None for a new run only."""
    if resume is None:
        resume = env(ENV_RESUME)
    if resume is True:
        return "auto"
    if resume is False or resume is None:
        return None
    if resume not in _RESUME:
        raise UsageError(f"init(resume={resume!r}): use 'allow', 'must', 'never', 'auto' or a bool.")
    return str(resume)


def parse_resume_from(value: str) -> tuple[str, int]:
    """``"<run_id>?_step=N"`` as ``(run_id, N)``."""
    run_id, sep, query = value.partition("?")
    key, eq, num = query.partition("=")
    if not sep or key != "_step" or not eq:
        raise UsageError(f"resume_from={value!r}: use '<run_id>?_step=<N>'.")
    try:
        step = int(num)
    except ValueError:
        raise UsageError(f"resume_from={value!r}: the step {num!r} is not an integer.") from None
    if step < 0:
        raise UsageError(f"resume_from={value!r}: the step must not be negative.")
    return check_id(run_id), step


def resolve_resume_timeout(value: Any, st: Settings) -> float:
    """Seconds ``init`` waits for another process's lease on the run (0: fail at once)."""
    raw = value if value is not None else st.get("resume_timeout")
    if raw is None:
        raw = env(ENV_RESUME_TIMEOUT) or 0.0
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        raise UsageError(f"init(resume_timeout={raw!r}) is not a number of seconds.") from None
    if not seconds >= 0:
        raise UsageError(f"init(resume_timeout={raw!r}): use 0 (fail at once) or a number of seconds.")
    return seconds


# --------------------------------------------------------------------------- resume="auto"
def launch_identity() -> str:
    """What ``resume="auto"`` knows a launch by: the working directory, the whole command
    line and the scheduler's job/array ids (``python train.py 0.1`` and ``0.01`` differ)."""
    ids = [f"{name}={value}" for name in _LAUNCH_ENV if (value := env(name)) is not None]
    return "\0".join([os.getcwd(), *(sys.argv or [""]), "\1", *ids])


def auto_resume_file(root: Path) -> Path:
    """Where this launch's run is recorded for ``resume="auto"``."""
    # Files written by trackers before the command line counted (cwd + argv[0] only) have
    # other names: they are never read again, so such a run is not resumed by mistake.
    import hashlib  # only for resume="auto": not on `import tracker`

    key = launch_identity().encode()
    return root / ".resume" / (hashlib.sha256(key).hexdigest()[:24] + ".id")


def auto_resumable(auto_file: Path, root: Path, project: str) -> tuple[str | None, bool]:
    """The run a relaunch of this command resumes, and whether that run is being written.

    None when nothing is recorded, or the run is gone or in another project; a run still
    being written is not resumed: a concurrent launch of the same command starts its own.
    """
    try:
        prev_project, _, prev_id = auto_file.read_text().strip().partition("/")
    except (OSError, UnicodeDecodeError):
        return None, False
    if prev_project != project or not ID_RE.match(prev_id):
        return None, False
    prev_log = run_dir_for(root, prev_project, prev_id) / LOG_NAME
    if not prev_log.is_file():
        return None, False
    if _lease.held(prev_log):
        return None, True
    return prev_id, False


def write_auto_file(path: Path, project: str, run_id: str, run: RunPort) -> None:
    """Record the run for a relaunch of this command; removed when it ends normally."""
    record = f"{project}/{run_id}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(record)
        os.replace(tmp, path)
    except OSError:
        return

    def _cleanup() -> None:
        if run.exit_state is None:
            try:
                if path.read_text() == record:  # not a later launch's record
                    path.unlink()
            except OSError:
                pass

    run.on_finish(_cleanup)


# --------------------------------------------------------------------------- the existing log
def check_exists(root: Path, project: str, run_id: str, resume: str | None) -> bool:
    """Whether the run's log exists; refused when that contradicts ``resume``."""
    log_path = run_dir_for(root, project, run_id) / LOG_NAME
    exists = log_path.is_file()
    if exists and resume in (None, "never"):
        raise UsageError(
            f"run {project}/{run_id} already exists; pass resume='allow' (or 'must') to continue "
            "it, or choose another id."
        )
    if not exists and resume == "must":
        raise RunNotFoundError(
            f"init(resume='must'): no run {run_id!r} in project {project!r} under {root}; "
            "check the id, project and TRACKER_DIR.",
            run_id=run_id,
            path=str(log_path),
        )
    return exists


class Resumed(NamedTuple):
    """What a resumed session starts from."""

    state: RunState
    start_step: int
    summary: dict[str, Any]


def fold_existing(log_path: Path, rewind: int | None) -> Resumed | None:
    """Repair the log (under the run's lease) and fold it; None when there is nothing to resume.

    A log killed before its header or first record is removed. ``rewind`` (``resume_from``)
    restarts after that step, with the summary of the rows up to it.

    Raises:
        OSError: The log cannot be read, repaired or removed.
    """
    state = RunState(keep_rows=rewind is not None)
    repaired = repair(log_path)
    state.feed(repaired.records)
    if repaired.end < HEADER_SIZE or not state.sessions:
        log_path.unlink()  # killed before the header or the first record: nothing to resume
        return None
    start_step = state.max_step + 1
    if rewind is not None:
        start_step = min(rewind, state.max_step) + 1
    return Resumed(state, start_step, _summary(state, rewind))


def _summary(state: RunState, rewind: int | None) -> dict[str, Any]:
    if rewind is not None:
        summary: dict[str, Any] = {}
        for row in state.rows:
            if row[0] <= rewind:
                summary.update(row[2])
        return summary
    summary = dict(effective_summary(state))  # the index's rule too
    if state.max_step >= 0:
        summary["_step"] = state.max_step
    return summary
