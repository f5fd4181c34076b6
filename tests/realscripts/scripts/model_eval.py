"""Model evaluation script: fetch a model and a test set through ``use_artifact``, log tables.

Written for this project after W&B's model-evaluation examples
(https://github.com/wandb/examples ``colabs/wandb-artifacts`` and the "evaluate a model
from the registry" pattern; no code copied): the evaluation job declares its inputs with
``run.use_artifact("name:alias")``, downloads the weights, reads the test set back as a
``wandb.Table`` with ``artifact.get``, and logs a predictions table built with the Table
helpers real code uses (``add_data``, ``add_computed_columns``, ``get_column``,
``get_index``, ``iterrows``, ``add_column``).

Stages: ``prepare`` (logs the model and the test set) then ``evaluate``.
``REALSCRIPTS_SDK=tracker`` runs it with ``import tracker as wandb``.
"""

import os
import sys

import numpy as np

if os.environ.get("REALSCRIPTS_SDK") == "tracker":
    import tracker as wandb
else:
    import wandb

PROJECT = "model-eval"


def prepare() -> None:
    rng = np.random.default_rng(3)
    run = wandb.init(project=PROJECT, job_type="prepare", name="prepare")
    w = np.array([0.8, -1.1, 0.3])
    np.save("model.npy", w)
    model = wandb.Artifact("linear-model", type="model", metadata={"n_features": 3})
    model.add_file("model.npy")
    run.log_artifact(model, aliases=["best"])

    x = np.round(rng.normal(size=(12, 3)), 3)
    y = (x @ np.array([1.0, -1.0, 0.0]) > 0).astype(int)
    test_set = wandb.Table(columns=["id", "x0", "x1", "x2", "label"])
    for i in range(len(y)):
        test_set.add_data(i, float(x[i, 0]), float(x[i, 1]), float(x[i, 2]), int(y[i]))
    data = wandb.Artifact("test-set", type="dataset")
    data.add(test_set, "test_set")
    run.log_artifact(data)
    run.finish()


def evaluate() -> None:
    run = wandb.init(project=PROJECT, job_type="evaluate", name="evaluate", config={"threshold": 0.5})
    model_dir = run.use_artifact("linear-model:best").download()
    w = np.load(os.path.join(model_dir, "model.npy"))
    test_set = run.use_artifact("test-set:latest").get("test_set")

    predictions = wandb.Table(columns=["id", "label", "score", "pred"])
    for _, row in test_set.iterrows():
        x = np.array([row[1], row[2], row[3]])
        score = float(1 / (1 + np.exp(-(x @ w))))
        predictions.add_data(row[0], row[4], round(score, 6), int(score > run.config["threshold"]))

    def correctness(ndx, row):
        return {"correct": int(row["label"] == row["pred"])}

    predictions.add_computed_columns(correctness)
    correct = predictions.get_column("correct")
    accuracy = sum(correct) / len(correct)
    scores = predictions.get_column("score", convert_to="numpy")
    predictions.add_column("margin", [round(abs(s - 0.5), 6) for s in scores.tolist()])
    index = predictions.get_index()
    run.log({"eval/predictions": predictions, "eval/accuracy": accuracy, "eval/n": len(index)})
    run.summary["eval/mean_score"] = round(float(scores.mean()), 6)
    run.finish()


if __name__ == "__main__":
    {"prepare": prepare, "evaluate": evaluate}[sys.argv[1]]()
