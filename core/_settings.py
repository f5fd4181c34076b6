"""Settings: every environment variable name, strict parsing, and ``tracker.Settings``.

Values resolve as argument > environment > default, and are read at call time
(never cached at import), so tests and users can change the environment freely.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from tracker.errors import TrackerWarning, UsageError

__all__ = ["Settings"]

ENV_DIR: Final = "TRACKER_DIR"
ENV_INDEX_DIR: Final = "TRACKER_INDEX_DIR"
ENV_MODE: Final = "TRACKER_MODE"
ENV_STRICT: Final = "TRACKER_STRICT"
ENV_PROJECT: Final = "TRACKER_PROJECT"
ENV_ENTITY: Final = "TRACKER_ENTITY"
ENV_RUN_ID: Final = "TRACKER_RUN_ID"
ENV_RUN_NAME: Final = "TRACKER_NAME"
ENV_RUN_GROUP: Final = "TRACKER_RUN_GROUP"
ENV_JOB_TYPE: Final = "TRACKER_JOB_TYPE"
ENV_TAGS: Final = "TRACKER_TAGS"
ENV_NOTES: Final = "TRACKER_NOTES"
ENV_RESUME: Final = "TRACKER_RESUME"
ENV_RESUME_TIMEOUT: Final = "TRACKER_RESUME_TIMEOUT"  # seconds init waits for a live writer of the run
ENV_FSYNC: Final = "TRACKER_FSYNC"
ENV_DISABLE_GIT: Final = "TRACKER_DISABLE_GIT"
ENV_CONSOLE: Final = "TRACKER_CONSOLE"
ENV_STATS_INTERVAL: Final = "TRACKER_STATS_INTERVAL"
ENV_HOST: Final = "TRACKER_HOST"
ENV_API_KEY: Final = "TRACKER_API_KEY"
ENV_BASE_URL: Final = "TRACKER_BASE_URL"
ENV_S3_ENDPOINT_URL: Final = "TRACKER_S3_ENDPOINT_URL"  # object store (tracker server --store s3://)
ENV_SWEEP_ID: Final = "TRACKER_SWEEP_ID"
ENV_SWEEP_PARAM_PATH: Final = "TRACKER_SWEEP_PARAM_PATH"  # set by sweep agents (tracker.sweeps)
ENV_SWEEP_RUN_TIMEOUT: Final = "TRACKER_SWEEP_RUN_TIMEOUT"  # seconds an agent lets one run take
ENV_UI_URL: Final = "TRACKER_UI_URL"
# Artifact references a download may follow (tracker.artifacts._refs): folders for file://
# (os.pathsep-separated) and an opt-in for http(s):// and s3://.
ENV_ARTIFACT_ROOTS: Final = "TRACKER_ARTIFACT_ROOTS"
ENV_ALLOW_REFERENCES: Final = "TRACKER_ALLOW_REFERENCES"
# Framework adapters (tracker.integrations), read through tracker._optional.adapter_env.
ENV_LOG_MODEL: Final = "TRACKER_LOG_MODEL"
ENV_WATCH: Final = "TRACKER_WATCH"
ENV_FINISH_ON_TRAIN_END: Final = "TRACKER_FINISH_ON_TRAIN_END"
ENV_NO_AUTOREGISTER: Final = "TRACKER_NO_AUTOREGISTER"
# Console lines at init/finish (tracker._console): off with either.
ENV_SILENT: Final = "TRACKER_SILENT"
ENV_QUIET: Final = "TRACKER_QUIET"
# Code capture (tracker._code): W&B's save_code and its off switch.
ENV_SAVE_CODE: Final = "TRACKER_SAVE_CODE"
ENV_DISABLE_CODE: Final = "TRACKER_DISABLE_CODE"
# YAML files whose keys are config defaults (comma-separated; W&B's config_paths).
ENV_CONFIG_PATHS: Final = "TRACKER_CONFIG_PATHS"
#: ``WANDB_DISABLED=true`` means ``mode="disabled"`` (read by tracker._run_args.resolve_mode).
WANDB_DISABLED: Final = "WANDB_DISABLED"

#: W&B's name for each setting, read when the ``TRACKER_*`` name is unset or empty, so that
#: W&B launch scripts keep working (docs/compat.md has the table). Credentials and server
#: addresses (``WANDB_API_KEY``, ``WANDB_BASE_URL``, ``WANDB_HOST``) are another service's
#: and are never read.
WANDB_FALLBACKS: Final[dict[str, str]] = {
    ENV_DIR: "WANDB_DIR",
    ENV_MODE: "WANDB_MODE",
    ENV_PROJECT: "WANDB_PROJECT",
    ENV_ENTITY: "WANDB_ENTITY",
    ENV_RUN_ID: "WANDB_RUN_ID",
    ENV_RUN_NAME: "WANDB_NAME",
    ENV_RUN_GROUP: "WANDB_RUN_GROUP",
    ENV_JOB_TYPE: "WANDB_JOB_TYPE",
    ENV_TAGS: "WANDB_TAGS",
    ENV_NOTES: "WANDB_NOTES",
    ENV_RESUME: "WANDB_RESUME",
    ENV_CONSOLE: "WANDB_CONSOLE",
    ENV_CONFIG_PATHS: "WANDB_CONFIG_PATHS",
    ENV_SILENT: "WANDB_SILENT",
    ENV_QUIET: "WANDB_QUIET",
    ENV_DISABLE_GIT: "WANDB_DISABLE_GIT",
    ENV_SAVE_CODE: "WANDB_SAVE_CODE",
    ENV_DISABLE_CODE: "WANDB_DISABLE_CODE",
    ENV_LOG_MODEL: "WANDB_LOG_MODEL",
    ENV_WATCH: "WANDB_WATCH",
    ENV_SWEEP_ID: "WANDB_SWEEP_ID",
    ENV_SWEEP_PARAM_PATH: "WANDB_SWEEP_PARAM_PATH",
}

_TRUE: Final = frozenset({"1", "true"})
_FALSE: Final = frozenset({"0", "false"})


def env(name: str) -> str | None:
    """Return the environment variable ``name``, or None when unset or empty.

    For a setting W&B also reads, W&B's variable (:data:`WANDB_FALLBACKS`) is the fallback.
    """
    return env_source(name)[1]


def env_source(name: str) -> tuple[str, str | None]:
    """``(variable, value)``: the variable that set ``name`` (itself or its ``WANDB_*``
    fallback) and its value; ``(name, None)`` when neither is set."""
    value = os.environ.get(name)
    if value:
        return name, value
    fallback = WANDB_FALLBACKS.get(name)
    if fallback is not None:
        value = os.environ.get(fallback)
        if value:
            return fallback, value
    return name, None


def env_raw(name: str) -> str | None:
    """Return the environment variable ``name`` as set, empty included; None when unset.

    For launcher variables where empty means something: ``CUDA_VISIBLE_DEVICES=""`` hides
    every GPU.
    """
    return os.environ.get(name)


def env_bool(name: str, default: bool) -> bool:
    """Parse a boolean environment variable strictly (``1/0/true/false``).

    Raises:
        UsageError: The value is anything else; the message names the variable.
    """
    var, raw = env_source(name)
    if raw is None:
        return default
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise UsageError(f"{var}={raw!r} is not a boolean; use 1, 0, true or false.", key=var)


def env_float(name: str, default: float) -> float:
    """Parse a float environment variable, naming the variable on error."""
    var, raw = env_source(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise UsageError(f"{var}={raw!r} is not a number.", key=var) from None


def environ_copy() -> dict[str, str]:
    """A copy of the whole environment (for run capture, which filters and redacts it).

    Run capture calls this from the writer thread while the training thread may be
    changing the environment; iterating ``os.environ`` then can raise RuntimeError, so
    retry a few times.
    """
    for _ in range(5):
        try:
            return dict(os.environ)
        except RuntimeError:
            continue
    return {}


def set_env(values: Mapping[str, str | None]) -> dict[str, str | None]:
    """Set (or, for None, unset) environment variables; return their previous values.

    For sweep agents, which stage a run's id and parameters for ``init()``.
    """
    previous: dict[str, str | None] = {}
    for name, value in values.items():
        previous[name] = os.environ.get(name)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    return previous


def strict() -> bool:
    """True when ``TRACKER_STRICT=1``: background failures raise instead of degrading."""
    return env_bool(ENV_STRICT, False)


def data_root(override: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``override`` > ``$TRACKER_DIR`` > ``~/.tracker``."""
    if override is not None:
        return Path(override).expanduser().absolute()
    raw = env(ENV_DIR)
    if raw is not None:
        return Path(raw).expanduser().absolute()
    return Path.home() / ".tracker"


