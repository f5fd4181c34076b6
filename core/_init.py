"""``tracker.init``: resolve settings, create or resume the run, start its writer.

``init`` returns after creating the id, the run directory, the first record and the
writer thread; run capture (git, packages, host) happens in the writer afterwards.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Final, cast

from tracker import _distributed, _process, _stats
from tracker._capture import ConsoleTee, capture
from tracker._lineage import LineageReader, set_lineage_factory
from tracker._naming import DEFAULT_PROJECT, ID_RE, LOG_NAME, check_id, check_name, new_id, run_dir_for
from tracker._run import Run
from tracker._settings import (
    ENV_CONSOLE,
    ENV_DISABLE_GIT,
    ENV_ENTITY,
    ENV_FSYNC,
    ENV_HOST,
    ENV_JOB_TYPE,
    ENV_MODE,
    ENV_NOTES,
    ENV_PROJECT,
    ENV_RESUME,
    ENV_RESUME_TIMEOUT,
    ENV_RUN_GROUP,
    ENV_RUN_ID,
    ENV_RUN_NAME,
    ENV_SWEEP_ID,
    ENV_SWEEP_PARAM_PATH,
    ENV_TAGS,
    ENV_UI_URL,
    Settings,
    coerce_settings,
    data_root,
    env,
    env_bool,
)
from tracker._version import __version__
from tracker._writer import Writer
from tracker.errors import RunNotFoundError, StorageError, TrackerWarning, UsageError
from tracker.storage import _lease
from tracker.storage._format import FORMAT_VERSION, HEADER_SIZE, R, file_header, read_frames, repair
from tracker.storage._replay import RunState
from tracker.storage._summary_rule import effective_summary

__all__ = ["init"]

DEFAULT_UI: Final = "http://127.0.0.1:8765"  # `tracker ui`'s default port (tracker._ui_link)
_MODES: Final = {
    "offline": "offline",
    "dryrun": "offline",
    "online": "online",
    "run": "online",
    "shared": "online",
    "disabled": "disabled",
}
_REINIT: Final = {"default", "return_previous", "finish_previous", "create_new"}
_RESUME: Final = {"allow", "must", "never", "auto"}
# wandb.init keywords tracker accepts but does not act on: a TrackerWarning when set.
_IGNORED: Final = ("force", "anonymous", "save_code", "tensorboard", "sync_tensorboard", "monitor_gym")
_online_warned = False


def _proc_start_time() -> int | None:
    """This process's start time in clock ticks since boot (Linux), for crash detection."""
    try:
        with open(f"/proc/{os.getpid()}/stat", "rb") as f:
            stat = f.read()
        return int(stat[stat.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _resolve_mode(mode: str | None, settings: Settings) -> str:
    raw = mode or settings.get("mode") or env(ENV_MODE)
    if raw is None:
        return "online" if env(ENV_HOST) else "offline"
    norm = _MODES.get(str(raw).lower())
    if norm is None:
        raise UsageError(f"init(mode={raw!r}): use 'offline', 'online' or 'disabled'.")
    return norm


def _resolve_reinit(reinit: Any, settings: Settings) -> str:
    value = reinit if reinit is not None else settings.get("reinit", "default")
    if value is True:
        return "finish_previous"
    if value is False or value is None:
        value = "default"
    if value not in _REINIT:
        raise UsageError(f"init(reinit={value!r}): use one of {sorted(_REINIT)} or a bool.")
    if value == "default":
        return "finish_previous" if "ipykernel" in sys.modules else "return_previous"
    return str(value)


def _resolve_resume(resume: Any) -> str | None:
    if resume is None:
        resume = env(ENV_RESUME)
    if resume is True:
        return "auto"
    if resume is False or resume is None:
        return None
    if resume not in _RESUME:
        raise UsageError(f"init(resume={resume!r}): use 'allow', 'must', 'never', 'auto' or a bool.")
    return str(resume)


def _parse_resume_from(value: str) -> tuple[str, int]:
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


def launch_identity() -> str:
    """What ``resume="auto"`` knows a launch by: the working directory, the whole command
    line and the scheduler's job/array ids (``python train.py 0.1`` and ``0.01`` differ)."""
    ids = [f"{name}={value}" for name in _LAUNCH_ENV if (value := env(name)) is not None]
    return "\0".join([os.getcwd(), *(sys.argv or [""]), "\1", *ids])


def _auto_resume_file(root: Path) -> Path:
    # Files written by trackers before the command line counted (cwd + argv[0] only) have
    # other names: they are never read again, so such a run is not resumed by mistake.
    import hashlib

    key = launch_identity().encode()
    return root / ".resume" / (hashlib.sha256(key).hexdigest()[:24] + ".id")


def _auto_resumable(auto_file: Path, root: Path, project: str) -> tuple[str | None, bool]:
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


def _check_exists(root: Path, project: str, run_id: str, resume: str | None) -> bool:
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


def _release(lease: _lease.Lease, writer: Writer) -> None:
    """After ``finish``: give the lease back, unless the writer thread is still appending
    (its join timed out); then the OS drops it when the process exits."""
    if not writer.alive:
        lease.release()


def _resolve_resume_timeout(value: Any, st: Settings) -> float:
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


def init(
    *,
    entity: str | None = None,
    project: str | None = None,
    dir: str | os.PathLike[str] | None = None,  # W&B's keyword
    id: str | None = None,  # W&B's keyword
    name: str | None = None,
    notes: str | None = None,
    tags: list[str] | tuple[str, ...] | None = None,
    config: Any = None,
    config_exclude_keys: list[str] | None = None,
    config_include_keys: list[str] | None = None,
    allow_val_change: bool | None = None,
    group: str | None = None,
    job_type: str | None = None,
    mode: str | None = None,
    force: bool | None = None,
    anonymous: str | None = None,
    reinit: bool | str | None = None,
    resume: bool | str | None = None,
    resume_from: str | None = None,
    resume_timeout: float | None = None,
    fork_from: str | None = None,
    save_code: bool | None = None,
    tensorboard: bool | None = None,
    sync_tensorboard: bool | None = None,
    monitor_gym: bool | None = None,
    settings: Settings | dict[str, Any] | None = None,
    **unknown: Any,
) -> Run:
    """Start (or resume) a run and make it the current one; W&B's ``wandb.init``.

    Every ``wandb.init`` keyword is accepted. ``dir`` is the data root for this run
    (default ``$TRACKER_DIR`` or ``~/.tracker``). Keywords tracker does not act on
    (``force``, ``anonymous``, ``save_code``, ``tensorboard``, ``sync_tensorboard``,
    ``monitor_gym``, ``fork_from``) and unknown keywords give one ``TrackerWarning``.

    Args:
        entity: Recorded as the run's entity.
        project: Project name (default ``$TRACKER_PROJECT`` or ``uncategorized``).
        dir: Data root override.
        id: Run id (generated when omitted).
        name: Display name (defaults to the id).
        notes: Free text.
        tags: Tags.
        config: Hyperparameters: dict, dataclass, argparse.Namespace, OmegaConf or a
            path to a YAML file.
        config_exclude_keys: Config keys to leave out.
        config_include_keys: The only config keys to keep.
        allow_val_change: Accepted (config values may always change).
        group: Group name (e.g. one per distributed job).
        job_type: Job type (``train``, ``eval``, ...).
        mode: ``offline`` (default), ``online`` (also streams to the configured team
            server) or ``disabled`` (every call is a cheap no-op).
        force: Ignored (no accounts needed).
        anonymous: Ignored.
        reinit: What a second ``init`` does while a run is active: ``return_previous``,
            ``finish_previous``, ``create_new`` or ``default``; ``True`` means
            ``finish_previous``.
        resume: ``allow``, ``must``, ``never``, ``auto`` (or ``True`` = ``auto``).
            ``auto`` resumes the run that the same launch (working directory, whole
            command line and the scheduler's job/array id) left unfinished; a launch
            that differs in any of them, or that runs while that run is still being
            written, starts a new run.
        resume_timeout: Seconds to wait while another live process writes the run
            (default ``settings.resume_timeout``, ``$TRACKER_RESUME_TIMEOUT`` or 0: raise
            ``UsageError`` at once, naming that process's host and pid). One process
            writes a run at a time: ``init`` takes the run's lease (``<run>/.lease``),
            which ``finish`` gives back and the OS drops when the process dies.
        resume_from: ``"<run_id>?_step=N"``: continue that run after step N; rows with
            ``_step > N`` are marked superseded (kept on disk, hidden).
        fork_from: Not supported yet (warns).
        save_code: Ignored (the git diff is captured instead).
        tensorboard: Ignored.
        sync_tensorboard: Ignored.
        monitor_gym: Ignored.
        settings: ``tracker.Settings`` or a dict of settings.
        **unknown: Unknown keywords: ignored with one warning each.

    Returns:
        The :class:`tracker.Run`.

    Raises:
        UsageError: Invalid names, ids, modes or resume values, or another live process
            writes the run (after ``resume_timeout``).
        RunNotFoundError: ``resume="must"`` or ``resume_from`` names a run that does not exist.

    Example:
        >>> import tracker
        >>> run = tracker.init(project="demo", config={"lr": 1e-3})  # doctest: +SKIP
        >>> run.log({"loss": 0.5})  # doctest: +SKIP
        >>> run.finish()  # doctest: +SKIP
    """
    st = coerce_settings(settings)
    ignored = {
        k: v
        for k, v in zip(
            _IGNORED, (force, anonymous, save_code, tensorboard, sync_tensorboard, monitor_gym), strict=True
        )
        if v
    }
    if fork_from is not None:
        ignored["fork_from"] = fork_from
    ignored.update(unknown)
    for key in [*ignored, *st.unimplemented()]:
        warnings.warn(
            f"tracker.init: {key!r} is not supported by tracker and is ignored.",
            TrackerWarning,
            stacklevel=2,
        )
    run_mode = _resolve_mode(mode, st)
    policy = _resolve_reinit(reinit, st)
    existing = _process.active()
    if existing:
        if policy == "return_previous":
            warnings.warn(
                f"tracker.init: run {existing[-1].id} is still active; returning it. Pass "
                "reinit='finish_previous' or 'create_new' to start another.",
                TrackerWarning,
                stacklevel=2,
            )
            return cast(Run, existing[-1])  # _process holds runs by their port
        if policy == "finish_previous":
            for old in reversed(existing):
                old.finish()
    if run_mode == "disabled":
        from tracker._disabled import DisabledRun

        disabled = DisabledRun(
            project=project or DEFAULT_PROJECT, name=name, run_id=id, config=_load_config(config)
        )
        _process.register(disabled, handle_sigterm=False)
        return disabled
    if env(ENV_SWEEP_PARAM_PATH):  # a sweep agent staged this run (tracker._sweep_trial)
        from tracker._sweep_trial import init_overrides

        project, id = init_overrides(project, id)
    return _start(
        st=st,
        run_mode=run_mode,
        entity=entity or st.get("entity") or env(ENV_ENTITY),
        project=project or st.get("project") or env(ENV_PROJECT) or DEFAULT_PROJECT,
        root=data_root(dir if dir is not None else st.get("root_dir")),
        run_id=id or st.get("run_id") or env(ENV_RUN_ID),
        name=name or st.get("run_name") or env(ENV_RUN_NAME),
        notes=notes or st.get("run_notes") or env(ENV_NOTES),
        tags=tags if tags is not None else (st.get("run_tags") or _env_tags()),
        group=group or st.get("run_group") or env(ENV_RUN_GROUP),
        job_type=job_type or st.get("run_job_type") or env(ENV_JOB_TYPE),
        resume=_resolve_resume(resume if resume is not None else st.get("resume")),
        resume_from=resume_from or st.get("resume_from"),
        resume_timeout=_resolve_resume_timeout(resume_timeout, st),
        config=config,
        include=config_include_keys,
        exclude=config_exclude_keys,
    )


def _env_tags() -> tuple[str, ...]:
    raw = env(ENV_TAGS)
    return tuple(t.strip() for t in raw.split(",") if t.strip()) if raw else ()


def _load_config(config: Any) -> Any:
    if isinstance(config, (str, os.PathLike)):
        path = Path(config)
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            raise UsageError(f"init(config={str(config)!r}): a string config must be a YAML file path.")
        import yaml

        loaded = yaml.safe_load(path.read_text())
        if not isinstance(loaded, dict):
            raise UsageError(f"{path}: the YAML config must be a mapping at the top level.")
        # W&B's config-defaults.yaml style: {"lr": {"value": 0.1, "desc": ...}}
        return {k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in loaded.items()}
    return config


def _start(
    *,
    st: Settings,
    run_mode: str,
    entity: str | None,
    project: str,
    root: Path,
    run_id: str | None,
    name: str | None,
    notes: str | None,
    tags: Any,
    group: str | None,
    job_type: str | None,
    resume: str | None,
    resume_from: str | None,
    resume_timeout: float,
    config: Any,
    include: list[str] | None,
    exclude: list[str] | None,
) -> Run:
    global _online_warned
    check_name(project, "project")
    config = _load_config(config)
    # Validated before anything is created: a bad config must not leave a half-started run.
    items = _filter_config(config, include, exclude) if config is not None else {}
    rewind: int | None = None
    auto_file: Path | None = None
    if resume_from is not None:
        rid, rewind = _parse_resume_from(resume_from)
        if run_id is not None and run_id != rid:
            raise UsageError(f"init(id={run_id!r}, resume_from={resume_from!r}) name different runs.")
        run_id = rid
        resume = "must"
    stats_every = _stats.interval(st)
    topo = _distributed.detect()
    auto_id: str | None = None
    # Under a launcher the job's derived id already identifies the launch (every rank
    # finds it, a relaunch resumes it); the auto file would make every rank a writer.
    if resume == "auto" and not (run_id is None and topo.job_id is not None):
        auto_file = _auto_resume_file(root)
        if run_id is None:
            auto_id, busy = _auto_resumable(auto_file, root, project)
            run_id = auto_id
            if busy:
                auto_file = None  # the live run keeps the record; this launch is a run of its own
    if run_id is None and (run_id := _distributed.derived_run_id(topo)) is not None:
        resume = resume or "allow"  # every process of the job, and a relaunch, joins one run
        if topo.role != "main":
            node_dir = run_dir_for(root, project, run_id)
            node = _distributed.secondary_run(
                topo,
                project=project,
                run_dir=node_dir,
                run_id=run_id,
                name=name,
                config=items,
            )
            if topo.role == "node" and topo.samples and stats_every > 0:
                _stats.attach_node(node, node_dir, stats_every, topo, st.get("x_label") or topo.host)
            _process.register(node, handle_sigterm=bool(st.get("handle_sigterm")))
            return node
    if tags is not None and (isinstance(tags, str) or not all(isinstance(t, str) for t in tags)):
        raise UsageError("init(tags=...) must be a list of strings.")
    texts = {"name": name, "notes": notes, "group": group, "job_type": job_type, "entity": entity}
    for field, text in texts.items():  # the run record's schema (docs/format.md 3.14)
        if text is not None and not isinstance(text, str):
            raise UsageError(f"init({field}={text!r}) must be a string.")
    if run_id is None:
        run_id = new_id()
    check_id(run_id)
    _check_exists(root, project, run_id, resume)  # before the lease creates the run directory
    try:
        lease = _lease.acquire(
            run_dir_for(root, project, run_id), timeout=resume_timeout, what=f"{project}/{run_id}"
        )
    except UsageError:
        if auto_id is None:
            raise
        # A relaunch of the same command got there first: this launch is a run of its own.
        run_id, auto_file = new_id(), None
        lease = _lease.acquire(run_dir_for(root, project, run_id), what=f"{project}/{run_id}")
    except OSError as exc:
        where = run_dir_for(root, project, run_id)
        raise StorageError(f"cannot create run directory {where}: {exc}", path=str(where)) from exc
    run_dir = run_dir_for(root, project, run_id)
    log_path = run_dir / LOG_NAME
    # Everything from here on, repair() first, runs under the lease; a failure gives it back.
    try:
        exists = _check_exists(root, project, run_id, resume)  # again: a writer may just have finished
        fsync = st.get("fsync") if st.is_set("fsync") else env_bool(ENV_FSYNC, True)
        disable_git = st.get("disable_git") or env_bool(ENV_DISABLE_GIT, False)
        heartbeat = float(st.get("heartbeat_seconds") or 30.0)
        now = time.time()
        resumed_state: RunState | None = None
        start_step = 0
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            if exists:
                resumed_state = RunState(keep_rows=rewind is not None)
                repaired = repair(log_path)
                resumed_state.feed(repaired.records)
                if repaired.end < HEADER_SIZE or not resumed_state.sessions:
                    # Killed before the header or the first record: nothing to resume.
                    resumed_state = None
                    exists = False
                    log_path.unlink()
                else:
                    start_step = resumed_state.max_step + 1
                    if rewind is not None:
                        start_step = min(rewind, resumed_state.max_step) + 1
        except OSError as exc:
            raise StorageError(f"cannot create run directory {run_dir}: {exc}", path=str(run_dir)) from exc
        summary: dict[str, Any] | None = None
        if resumed_state is not None:
            summary = dict(effective_summary(resumed_state))  # the index's rule too
            if resumed_state.max_step >= 0:
                summary["_step"] = resumed_state.max_step
            if rewind is not None:
                summary = {}
                for row in resumed_state.rows:
                    if row[0] <= rewind:
                        summary.update(row[2])
        cwd = Path.cwd()
        argv = list(sys.argv)
        capture_git = not disable_git
        writer = Writer(
            log_path,
            run_id=run_id,
            fsync=bool(fsync),
            flush_interval=float(st.get("flush_interval")),
            heartbeat=heartbeat,
            start_step=start_step,
            summary=summary,
            capture=lambda: capture(cwd=cwd, argv=argv, git=capture_git),
            media_max_bytes=int(st.get("queue_max_bytes")),
        )
        meta = resumed_state.meta if resumed_state is not None else {}
        run_name = name or meta.get("name") or run_id
        base_url = (env(ENV_UI_URL) or DEFAULT_UI).rstrip("/")
        run = Run(
            run_id=run_id,
            name=run_name,
            project=project,
            entity=entity or meta.get("entity"),
            group=group or meta.get("group"),
            job_type=job_type or meta.get("job_type"),
            tags=tuple(tags or meta.get("tags") or ()),
            notes=notes or meta.get("notes"),
            run_dir=run_dir,
            writer=writer,
            start_step=start_step,
            mode=run_mode,
            resumed=resumed_state is not None,
            max_rows=int(st.get("queue_max_rows")),
            finish_timeout=float(st.get("finish_timeout")),
            url=f"{base_url}/projects/{project}/runs/{run_id}",
            sweep_id=env(ENV_SWEEP_ID),
        )
        host = os.uname().nodename if hasattr(os, "uname") else ""
        try:
            if resumed_state is None:
                writer.open(file_header())
                writer.write_now(
                    [
                        R.RUN,
                        {
                            "id": run_id,
                            "project": project,
                            "entity": run.entity,
                            "name": run_name,
                            "group": run.group,
                            "job_type": run.job_type,
                            "tags": list(run.tags),
                            "notes": run.notes,
                            "created": now,
                            "pid": os.getpid(),
                            "host": host,
                            "start_time": _proc_start_time(),
                            "mode": run_mode,
                            "format_version": FORMAT_VERSION,
                            "tracker_version": __version__,
                            "sweep_id": run.sweep_id,
                        },
                    ]
                )
            else:
                writer.open(None)
                writer.write_now(
                    [
                        R.RESUME,
                        {
                            "ts": now,
                            "pid": os.getpid(),
                            "host": host,
                            "start_time": _proc_start_time(),
                            "rewind": rewind,
                            "mode": run_mode,
                            "step": start_step,
                            "name": name,
                            "tags": list(tags) if tags is not None else None,
                            "notes": notes,
                        },
                    ]
                )
                run.config._load(resumed_state.config)
        except OSError as exc:
            raise StorageError(f"cannot open run log {log_path}: {exc}", path=str(log_path)) from exc
        _stats.attach(run, stats_every, topo, st.get("x_label"))
    except BaseException:
        lease.release()
        raise
    run.after_close(lambda: _release(lease, writer), first=True)
    writer.start()
    _process.register(run, handle_sigterm=bool(st.get("handle_sigterm")))
    if auto_file is not None:
        _write_auto_file(auto_file, project, run_id, run)
    if items:
        run.config.update(items)
    if run.sweep_id and env(ENV_SWEEP_PARAM_PATH):
        from tracker._sweep_trial import lock_params

        lock_params(run, items)
    console = st.get("console") if st.is_set("console") else (env(ENV_CONSOLE) or "auto")
    if console not in ("off", False):
        _tee_console(run, writer)
    uploading = run_mode == "online" and _start_uploader(run, st, log_path, project, run_id)
    if run_mode == "online" and not uploading and not _online_warned:
        _online_warned = True
        warnings.warn(
            "tracker.init(mode='online'): no team server is configured (tracker login or "
            "TRACKER_BASE_URL); logging locally. `tracker sync` can upload the run later.",
            TrackerWarning,
            stacklevel=3,
        )
    return run


def _start_uploader(run: Run, st: Settings, log_path: Path, project: str, run_id: str) -> bool:
    """Online mode: start the uploader thread that ships the log; False when no server is configured.

    Nothing here touches the network: the thread does, after ``init`` has returned.
    """
    from tracker._settings import server_target
    from tracker._upload import Client, Uploader

    target = server_target(st)
    if target is None:
        return False
    uploader = Uploader(Client(*target), log_path, project, run_id)
    uploader.start()
    run._server = target  # use_artifact() looks there for versions the data root lacks
    limit = float(st.get("upload_timeout", 10.0))

    def wait_for_upload() -> None:
        if not uploader.close(limit):
            run._warn(
                "upload-timeout",
                f"run {run_id}: not everything reached the team server within {limit} s "
                f"({uploader.error or 'still sending'}); `tracker sync {log_path.parent}` ships the rest.",
            )

    run.after_close(wait_for_upload)
    return True


def _lineage_reader(root: Path, client: Any) -> LineageReader:
    """Artifacts of a run read ``logged_by``/``used_by`` through an ``Api`` (see tracker._lineage)."""
    from tracker.api import Api

    if client is None:
        return Api(root)
    return Api(base_url=client.base_url, api_key=client.api_key, timeout=client.timeout)


set_lineage_factory(_lineage_reader)


def _filter_config(config: Any, include: list[str] | None, exclude: list[str] | None) -> dict[str, Any]:
    from tracker._values import to_plain_mapping

    items = to_plain_mapping(config, "init(config=...)")
    if include:
        items = {k: v for k, v in items.items() if k in include}
    if exclude:
        items = {k: v for k, v in items.items() if k not in exclude}
    for key in items:
        if not isinstance(key, str):
            raise UsageError(f"init(config=...) keys must be strings; got {type(key).__name__} {key!r}.")
    return items


def _write_auto_file(path: Path, project: str, run_id: str, run: Any) -> None:
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


def _tee_console(run: Any, writer: Writer) -> None:
    console = writer.console

    def sink(line: list[Any]) -> None:
        if len(console) == console.maxlen:
            writer.dropped_console += 1
        console.append(line)

    out = ConsoleTee(sys.stdout, 0, sink) if sys.stdout is not None else None
    err = ConsoleTee(sys.stderr, 1, sink) if sys.stderr is not None else None
    if out is not None:
        sys.stdout = out
    if err is not None:
        sys.stderr = err

    def restore() -> None:
        for tee, attr in ((out, "stdout"), (err, "stderr")):
            if tee is None:
                continue
            tee.finish()
            if getattr(sys, attr) is tee:
                setattr(sys, attr, tee.wrapped)

    run.on_finish(restore)


def read_log(path: Path) -> RunState:
    """Fold a whole run log (helper for tests and the CLI)."""
    state = RunState()
    state.feed(read_frames(path).records)
    return state
