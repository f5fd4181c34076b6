"""``tracker.init``: the composition root that builds a run and wires its services.

``init`` resolves the settings, then :func:`_start` runs the named steps in order:
:func:`_identify` (run id, resume, launch topology), :func:`_take_lease` (one writer per
run), :func:`_open_run` under the lease (repair and fold an existing log, open the
writer, write the first record, start the sampler) and :func:`_wire` (the process hooks,
the ``resume="auto"`` record, config, the sweep's parameters, the console tee, the
uploader). It returns after creating the id, the run directory, the first record and the
writer thread; run capture (git, packages, host) happens in the writer afterwards. This
is the one module that hands services a run (they see it through
:class:`tracker._port.RunPort`).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Final, cast

from tracker import _console, _distributed, _process, _stats
from tracker._capture import ConsoleTee, capture
from tracker._init_extras import start_extras
from tracker._lineage import LineageReader, set_lineage_factory
from tracker._naming import DEFAULT_PROJECT, LOG_NAME, check_id, check_name, new_id, run_dir_for, run_page
from tracker._port import ArtifactOps
from tracker._run import Run, serve_artifacts
from tracker._run_args import (
    IGNORED,
    Args,
    check_record_fields,
    default_config,
    env_tags,
    filter_config,
    load_config,
    mode_origin,
    resolve_mode,
    resolve_reinit,
    resume_record,
    run_record,
)
from tracker._run_names import name_for_new_run
from tracker._run_resume import (
    Resumed,
    auto_resumable,
    check_exists,
    fold_existing,
    parse_resume_from,
    resolve_resume,
    resolve_resume_timeout,
    write_auto_file,
)
from tracker._run_resume import auto_resume_file as _auto_resume_file
from tracker._session import with_defaults
from tracker._settings import (
    ENV_CONSOLE,
    ENV_DISABLE_GIT,
    ENV_ENTITY,
    ENV_FSYNC,
    ENV_JOB_TYPE,
    ENV_NOTES,
    ENV_PROJECT,
    ENV_RUN_GROUP,
    ENV_RUN_ID,
    ENV_RUN_NAME,
    ENV_SWEEP_ID,
    ENV_SWEEP_PARAM_PATH,
    ENV_UI_URL,
    Settings,
    coerce_settings,
    data_root,
    env,
    env_bool,
    server_target,
)
from tracker._sweep_trial import init_overrides, lock_params
from tracker._writer import Writer
from tracker.errors import StorageError, TrackerWarning, UsageError
from tracker.storage import _lease
from tracker.storage._format import R, file_header, read_frames
from tracker.storage._replay import RunState

__all__ = ["init"]

DEFAULT_UI: Final = "http://127.0.0.1:8765"  # `tracker ui`'s default port (tracker._ui_link)
_online_warned = False


def _release(lease: _lease.Lease, writer: Writer) -> None:
    """After ``finish``: give the lease back, unless the writer thread is still appending
    (its join timed out); then the OS drops it when the process exits."""
    if not writer.alive:
        lease.release()


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
    (``force``, ``anonymous``, ``monitor_gym``, ``fork_from``) and unknown keywords give one
    ``TrackerWarning``.

    Args:
        entity: Recorded as the run's entity.
        project: Project name (default ``$TRACKER_PROJECT`` or ``uncategorized``).
        dir: Data root override.
        id: Run id (generated when omitted).
        name: Display name (defaults to the id).
        notes: Free text.
        tags: Tags.
        config: Hyperparameters: dict, dataclass, argparse.Namespace, any object with
            ``__dict__``, absl flags, OmegaConf or a path to a YAML file.
            ``config-defaults.yaml`` in the working directory and the ``config_paths``
            setting give defaults, as in W&B.
        config_exclude_keys: Config keys to leave out.
        config_include_keys: The only config keys to keep.
        allow_val_change: Accepted (config values may always change).
        group: Group name (e.g. one per distributed job).
        job_type: Job type (``train``, ``eval``, ...).
        mode: ``offline`` (default), ``online`` (also streams to the configured team
            server; with none configured, a warning and ``offline``) or ``disabled``
            (every call is a cheap no-op). ``WANDB_MODE`` is the fallback of
            ``TRACKER_MODE`` (docs/compat.md).
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
        save_code: Log the script as a ``code`` artifact (default: the ``save_code``
            setting or ``$TRACKER_SAVE_CODE``; ``disable_code`` turns it off).
        tensorboard: Same as ``sync_tensorboard`` (W&B's older name).
        sync_tensorboard: Mirror ``torch.utils.tensorboard``, tensorboardX and
            ``tf.summary`` writers into this run until it finishes (see
            :mod:`tracker.tensorboard`).
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
    st = with_defaults(coerce_settings(settings))
    flags = (force, anonymous, monitor_gym)
    ignored = {k: v for k, v in zip(IGNORED, flags, strict=True) if v}
    if fork_from is not None:
        ignored["fork_from"] = fork_from
    _warn_ignored([*ignored, *unknown, *st.unimplemented()])
    run_mode = resolve_mode(mode, st)
    if run_mode == "online" and server_target(st) is None:
        run_mode = "offline"
        _warn_no_server(mode_origin(mode, st))
    previous = _previous_run(resolve_reinit(reinit, st))
    if previous is not None:
        return previous
    if run_mode == "disabled":
        return _start_disabled(project or DEFAULT_PROJECT, name, id, config)
    if env(ENV_SWEEP_PARAM_PATH):  # a sweep agent staged this run (tracker._sweep_trial)
        project, id = init_overrides(project, id)
    run = _start(
        Args(
            st=st,
            run_mode=run_mode,
            entity=entity or st.get("entity") or env(ENV_ENTITY),
            project=project or st.get("project") or env(ENV_PROJECT) or DEFAULT_PROJECT,
            root=data_root(dir if dir is not None else st.get("root_dir")),
            run_id=id or st.get("run_id") or env(ENV_RUN_ID),
            name=name or st.get("run_name") or env(ENV_RUN_NAME),
            notes=notes or st.get("run_notes") or env(ENV_NOTES),
            tags=tags if tags is not None else (st.get("run_tags") or env_tags()),
            group=group or st.get("run_group") or env(ENV_RUN_GROUP),
            job_type=job_type or st.get("run_job_type") or env(ENV_JOB_TYPE),
            resume=resolve_resume(resume if resume is not None else st.get("resume")),
            resume_from=resume_from or st.get("resume_from"),
            resume_timeout=resolve_resume_timeout(resume_timeout, st),
            config=config,
            include=config_include_keys,
            exclude=config_exclude_keys,
        )
    )
    start_extras(run, st, save_code, bool(sync_tensorboard or tensorboard))
    return run


def _warn_no_server(origin: str) -> None:
    """Online mode without a team server: one warning per process; the run is offline."""
    global _online_warned
    if _online_warned:
        return
    _online_warned = True
    warnings.warn(
        f"tracker.init: {origin} but no team server is configured (tracker login or "
        "TRACKER_BASE_URL; WANDB_BASE_URL and WANDB_API_KEY are never read); the run is "
        "offline. `tracker sync` can upload it later.",
        TrackerWarning,
        stacklevel=3,
    )


def _warn_ignored(keys: list[str]) -> None:
    """One ``TrackerWarning`` per keyword or setting tracker accepts but does not act on."""
    if not keys:
        return  # the usual case: init does not pay for importing difflib
    from tracker._human import did_you_mean

    known = init.__code__.co_varnames[: init.__code__.co_argcount + init.__code__.co_kwonlyargcount]
    for key in keys:
        hint = "" if key in known else did_you_mean(key, known)  # init(projet=...): a typo
        warnings.warn(
            f"tracker.init: {key!r} is not supported by tracker and is ignored{hint or '.'}",
            TrackerWarning,
            stacklevel=3,
        )


def _previous_run(policy: str) -> Run | None:
    """Apply ``reinit`` to the runs still active: the one to return, or None to start another."""
    existing = _process.active()
    if existing and policy == "return_previous":
        warnings.warn(
            f"tracker.init: run {existing[-1].id} is still active; returning it. Pass "
            "reinit='finish_previous' or 'create_new' to start another.",
            TrackerWarning,
            stacklevel=3,
        )
        return cast(Run, existing[-1])  # _process holds runs by their port
    if existing and policy == "finish_previous":
        for old in reversed(existing):
            old.finish()
    return None


def _start_disabled(project: str, name: str | None, run_id: str | None, config: Any) -> Run:
    """``mode="disabled"``: a run that records nothing (no file, no thread)."""
    from tracker._disabled import DisabledRun

    disabled = DisabledRun(project=project, name=name, run_id=run_id, config=load_config(config))
    _process.register(disabled, handle_sigterm=False)
    return disabled


class _Launch:
    """Which run this process starts or joins, filled in by the steps of :func:`_start`."""

    def __init__(
        self,
        run_id: str | None,
        resume: str | None,
        rewind: int | None,
        items: dict[str, Any],
        stats_every: float,
        topo: _distributed.Topology,
    ) -> None:
        self.run_id = run_id
        self.resume = resume
        self.rewind = rewind
        self.items = items
        self.stats_every = stats_every
        self.topo = topo
        self.auto_file: Path | None = None
        self.auto_id: str | None = None
        self.derived = False

    @property
    def id(self) -> str:
        assert self.run_id is not None  # set by _take_lease
        return self.run_id


def _start(a: Args) -> Run:
    check_name(a.project, "project")
    launch = _identify(a)
    if launch.derived and launch.topo.role != "main":
        return _start_secondary(a, launch)
    check_record_fields(a)
    lease = _take_lease(a, launch)
    try:  # everything from here on, repair() first, runs under the lease; a failure gives it back
        run, writer = _open_run(a, launch)
    except BaseException:
        lease.release()
        raise
    run.after_close(lambda: _release(lease, writer), first=True)
    writer.start()
    _wire(run, writer, a, launch)
    return run


def _identify(a: Args) -> _Launch:
    """Step 1: the config, the run id and resume mode, the launch's topology (nothing created yet)."""
    config = load_config(a.config)
    # Validated before anything is created: a bad config must not leave a half-started run.
    items = filter_config(config, a.include, a.exclude) if config is not None else {}
    defaults = default_config(a.st)
    if defaults:
        items = {**filter_config(defaults, None, None), **items}
    run_id, resume, rewind = a.run_id, a.resume, None
    if a.resume_from is not None:
        rid, rewind = parse_resume_from(a.resume_from)
        if run_id is not None and run_id != rid:
            raise UsageError(f"init(id={run_id!r}, resume_from={a.resume_from!r}) name different runs.")
        run_id, resume = rid, "must"
    launch = _Launch(run_id, resume, rewind, items, _stats.interval(a.st), _distributed.detect())
    # Under a launcher the job's derived id already identifies the launch (every rank
    # finds it, a relaunch resumes it); the auto file would make every rank a writer.
    if resume == "auto" and not (run_id is None and launch.topo.job_id is not None):
        launch.auto_file = _auto_resume_file(a.root)
        if run_id is None:
            launch.auto_id, busy = auto_resumable(launch.auto_file, a.root, a.project)
            launch.run_id = launch.auto_id
            if busy:
                launch.auto_file = None  # the live run keeps the record; this launch is a run of its own
    if launch.run_id is None and (derived := _distributed.derived_run_id(launch.topo)) is not None:
        launch.run_id, launch.derived = derived, True
        launch.resume = launch.resume or "allow"  # every process of the job, and a relaunch, joins one run
    return launch