_NETWORK_FS: Final = frozenset(
    {
        "nfs",
        "nfs4",
        "lustre",
        "gpfs",
        "cifs",
        "smb3",
        "smbfs",
        "ceph",
        "glusterfs",
        "fuse.sshfs",
        "beegfs",
        "panfs",
        "9p",
    }
)
_index_dirs: dict[Path, Path] = {}


def filesystem_type(path: Path, mounts: str = "/proc/mounts") -> str | None:
    """The filesystem type of ``path`` from the longest matching mount point (Linux), or None."""
    try:
        with open(mounts, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    target = path
    while not target.exists() and target != target.parent:
        target = target.parent
    resolved = str(target.resolve())
    best, best_type = -1, None
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount = parts[1].replace("\\040", " ")
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > best:
            best, best_type = len(mount), parts[2]
    return best_type


def index_dir(root: Path) -> Path:
    """Where the SQLite index and state store live.

    ``$TRACKER_INDEX_DIR`` when set; else the data root, unless the root is on a network
    filesystem (NFS, Lustre, GPFS, CIFS, ...), where SQLite locking is unreliable: then a
    per-root folder under ``~/.cache/tracker/index`` on local disk, announced once at INFO.
    """
    raw = env(ENV_INDEX_DIR)
    if raw is not None:
        return Path(raw).expanduser().absolute()
    cached = _index_dirs.get(root)
    if cached is not None:
        return cached
    chosen = root
    fstype = filesystem_type(root)
    if fstype in _NETWORK_FS:
        import hashlib
        import logging

        digest = hashlib.sha256(str(root).encode()).hexdigest()[:16]
        chosen = Path.home() / ".cache" / "tracker" / "index" / digest
        logging.getLogger("tracker").info(
            "tracker: data root %s is on %s; keeping the SQLite index and state store on local "
            "disk at %s (set %s to choose)",
            root,
            fstype,
            chosen,
            ENV_INDEX_DIR,
        )
    _index_dirs[root] = chosen
    return chosen


# W&B's documented ``wandb.Settings`` keys (wandb 0.31). Accepted so that W&B code runs;
# the ones tracker acts on are in _IMPLEMENTED. Keys starting with ``x_`` are W&B's
# experimental namespace and are accepted too.
_WANDB_KEYS: Final = frozenset(
    """allow_offline_artifacts allow_val_change anonymous api_key azure_account_url_to_access_key
    base_url code_dir config_paths console console_multipart credentials_file disable_code
    disable_git disable_job_creation docker email entity force fork_from git_commit git_remote
    git_remote_url git_root heartbeat_seconds host http_proxy https_proxy identity_token_file
    ignore_globs init_timeout insecure_disable_ssl job_name job_source label_disable launch
    launch_config_path login_timeout max_end_of_run_history_metrics
    max_end_of_run_summary_metrics mode notebook_name organization program program_abspath
    program_relpath project quiet reinit relogin resume resume_from resumed root_dir run_group
    run_id run_job_type run_name run_notes run_tags sagemaker_disable save_code settings_system
    show_errors show_info show_warnings silent start_method strict summary_timeout
    summary_warnings sweep_id sweep_param_path symlink sync_tensorboard
    table_raise_on_max_row_limit_exceeded username""".split()
)
# tracker's own keys.
_OWN_KEYS: Final = frozenset(
    {
        "fsync",
        "flush_interval",
        "finish_timeout",
        "queue_max_rows",
        "queue_max_bytes",
        "stats_interval",
        "capture_packages",
        "handle_sigterm",
        "upload_timeout",
        "resume_timeout",
    }
)
_IMPLEMENTED: Final = (
    frozenset(
        {
            "mode",
            "config_paths",
            "console",
            "disable_git",
            "root_dir",
            "project",
            "entity",
            "run_id",
            "run_name",
            "run_notes",
            "run_tags",
            "run_group",
            "run_job_type",
            "resume",
            "resume_from",
            "reinit",
            "silent",
            "quiet",
            "strict",
            "x_stats_sampling_interval",
            "x_disable_stats",
            "x_label",
            "heartbeat_seconds",
            "fork_from",
            "sweep_id",
            "save_code",
            "disable_code",
            "init_timeout",
            "host",
            "base_url",
            "api_key",
        }
    )
    | _OWN_KEYS
)

_DEFAULTS: Final[dict[str, Any]] = {
    "fsync": True,
    "flush_interval": 0.1,
    "finish_timeout": 30.0,
    "queue_max_rows": 100_000,
    "queue_max_bytes": 256 * 1024 * 1024,
    "stats_interval": 10.0,
    "capture_packages": True,
    "handle_sigterm": True,
    "upload_timeout": 10.0,
    "heartbeat_seconds": 30.0,
    "console": "auto",
    "disable_git": False,
}


class Settings:
    """Run settings, W&B-compatible: ``tracker.init(settings=tracker.Settings(...))``.

    Accepts W&B's documented ``wandb.Settings`` keys (those tracker does not act on are
    stored and ignored) and tracker's own keys (``fsync``, ``flush_interval``,
    ``finish_timeout``, ``queue_max_rows``, ``queue_max_bytes``, ``stats_interval``,
    ``capture_packages``, ``handle_sigterm``, ``upload_timeout``). An unknown key is an error.

    Args:
        **kwargs: Setting names and values.

    Raises:
        UsageError: A key is neither a W&B nor a tracker setting.

    Example:
        >>> s = Settings(console="off", fsync=False)
        >>> s.console
        'off'
    """

    def __init__(self, **kwargs: Any) -> None:
        self._values: dict[str, Any] = {}
        self.update(kwargs)

    def update(self, values: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        """Set several settings at once, validating each key."""
        merged = dict(values or {}, **kwargs)
        for key, value in merged.items():
            if key not in _WANDB_KEYS and key not in _OWN_KEYS and not key.startswith("x_"):
                raise UsageError(
                    f"Unknown setting {key!r}: tracker.Settings accepts W&B's documented "
                    "settings and tracker's own (fsync, flush_interval, finish_timeout, "
                    "queue_max_rows, queue_max_bytes, stats_interval, capture_packages, "
                    "handle_sigterm).",
                    key=key,
                )
            self._values[key] = value

    def unimplemented(self) -> list[str]:
        """Keys that were set but that tracker does not act on."""
        return sorted(k for k in self._values if k not in _IMPLEMENTED)

    def get(self, key: str, default: Any = None) -> Any:
        """Return a setting's value, its default, or ``default``."""
        if key in self._values:
            return self._values[key]
        return _DEFAULTS.get(key, default)

    def is_set(self, key: str) -> bool:
        """True when the user set ``key`` explicitly."""
        return key in self._values

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        if key in _WANDB_KEYS or key in _OWN_KEYS or key.startswith("x_"):
            return self.get(key)
        raise AttributeError(f"Settings has no attribute {key!r}")

    def __setattr__(self, key: str, value: Any) -> None:
        if key.startswith("_"):
            object.__setattr__(self, key, value)
        else:
            self.update({key: value})

    def to_dict(self) -> dict[str, Any]:
        """The explicitly set values."""
        return dict(self._values)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in sorted(self._values.items()))
        return f"Settings({inner})"


def coerce_settings(value: Settings | Mapping[str, Any] | None) -> Settings:
    """Accept a Settings, a plain dict (as W&B does) or None."""
    if value is None:
        return Settings()
    if isinstance(value, Settings):
        return value
    if isinstance(value, Mapping):
        return Settings(**dict(value))
    raise UsageError(f"settings must be tracker.Settings or a dict, not {type(value).__name__}.")


def unused_warning_category() -> type[Warning]:
    """The category used for ignored settings and keywords."""
    return TrackerWarning


def credentials_path() -> Path:
    """``$XDG_CONFIG_HOME/tracker/credentials`` (default ``~/.config/tracker/credentials``)."""
    base = env("XDG_CONFIG_HOME")
    return (Path(base) if base else Path.home() / ".config") / "tracker" / "credentials"


def read_credentials() -> dict[str, str]:
    """The stored team-server credentials (``host``, ``key``); empty when none or unreadable."""
    import json

    try:
        data = json.loads(credentials_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k in ("host", "key") and isinstance(v, str) and v}


def write_credentials(host: str, key: str) -> Path:
    """Store ``host`` and ``key`` with user-only permissions (0600); return the file's path.

    Raises:
        StorageError: The file cannot be written.
    """
    import json

    from tracker.errors import StorageError

    path = credentials_path()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"host": host, "key": key}, f)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write credentials to {path}: {exc}", path=str(path)) from exc
    return path


def server_target(settings: Settings | None = None) -> tuple[str, str | None] | None:
    """The team server to ship runs to: ``(base_url, api_key)``, or None when none is set.

    The URL resolves as ``settings.base_url`` > ``TRACKER_BASE_URL`` > ``TRACKER_HOST`` >
    the stored credentials (``tracker login``); the key as ``settings.api_key`` >
    ``TRACKER_API_KEY`` > the stored credentials.
    """
    st = settings.get if settings is not None else (lambda _k, _d=None: None)
    stored = read_credentials()
    url = st("base_url") or env(ENV_BASE_URL) or env(ENV_HOST) or stored.get("host")
    if not url:
        return None
    key = st("api_key") or env(ENV_API_KEY) or stored.get("key")
    return str(url).rstrip("/"), (str(key) if key else None)
