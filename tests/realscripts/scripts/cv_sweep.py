"""Cross-validation sweep run: each fold trains in a child process with its own run.

Written for this project after W&B's sweep cross-validation example
(https://github.com/wandb/examples/tree/master/examples/wandb-sweeps/sweeps-cross-validation;
its structure and names are kept, the code is this project's), keeping what makes it hard
for a tracker: the fold workers are forked *before* ``wandb.init()`` and wait on a queue;
each clears the ``WANDB_*`` variables it inherited (the sweep agent's run id among them)
but keeps project/entity, starts its own run grouped by the sweep id, ends it with
``wandb.join()`` and sends its score back; the parent (the sweep's run, started by the
agent) logs the mean. The example's random score is replaced by a real k-fold fit of a
ridge classifier on synthetic data (deterministic).

Run by a sweep agent (``wandb agent`` / ``tracker agent``), or directly.
``REALSCRIPTS_SDK=tracker`` runs it with ``import tracker as wandb``.
"""

import collections
import multiprocessing
import os

import numpy as np

if os.environ.get("REALSCRIPTS_SDK") == "tracker":
    import tracker as wandb
else:
    import wandb

Worker = collections.namedtuple("Worker", ("queue", "process"))
WorkerInitData = collections.namedtuple("WorkerInitData", ("num", "sweep_id", "sweep_run_name", "config"))
WorkerDoneData = collections.namedtuple("WorkerDoneData", ("val_accuracy",))

NUM_FOLDS = 3


def reset_wandb_env():
    exclude = {"WANDB_PROJECT", "WANDB_ENTITY", "WANDB_API_KEY"}
    for key in list(os.environ):
        if key.startswith("WANDB_") and key not in exclude:
            del os.environ[key]


def fold_accuracy(num, config):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = np.sign(x @ np.array([1.0, 0.5, -1.0]) + 0.3 * rng.normal(size=60))
    val = np.arange(len(y)) % NUM_FOLDS == num
    xt, yt = x[~val], y[~val]
    w = np.linalg.solve(xt.T @ xt + config["alpha"] * np.eye(3), xt.T @ yt)
    return round(float((np.sign(x[val] @ w) == y[val]).mean()), 6)


def train(sweep_q, worker_q):
    reset_wandb_env()
    worker_data = worker_q.get()
    run_name = f"{worker_data.sweep_run_name}-{worker_data.num}"
    run = wandb.init(
        group=worker_data.sweep_id,
        job_type=worker_data.sweep_run_name,
        name=run_name,
        config=worker_data.config,
    )
    val_accuracy = fold_accuracy(worker_data.num, worker_data.config)
    run.log(dict(val_accuracy=val_accuracy))
    wandb.join()
    sweep_q.put(WorkerDoneData(val_accuracy=val_accuracy))


def main():
    # Spin up workers before calling wandb.init(): they block on a queue until told to start.
    sweep_q = multiprocessing.Queue()
    workers = []
    for _ in range(NUM_FOLDS):
        q = multiprocessing.Queue()
        p = multiprocessing.Process(target=train, kwargs=dict(sweep_q=sweep_q, worker_q=q))
        p.start()
        workers.append(Worker(queue=q, process=p))

    sweep_run = wandb.init(config={"alpha": 1.0})
    sweep_id = sweep_run.sweep_id or "unknown"
    sweep_run_name = sweep_run.name or sweep_run.id or "unknown"
    sweep_run.notes = f"folds grouped under {sweep_id}"

    metrics = []
    for num in range(NUM_FOLDS):
        worker = workers[num]
        worker.queue.put(
            WorkerInitData(
                sweep_id=sweep_id, num=num, sweep_run_name=sweep_run_name, config=dict(sweep_run.config)
            )
        )
        result = sweep_q.get()
        worker.process.join()
        metrics.append(result.val_accuracy)

    sweep_run.log(dict(val_accuracy=round(sum(metrics) / len(metrics), 6)))
    wandb.join()


if __name__ == "__main__":
    main()