def _start_secondary(a: Args, launch: _Launch) -> Run:
    """A non-main rank of a distributed job: a no-op run; a node's local rank 0 samples its node."""
    topo, run_dir = launch.topo, run_dir_for(a.root, a.project, launch.id)
    node = _distributed.secondary_run(
        topo, project=a.project, run_dir=run_dir, run_id=launch.id, name=a.name, config=launch.items
    )
    if topo.role == "node" and topo.samples and launch.stats_every > 0:
        _stats.attach_node(node, run_dir, launch.stats_every, topo, a.st.get("x_label") or topo.host)
    _process.register(node, handle_sigterm=bool(a.st.get("handle_sigterm")))
    return node


def _take_lease(a: Args, launch: _Launch) -> _lease.Lease:
    """Step 2: the final run id and the run's writer lease (one writer per run)."""
    if launch.run_id is None:
        launch.run_id = new_id()
    run_id = check_id(launch.run_id)
    check_exists(a.root, a.project, run_id, launch.resume)  # before the lease creates the run directory
    try:
        return _lease.acquire(
            run_dir_for(a.root, a.project, run_id), timeout=a.resume_timeout, what=f"{a.project}/{run_id}"
        )
    except UsageError:
        if launch.auto_id is None:
            raise
        # A relaunch of the same command got there first: this launch is a run of its own.
        launch.run_id, launch.auto_file = new_id(), None
        return _lease.acquire(run_dir_for(a.root, a.project, launch.id), what=f"{a.project}/{launch.id}")
    except OSError as exc:
        where = run_dir_for(a.root, a.project, run_id)
        raise StorageError(f"cannot create run directory {where}: {exc}", path=str(where)) from exc


