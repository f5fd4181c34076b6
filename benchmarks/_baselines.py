"""Baseline half of ``bench_log.py``: measure incumbent trackers on ``log(dict)``.

Every measurement runs in a FRESH subprocess (one process per measurement) with
an isolated environment, following the method of the performance anchors
(``shared/notes/perf-anchors.md``):

* ``HOME``, XDG and wandb config/cache dirs point into a private temporary
  folder; the process cwd is that folder's ``store/`` directory, which is also
  where each tool writes its data (so ``bytes/scalar`` counts only run data).
* wandb runs offline and quiet, mlflow has telemetry, system metrics and async
  logging off and uses a ``file:`` store, trackio writes to local SQLite only
  (``TRACKIO_DIR``), Hugging Face / gradio telemetry and hub access are off.

Tools (``TOOLS``):

* ``wandb``        ``wandb.init(mode="offline")``, ``wandb.log(d, step=i)``, ``run.finish()``
* ``trackio``      ``trackio.init(project=...)``, ``trackio.log(d, step=i)``, ``trackio.finish()``
* ``mlflow``       file store, ``mlflow.log_metrics(d, step=i)``, ``mlflow.end_run()``
* ``tensorboardX`` ``tensorboardX.SummaryWriter(dir)``, 10 x ``add_scalar(k, v, i)`` per "log", ``close()``
* ``floor``        ``collections.deque.append(dict(d))`` with a consumer thread that
  drains the deque every 10 ms (the physical floor of a hand-off to a thread).

Per measurement the worker reports: import time, init time, per-call latency of
one ``log()`` of a 10-float dict (each call timed on its own with
``perf_counter_ns``, median timer overhead subtracted; p50/p99/p99.9/max), mean
wall time per call over the loop, finish time, total time from the first log
call to the return of finish, scalars/s over that span, bytes on disk per
scalar, and peak RSS.

The worker uses only the stdlib plus the tool under test; nothing of
``tracker`` is imported, so this module can be imported (and run) without the
project installed. A tool whose package is missing makes the run FAIL with a
clear message; it is never skipped.

Usage::

    # all tools, default sizes, with the bench venv (python = sys.executable)
    .benchvenv/bin/python benchmarks/_baselines.py
    .benchvenv/bin/python benchmarks/_baselines.py --tools wandb,floor --calls 5000 --repeat 3
    .benchvenv/bin/python benchmarks/_baselines.py --calls mlflow=1000,wandb=10000 --json out.json

    # one raw measurement (normally launched by run_baselines)
    .benchvenv/bin/python benchmarks/_baselines.py worker --tool wandb --calls 20000 --out r.json

From Python::

    from _baselines import run_baselines, format_table   # benchmarks/ on sys.path
    results = run_baselines(["wandb", "floor"], calls=5000)
    print(format_table(results))
"""

from __future__ import annotations

# Keep the module-level imports minimal: the worker times the tool's import,
# and anything imported before it would be pre-loaded for the tool.
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

#: Names accepted by ``--tool`` / ``run_baselines``, in default run order.
TOOLS: tuple[str, ...] = ("floor", "trackio", "wandb", "tensorboardX", "mlflow")

#: Default number of ``log()`` calls per measurement. mlflow costs milliseconds
#: per call, so it gets fewer; all results are reported per call.
DEFAULT_CALLS: dict[str, int] = {
    "floor": 20_000,
    "trackio": 20_000,
    "wandb": 20_000,
    "tensorboardX": 20_000,
    "mlflow": 2_000,
}

#: Scalars per ``log()`` call.
KEYS: tuple[str, ...] = (
    "train/loss",
    "train/acc",
    "train/lr",
    "train/grad_norm",
    "train/throughput",
    "val/loss",
    "val/acc",
    "val/f1",
    "val/precision",
    "val/recall",
)

