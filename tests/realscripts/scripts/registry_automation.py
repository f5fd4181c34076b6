"""Automation script: train, log a model artifact, then promote it into a registry collection.

Written for this project after W&B's documented artifact and registry workflows
(https://docs.wandb.ai/guides/artifacts/update-an-artifact and
https://docs.wandb.ai/guides/registry/link_version, no code copied): a project and a
registry collection whose names contain spaces, aliases on logging,
metadata/alias/description edits with ``Artifact.save()`` through ``wandb.Api()``,
``run.link_artifact`` into ``model-registry/MNIST Classifier``, and a Table stored in the
artifact (``add`` / ``get``).

Stages (separate jobs in a real pipeline): ``train`` then ``promote``. The promote stage
needs W&B's server (``Api``, ``use_artifact``), which W&B's offline mode does not have.
``REALSCRIPTS_SDK=tracker`` runs it with ``import tracker as wandb``.
"""

import json
import os
import sys

import numpy as np

if os.environ.get("REALSCRIPTS_SDK") == "tracker":
    import tracker as wandb
else:
    import wandb

PROJECT = "mnist automation"
REGISTRY = "model-registry/MNIST Classifier"


def train() -> None:
    config = {"lr": 0.5, "epochs": 3, "features": 4, "seed": 7}
    run = wandb.init(
        project=PROJECT, job_type="train", name="train classifier", config=config, tags=["baseline"]
    )
    rng = np.random.default_rng(config["seed"])
    x = rng.normal(size=(64, config["features"]))
    y = (x @ np.array([1.0, -2.0, 0.5, 1.5]) > 0).astype(float)
    w = np.zeros(config["features"])
    for epoch in range(config["epochs"]):
        p = 1 / (1 + np.exp(-(x @ w)))
        w -= config["lr"] * x.T @ (p - y) / len(y)
        acc = float(((p > 0.5) == y).mean())
        run.log({"epoch": epoch, "train/acc": acc, "train/loss": float(np.mean((p - y) ** 2))})
    np.save("weights.npy", w)
    confusion = wandb.Table(columns=["label", "predicted", "count"])
    pred = (1 / (1 + np.exp(-(x @ w)))) > 0.5
    for label in (0, 1):
        for guess in (0, 1):
            confusion.add_data(label, guess, int(((y == label) & (pred == guess)).sum()))
    art = wandb.Artifact(
        "mnist-classifier",
        type="model",
        description="logistic regression, 3 epochs",
        metadata={"train_acc": acc, "epochs": config["epochs"], "framework": "numpy"},
    )
    art.add_file("weights.npy")
    art.add(confusion, "confusion")
    run.log_artifact(art, aliases=["candidate", "epoch-3"])
    run.summary["final_acc"] = acc
    run.finish()


def promote() -> None:
    api = wandb.Api()
    art = api.artifact(f"{PROJECT}/mnist-classifier:candidate")
    art.metadata["status"] = "approved"
    art.metadata["reviewer"] = "ci"
    art.description = "approved by the promote job"
    art.aliases.append("production")
    art.aliases.remove("candidate")
    art.save()

    run = wandb.init(project=PROJECT, job_type="promote", name="promote classifier")
    used = run.use_artifact("mnist-classifier:production")
    table = used.get("confusion")
    correct = sum(row[2] for _, row in table.iterrows() if row[0] == row[1])
    run.link_artifact(used, REGISTRY, aliases=["staging"])
    run.log({"promoted/correct": correct})
    run.finish()

    after = wandb.Api().artifact(f"{PROJECT}/mnist-classifier:production")
    linked = wandb.Api().artifact(f"{REGISTRY}:staging")
    print(
        "RESULT "
        + json.dumps(
            {
                "aliases": sorted(after.aliases),
                "metadata": after.metadata,
                "description": after.description,
                "correct": correct,
                "confusion_columns": list(table.columns),
                "linked_metadata": linked.metadata,
                "linked_aliases": sorted(linked.aliases),
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    {"train": train, "promote": promote}[sys.argv[1]]()