def _open_run(a: Args, launch: _Launch) -> tuple[Run, Writer]:
    """Step 3, under the lease: fold an existing log, open the writer, write the first record."""
    run_dir = run_dir_for(a.root, a.project, launch.id)
    log_path = run_dir / LOG_NAME
    # Checked again: a writer may just have finished.
    exists = check_exists(a.root, a.project, launch.id, launch.resume)
    now = time.time()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        resumed = fold_existing(log_path, launch.rewind) if exists else None
    except OSError as exc:
        raise StorageError(f"cannot create run directory {run_dir}: {exc}", path=str(run_dir)) from exc
    writer = _make_writer(a.st, log_path, launch.id, resumed)
    run = _make_run(a, launch, run_dir, writer, resumed)
    try:
        if resumed is None:
            writer.open(file_header())
            writer.write_now([R.RUN, run_record(run, now)])
        else:
            writer.open(None)
            writer.write_now([R.RESUME, resume_record(a, launch.rewind, run, now)])
            run.config._load(resumed.state.config)
    except OSError as exc:
        raise StorageError(f"cannot open run log {log_path}: {exc}", path=str(log_path)) from exc
    _stats.attach(run, launch.stats_every, launch.topo, a.st.get("x_label"))
    return run, writer


def _make_writer(st: Settings, log_path: Path, run_id: str, resumed: Resumed | None) -> Writer:
    fsync = st.get("fsync") if st.is_set("fsync") else env_bool(ENV_FSYNC, True)
    capture_git = not (st.get("disable_git") or env_bool(ENV_DISABLE_GIT, False))
    cwd = Path.cwd()
    argv = list(sys.argv)
    return Writer(
        log_path,
        run_id=run_id,
        fsync=bool(fsync),
        flush_interval=float(st.get("flush_interval")),
        heartbeat=float(st.get("heartbeat_seconds") or 30.0),
        start_step=resumed.start_step if resumed is not None else 0,
        summary=resumed.summary if resumed is not None else None,
        capture=lambda: capture(cwd=cwd, argv=argv, git=capture_git),
        media_max_bytes=int(st.get("queue_max_bytes")),
    )