#: Module imported (and timed) for each tool, and its distribution names (first
#: one installed is reported as the version).
_IMPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "wandb": ("wandb", ("wandb",)),
    "trackio": ("trackio", ("trackio",)),
    "mlflow": ("mlflow", ("mlflow-skinny", "mlflow")),
    "tensorboardX": ("tensorboardX", ("tensorboardX",)),
    "floor": ("threading", ()),
}

_REQUIREMENTS = "benchmarks/requirements-bench.txt"

#: Exit status of a worker whose tool package is not installed.
EXIT_MISSING = 3


class BaselineError(RuntimeError):
    """A baseline measurement failed (missing package, crash, timeout)."""


# --------------------------------------------------------------------------- #
# Worker side (runs inside the fresh, isolated process)
# --------------------------------------------------------------------------- #


def bench_env(root: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Build the isolated environment for one measurement process.

    Args:
        root: Private temporary folder of this measurement. ``root/home`` becomes
            ``HOME`` and ``root/store`` the data directory.
        base: Environment to start from (default: ``os.environ``). Variables of
            the tools under test (``WANDB_*``, ``MLFLOW_*``, ``TRACKIO_*``,
            ``HF_*``) are dropped from it first.

    Returns:
        The environment mapping for the subprocess.
    """
    src = dict(os.environ if base is None else base)
    env = {
        k: v
        for k, v in src.items()
        if not k.startswith(("WANDB_", "MLFLOW_", "TRACKIO_", "HF_", "GRADIO_", "XDG_"))
    }
    home = os.path.join(root, "home")
    store = os.path.join(root, "store")
    env.update(
        {
            "HOME": home,
            "XDG_CONFIG_HOME": os.path.join(home, ".config"),
            "XDG_CACHE_HOME": os.path.join(home, ".cache"),
            "XDG_DATA_HOME": os.path.join(home, ".local", "share"),
            # wandb
            "WANDB_MODE": "offline",
            "WANDB_SILENT": "true",
            "WANDB_QUIET": "true",
            "WANDB_DISABLE_GIT": "true",
            "WANDB_DISABLE_CODE": "true",
            "WANDB_ERROR_REPORTING": "false",
            "WANDB_CONFIG_DIR": os.path.join(home, ".config", "wandb"),
            "WANDB_CACHE_DIR": os.path.join(home, ".cache", "wandb"),
            "WANDB_DATA_DIR": os.path.join(home, ".local", "share", "wandb"),
            # mlflow (file store is in "maintenance mode" in 3.x and refuses
            # to start without this opt-out)
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "false",
            "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
            "MLFLOW_ALLOW_FILE_STORE": "true",
            # generic / Hugging Face / gradio (trackio)
            "DO_NOT_TRACK": "true",
            "DISABLE_TELEMETRY": "1",
            "HF_HUB_OFFLINE": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "TRACKIO_DIR": store,
        }
    )
    return env


def _dir_bytes(path: str) -> int:
    """Return the apparent size (sum of ``st_size``) of all files under ``path``."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def _timer_overhead_ns(samples: int = 20_000) -> int:
    """Median cost of an empty ``t0 = perf_counter_ns(); t1 = perf_counter_ns()`` pair."""
    pc = time.perf_counter_ns
    out = [0] * samples
    for i in range(samples):
        t0 = pc()
        t1 = pc()
        out[i] = t1 - t0
    out.sort()
    return out[samples // 2]


def _rows(n: int) -> list[tuple[float, ...]]:
    """Pre-generate ``n`` rows of 10 pseudo-random floats (fixed seed)."""
    import random

    rnd = random.Random(1234).random
    return [tuple(rnd() for _ in KEYS) for _ in range(n)]


def _timed_loop(log: Callable[..., object], rows: list[tuple[float, ...]], lat: list[int]) -> None:
    """Call ``log(d, step=i)`` once per row, timing each call on its own.

    The dict is built outside the timed region; ``lat[i]`` receives the raw
    nanoseconds of call ``i`` (timer overhead included).
    """
    pc = time.perf_counter_ns
    k0, k1, k2, k3, k4, k5, k6, k7, k8, k9 = KEYS
    for i, r in enumerate(rows):
        d = {k0: r[0], k1: r[1], k2: r[2], k3: r[3], k4: r[4],
             k5: r[5], k6: r[6], k7: r[7], k8: r[8], k9: r[9]}  # fmt: skip
        t0 = pc()
        log(d, step=i)
        t1 = pc()
        lat[i] = t1 - t0


def _floor_loop(
    append: Callable[[dict[str, float]], None], rows: list[tuple[float, ...]], lat: list[int]
) -> None:
    """Same as :func:`_timed_loop` with ``append(dict(d))`` inlined (no adapter call)."""
    pc = time.perf_counter_ns
    k0, k1, k2, k3, k4, k5, k6, k7, k8, k9 = KEYS
    for i, r in enumerate(rows):
        d = {k0: r[0], k1: r[1], k2: r[2], k3: r[3], k4: r[4],
             k5: r[5], k6: r[6], k7: r[7], k8: r[8], k9: r[9]}  # fmt: skip
        t0 = pc()
        append(dict(d))
        t1 = pc()
        lat[i] = t1 - t0


def _percentile(sorted_vals: list[int], q: float) -> int:
    """Nearest-rank percentile of an ascending list (``q`` in [0, 1])."""
    import math

    n = len(sorted_vals)
    return sorted_vals[min(n - 1, max(0, math.ceil(q * n) - 1))]


def _version(dists: tuple[str, ...]) -> str:
    """Return the installed version of the first distribution found."""
    from importlib import metadata

    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "python " + sys.version.split()[0]


def measure(tool: str, calls: int, store: str) -> dict[str, object]:
    """Measure one tool in the current process (call this in a fresh process).

    Args:
        tool: One of :data:`TOOLS`.
        calls: Number of ``log()`` calls (each one 10 scalars).
        store: Directory the tool writes its data into (must exist, should be
            empty); its size after finish gives bytes/scalar.

    Returns:
        A JSON-serialisable result dict (times in seconds, latencies in µs).

    Raises:
        ModuleNotFoundError: The tool's package is not installed.
        ValueError: Unknown tool or ``calls < 1``.
    """
    if tool not in _IMPORTS:
        raise ValueError(f"unknown tool {tool!r}; choose from {', '.join(TOOLS)}")
    if calls < 1:
        raise ValueError("calls must be >= 1")
    pc = time.perf_counter

    # ---- import (first thing, before any other non-startup module) -------- #
    t0 = pc()
    if tool == "wandb":
        import wandb as mod
    elif tool == "trackio":
        import trackio as mod
    elif tool == "mlflow":
        import mlflow as mod
    elif tool == "tensorboardX":
        import tensorboardX as mod  # noqa: N813
    else:
        import collections
        import threading as mod
    import_s = pc() - t0

    rows = _rows(calls)
    lat = [0] * calls
    overhead_ns = _timer_overhead_ns()

    # ---- init ------------------------------------------------------------- #
    finish: Callable[[], object]
    t0 = pc()
    if tool == "wandb":
        run = mod.init(project="bench", dir=store, mode="offline")
        log = mod.log
        finish = run.finish
    elif tool == "trackio":
        mod.init(project="bench")
        log = mod.log
        finish = mod.finish
    elif tool == "mlflow":
        mod.set_tracking_uri("file:" + os.path.join(store, "mlruns"))
        mod.set_experiment("bench")
        mod.start_run()
        log = mod.log_metrics
        finish = mod.end_run
    elif tool == "tensorboardX":
        writer = mod.SummaryWriter(os.path.join(store, "tb"))
        add_scalar = writer.add_scalar

        def log(d: dict[str, float], step: int) -> None:
            for k, v in d.items():
                add_scalar(k, v, step)

        finish = writer.close
    else:
        dq: collections.deque[dict[str, float]] = collections.deque()
        stop = mod.Event()
        drained = [0]

        def consume() -> None:
            popleft = dq.popleft
            n = 0
            while True:
                done = stop.wait(0.01)
                try:
                    while True:
                        popleft()
                        n += 1
                except IndexError:
                    pass
                if done:
                    break
            drained[0] = n

        consumer = mod.Thread(target=consume, name="floor-consumer", daemon=True)
        consumer.start()

        def finish() -> None:
            stop.set()
            consumer.join()

    init_s = pc() - t0

    # ---- log loop --------------------------------------------------------- #
    t_first = pc()
    if tool == "floor":
        _floor_loop(dq.append, rows, lat)
    else:
        _timed_loop(log, rows, lat)
    t_loop = pc()
    finish()
    t_end = pc()
    if tool == "floor" and drained[0] != calls:
        raise RuntimeError(f"floor consumer drained {drained[0]} of {calls} items")

    import resource

    lat.sort()
    n = calls

    def us(ns: int) -> float:
        return max(0, ns - overhead_ns) / 1e3

    store_bytes = _dir_bytes(store)
    total_s = t_end - t_first
    return {
        "tool": tool,
        "version": _version(_IMPORTS[tool][1]),
        "python": sys.version.split()[0],
        "calls": n,
        "scalars_per_call": len(KEYS),
        "import_s": import_s,
        "init_s": init_s,
        "timer_overhead_ns": overhead_ns,
        "log_p50_us": us(_percentile(lat, 0.50)),
        "log_p99_us": us(_percentile(lat, 0.99)),
        "log_p999_us": us(_percentile(lat, 0.999)),
        "log_max_us": us(lat[-1]),
        "log_mean_us": (t_loop - t_first) / n * 1e6,
        "loop_s": t_loop - t_first,
        "finish_s": t_end - t_loop,
        "total_s": total_s,
        "scalars_per_s": n * len(KEYS) / total_s if total_s > 0 else float("inf"),
        "store_bytes": store_bytes,
        "bytes_per_scalar": store_bytes / (n * len(KEYS)),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _worker_main(argv: list[str]) -> int:
    """Entry point of one measurement: ``worker --tool NAME --calls N --out JSON [--store DIR]``.

    Parses ``argv`` by hand (argparse would pre-import modules the tools use).
    If ``--store`` is not given, the worker isolates itself: it creates a
    temporary folder, applies :func:`bench_env` to ``os.environ`` and changes
    into the store directory before importing the tool.

    Returns:
        0 on success, :data:`EXIT_MISSING` if the tool's package is missing,
        2 on bad arguments.
    """
    opts: dict[str, str] = {}
    it = iter(argv)
    for arg in it:
        if arg in ("--tool", "--calls", "--out", "--store"):
            try:
                opts[arg[2:]] = next(it)
            except StopIteration:
                sys.stderr.write(f"worker: {arg} needs a value\n")
                return 2
        else:
            sys.stderr.write(f"worker: unexpected argument {arg!r}\n")
            return 2
    if "tool" not in opts:
        sys.stderr.write("usage: _baselines.py worker --tool NAME [--calls N] [--out JSON] [--store DIR]\n")
        return 2
    tool = opts["tool"]
    if tool not in _IMPORTS:
        sys.stderr.write(f"worker: unknown tool {tool!r}; choose from {', '.join(TOOLS)}\n")
        return 2
    calls = int(opts.get("calls", DEFAULT_CALLS[tool]))
    store = opts.get("store")
    if store is None:  # standalone use: isolate ourselves
        import tempfile

        root = tempfile.mkdtemp(prefix=f"bench-{tool}-")
        env = bench_env(root)
        os.environ.clear()
        os.environ.update(env)
        store = os.path.join(root, "store")
        os.makedirs(os.environ["HOME"], exist_ok=True)
        os.makedirs(store, exist_ok=True)
        os.chdir(store)
        sys.stderr.write(f"worker: isolated in {root} (kept for inspection)\n")

    try:
        result: dict[str, object] = measure(tool, calls, store)
        status = 0
    except ModuleNotFoundError as exc:
        result = {
            "tool": tool,
            "error": (
                f"package for {tool!r} is not installed in {sys.executable} "
                f"(ModuleNotFoundError: {exc}); install the benchmark deps with "
                f"`{sys.executable} -m pip install -r {_REQUIREMENTS}`"
            ),
        }
        status = EXIT_MISSING

    import json

    text = json.dumps(result)
    if "out" in opts:
        with open(opts["out"], "w", encoding="utf-8") as fh:
            fh.write(text)
    sys.stdout.write("\n" + text + "\n")
    sys.stdout.flush()
    if status:
        sys.stderr.write(str(result["error"]) + "\n")
    return status


# --------------------------------------------------------------------------- #
# Parent side
# --------------------------------------------------------------------------- #


def _resolve_calls(tools: Iterable[str], calls: int | Mapping[str, int] | None) -> dict[str, int]:
    """Per-tool call counts from an int (all tools), a mapping (overrides) or None (defaults)."""
    out: dict[str, int] = {}
    for tool in tools:
        if calls is None:
            out[tool] = DEFAULT_CALLS[tool]
        elif isinstance(calls, int):
            out[tool] = calls
        else:
            out[tool] = int(calls.get(tool, DEFAULT_CALLS[tool]))
        if out[tool] < 1:
            raise ValueError(f"calls for {tool!r} must be >= 1")
    return out


def _tail(path: str, limit: int = 3000) -> str:
    """Return the last ``limit`` characters of a text file ('' if unreadable)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()[-limit:]
    except OSError:
        return ""


def run_worker(
    tool: str,
    calls: int,
    python: str | None = None,
    timeout: float = 600.0,
    keep_dir: bool = False,
) -> dict[str, object]:
    """Run one measurement of ``tool`` in a fresh, isolated subprocess.

    Args:
        tool: One of :data:`TOOLS`.
        calls: Number of ``log()`` calls.
        python: Interpreter to run the worker with (default ``sys.executable``);
            it must have the tool's package installed.
        timeout: Seconds before the worker (and its process group) is killed.
        keep_dir: Keep the temporary folder (data, ``worker.log``) for inspection.

    Returns:
        The worker's result dict (see :func:`measure`).

    Raises:
        BaselineError: The package is missing, the worker crashed or timed out.
    """
    import json
    import shutil
    import signal
    import subprocess
    import tempfile

    if tool not in _IMPORTS:
        raise BaselineError(f"unknown tool {tool!r}; choose from {', '.join(TOOLS)}")
    python = python or sys.executable
    root = tempfile.mkdtemp(prefix=f"bench-{tool}-")
    store = os.path.join(root, "store")
    out = os.path.join(root, "result.json")
    logf = os.path.join(root, "worker.log")
    env = bench_env(root)
    os.makedirs(env["HOME"])
    os.makedirs(store)
    cmd = [python, os.path.abspath(__file__), "worker",
           "--tool", tool, "--calls", str(calls), "--out", out, "--store", store]  # fmt: skip
    try:
        # Output goes to a file, not a pipe: a helper process that outlives the
        # worker (wandb-core) must not be able to block us on an open pipe.
        with open(logf, "wb") as log_fh:
            proc = subprocess.Popen(
                cmd, cwd=store, env=env, stdin=subprocess.DEVNULL,
                stdout=log_fh, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise BaselineError(
                    f"baseline {tool!r} timed out after {timeout:.0f} s ({calls} calls)\n{_tail(logf)}"
                ) from None
        result: dict[str, object] = {}
        if os.path.exists(out):
            with open(out, encoding="utf-8") as fh:
                result = json.load(fh)
        if rc == EXIT_MISSING:
            raise BaselineError(f"baseline {tool!r} FAILED: {result.get('error', 'package missing')}")
        if rc != 0 or "error" in result or not result:
            raise BaselineError(f"baseline {tool!r} FAILED (exit {rc}); worker output:\n{_tail(logf)}")
        return result
    finally:
        if not keep_dir:
            shutil.rmtree(root, ignore_errors=True)


def check_installed(tools: Iterable[str], python: str | None = None) -> None:
    """Fail fast if any tool's package is missing from ``python``.

    Args:
        tools: Tool names.
        python: Interpreter to check (default ``sys.executable``).

    Raises:
        BaselineError: One or more packages are missing (all are named).
    """
    import json
    import subprocess

    python = python or sys.executable
    modules = {t: _IMPORTS[t][0] for t in tools}
    code = (
        "import importlib.util, json, sys; "
        "print(json.dumps([m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]))"
    )
    try:
        proc = subprocess.run(
            [python, "-c", code, *modules.values()],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    except OSError as exc:
        raise BaselineError(f"cannot run benchmark interpreter {python!r}: {exc}") from exc
    if proc.returncode != 0:
        raise BaselineError(f"benchmark interpreter {python!r} failed: {proc.stderr.strip()[-2000:]}")
    missing = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    bad = [t for t, m in modules.items() if m in missing]
    if bad:
        raise BaselineError(
            f"baseline(s) {', '.join(bad)} FAILED: package(s) {', '.join(modules[t] for t in bad)} "
            f"not installed in {python}; install the benchmark deps with "
            f"`{python} -m pip install -r {_REQUIREMENTS}`"
        )


def _warm_up(tools: Iterable[str], python: str) -> None:
    """Import each tool once in a throwaway process (fills .pyc and page caches)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-warm-") as root:
        env = bench_env(root)
        os.makedirs(env["HOME"])
        for tool in tools:
            module = _IMPORTS[tool][0]
            subprocess.run(
                [python, "-c", f"import {module}"], cwd=root, env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, timeout=300, check=False,
            )  # fmt: skip


def _median_result(runs: list[dict[str, object]]) -> dict[str, object]:
    """Combine repeated results: median of every numeric field, the rest from run 0."""
    import statistics

    merged = dict(runs[0])
    for key, val in runs[0].items():
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            merged[key] = statistics.median(float(r[key]) for r in runs)  # type: ignore[arg-type]
    merged["calls"] = runs[0]["calls"]
    merged["repeats"] = len(runs)
    merged["runs"] = runs
    return merged


def run_baselines(
    tools: Iterable[str] | None = None,
    calls: int | Mapping[str, int] | None = None,
    python: str | None = None,
    repeat: int = 1,
    warmup: bool = True,
    timeout: float = 600.0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, object]]:
    """Measure the incumbents, one fresh isolated process per measurement.

    Args:
        tools: Tool names (default: all of :data:`TOOLS`).
        calls: ``log()`` calls per measurement: an int for every tool, a
            mapping of per-tool overrides, or None for :data:`DEFAULT_CALLS`.
        python: Interpreter with the tools installed (default ``sys.executable``).
        repeat: Measurements per tool; repetitions are interleaved round-robin
            across tools and numeric fields are reported as medians (the raw
            results are kept under ``"runs"``).
        warmup: Import every tool once in a throwaway process first.
        timeout: Per-measurement timeout in seconds.
        progress: Optional callback receiving one line per finished measurement.

    Returns:
        ``{tool: result}`` in the order given.

    Raises:
        BaselineError: Any measurement failed, including a missing package.
        ValueError: Unknown tool name or bad sizes.
    """
    tools = list(TOOLS if tools is None else tools)
    unknown = [t for t in tools if t not in _IMPORTS]
    if unknown:
        raise ValueError(f"unknown tool(s) {unknown}; choose from {', '.join(TOOLS)}")
    if repeat < 1:
        raise ValueError("repeat must be >= 1")
    python = python or sys.executable
    per_tool = _resolve_calls(tools, calls)
    check_installed(tools, python)
    if warmup:
        _warm_up(tools, python)
    raw: dict[str, list[dict[str, object]]] = {t: [] for t in tools}
    for rep in range(repeat):
        for tool in tools:
            res = run_worker(tool, per_tool[tool], python=python, timeout=timeout)
            raw[tool].append(res)
            if progress is not None:
                progress(
                    f"[{rep + 1}/{repeat}] {tool}: {res['calls']} calls, "
                    f"p50 {float(res['log_p50_us']):.1f} µs, total {float(res['total_s']):.2f} s"  # type: ignore[arg-type]
                )
    return {t: (runs[0] if len(runs) == 1 else _median_result(runs)) for t, runs in raw.items()}


_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # header, key, format
    ("tool", "tool", "{}"),
    ("version", "version", "{}"),
    ("calls", "calls", "{:.0f}"),
    ("import s", "import_s", "{:.3f}"),
    ("init s", "init_s", "{:.3f}"),
    ("log p50 µs", "log_p50_us", "{:,.2f}"),
    ("log p99 µs", "log_p99_us", "{:,.2f}"),
    ("mean µs/call", "log_mean_us", "{:,.2f}"),
    ("finish s", "finish_s", "{:.3f}"),
    ("first log→finished s", "total_s", "{:.3f}"),
    ("scalars/s", "scalars_per_s", "{:,.0f}"),
    ("B/scalar", "bytes_per_scalar", "{:.1f}"),
    ("peak RSS MB", "peak_rss_mb", "{:.0f}"),
)


def format_table(results: Mapping[str, Mapping[str, object]]) -> str:
    """Render results as a Markdown table (one row per tool).

    Args:
        results: Output of :func:`run_baselines` (or any ``{name: result}`` with
            the same fields; missing fields print as ``-``).

    Returns:
        The table as a string.
    """
    header = "| " + " | ".join(h for h, _, _ in _COLUMNS) + " |"
    sep = "|" + "|".join("---" for _ in _COLUMNS) + "|"
    lines = [header, sep]
    for res in results.values():
        cells = []
        for _, key, fmt in _COLUMNS:
            val = res.get(key)
            cells.append("-" if val is None else fmt.format(val))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _parse_calls(text: str | None) -> int | dict[str, int] | None:
    """Parse ``--calls``: ``N`` (all tools) or ``tool=N,tool=N`` (overrides)."""
    if text is None:
        return None
    if "=" not in text:
        return int(text)
    out: dict[str, int] = {}
    for part in text.split(","):
        name, _, num = part.partition("=")
        out[name.strip()] = int(num)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: ``[run] [--tools a,b] [--calls N|tool=N,...] [--repeat R] [--json PATH]``.

    ``worker ...`` as first argument runs one raw measurement instead
    (see :func:`_worker_main`).

    Returns:
        Process exit status (1 when a baseline failed).
    """
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "worker":
        return _worker_main(argv[1:])
    if argv and argv[0] == "run":
        argv = argv[1:]

    import argparse
    import json

    parser = argparse.ArgumentParser(description="Measure incumbent trackers (baselines for bench_log.py).")
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}"
    )
    parser.add_argument(
        "--calls", default=None, help="N for all tools, or tool=N,... overrides (default: per-tool)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="measurements per tool (medians reported)")
    parser.add_argument(
        "--python", default=None, help="interpreter with the tools installed (default: this one)"
    )
    parser.add_argument("--no-warmup", action="store_true", help="skip the throwaway import per tool")
    parser.add_argument("--timeout", type=float, default=600.0, help="per-measurement timeout, s")
    parser.add_argument("--json", default=None, help="also write all results to this JSON file")
    args = parser.parse_args(argv)

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    t0 = time.perf_counter()
    try:
        results = run_baselines(
            tools,
            calls=_parse_calls(args.calls),
            python=args.python,
            repeat=args.repeat,
            warmup=not args.no_warmup,
            timeout=args.timeout,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except BaselineError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    wall = time.perf_counter() - t0
    print(format_table(results))
    python = args.python or sys.executable
    print(f"\n(wall time {wall:.1f} s; python {python}; one fresh process per measurement)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"wall_s": wall, "results": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