def _make_run(a: Args, launch: _Launch, run_dir: Path, writer: Writer, resumed: Resumed | None) -> Run:
    meta = resumed.state.meta if resumed is not None else {}
    base_url = (env(ENV_UI_URL) or DEFAULT_UI).rstrip("/")
    return Run(
        run_id=launch.id,
        name=a.name or meta.get("name") or name_for_new_run(run_dir, launch.id),
        project=a.project,
        entity=a.entity or meta.get("entity"),
        group=a.group or meta.get("group"),
        job_type=a.job_type or meta.get("job_type"),
        tags=tuple(a.tags or meta.get("tags") or ()),
        notes=a.notes or meta.get("notes"),
        run_dir=run_dir,
        writer=writer,
        start_step=resumed.start_step if resumed is not None else 0,
        mode=a.run_mode,
        resumed=resumed is not None,
        max_rows=int(a.st.get("queue_max_rows")),
        finish_timeout=float(a.st.get("finish_timeout")),
        url=base_url + run_page(a.project, launch.id),
        sweep_id=env(ENV_SWEEP_ID),
    )


def _wire(run: Run, writer: Writer, a: Args, launch: _Launch) -> None:
    """Step 4: hand the started run to its services (process hooks, config, console, uploader)."""
    st = a.st
    _process.register(run, handle_sigterm=bool(st.get("handle_sigterm")))
    if launch.auto_file is not None:
        write_auto_file(launch.auto_file, a.project, run.id, run)
    if launch.items:
        run.config.update(launch.items)
    if run.sweep_id and env(ENV_SWEEP_PARAM_PATH):
        lock_params(run, launch.items)
    if a.run_mode == "online":
        _start_uploader(run, st, writer.path, a.project, run.id)
    if st.get("silent") or st.get("quiet"):
        _console.quiet_while(run.id)  # termlog() too, as W&B's settings do
        run.on_finish(lambda: _console.loud_again(run.id))
    elif not _console.silenced():
        run._silent = False
        url = run.url if run.server is not None else _console.dashboard_page(a.root, run.project, run.id)
        _console.write(_console.init_lines(
            name=run.name, run_id=run.id, run_dir=run.dir, root=str(a.root), url=url,
            online=run.server is not None,
        ))  # fmt: skip
    console = st.get("console") if st.is_set("console") else (env(ENV_CONSOLE) or "auto")
    if console not in ("off", False):
        _tee_console(run, writer)


def _start_uploader(run: Run, st: Settings, log_path: Path, project: str, run_id: str) -> bool:
    """Online mode: start the uploader thread that ships the log; False when no server is configured.

    Nothing here touches the network: the thread does, after ``init`` has returned.
    """
    from tracker._naming import root_of
    from tracker._settings import server_target
    from tracker._upload import Client, Uploader
    from tracker.artifacts._store import BlobStore

    target = server_target(st)
    if target is None:
        return False
    blobs = BlobStore(root_of(log_path.parent))  # the artifact versions the run logs
    uploader = Uploader(Client(*target), log_path, project, run_id, blobs=blobs)
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


def _artifact_ops() -> ArtifactOps:
    """What serves ``Run``'s artifact methods, loaded on first use (``import tracker`` stays light)."""
    from tracker.artifacts._models import OPS

    return OPS


serve_artifacts(_artifact_ops)


def _lineage_reader(root: Path, client: Any) -> LineageReader:
    """Artifacts of a run read ``logged_by``/``used_by`` through an ``Api`` (see tracker._lineage)."""
    from tracker.api import Api

    if client is None:
        return Api(root)
    return Api(base_url=client.base_url, api_key=client.api_key, timeout=client.timeout)


set_lineage_factory(_lineage_reader)


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
