"""Export script: read runs back through ``wandb.Api()`` and write results back to them.

Written for this project after W&B's public-API examples
(https://docs.wandb.ai/guides/track/public-api-guide, "update metrics for a run after the
run has finished", "rename a run", "export metrics from a run"; no code copied): for every
run of a project read the history, store the best value in the summary (``run.summary[...]
= ...; run.summary.update()``), mark the config (``run.config[...] = ...; run.update()``),
rename the run (``run.name = ...; run.update()``), list ``run.files()``, and export
everything to a JSON file.

Stages: ``train`` (two runs that log history and a table) then ``export``.
``REALSCRIPTS_SDK=tracker`` runs it with ``import tracker as wandb``.
"""

import json
import os
import sys

if os.environ.get("REALSCRIPTS_SDK") == "tracker":
    import tracker as wandb
else:
    import wandb

PROJECT = "export demo"


def curve(lr: float, epoch: int) -> float:
    return round(1.0 / (1 + lr * 10 * (epoch + 1)) + 0.02 * ((epoch - 3) ** 2) * lr, 6)


def best_of(history: list) -> dict:
    """What the export writes back: the best ``val_loss`` and its epoch."""
    rows = [r for r in history if r.get("val_loss") is not None]
    best = min(rows, key=lambda r: r["val_loss"])
    return {"best_val_loss": best["val_loss"], "best_epoch": best["epoch"]}


def train() -> None:
    for lr in (0.1, 0.3):
        run = wandb.init(
            project=PROJECT, name=f"lr-{lr}", config={"lr": lr, "epochs": 6}, reinit="finish_previous"
        )
        for epoch in range(run.config["epochs"]):
            run.log(
                {"epoch": epoch, "val_loss": curve(lr, epoch), "train_loss": round(curve(lr, epoch) * 0.9, 6)}
            )
        table = wandb.Table(columns=["epoch", "val_loss"], data=[[e, curve(lr, e)] for e in range(6)])
        run.log({"curve": table})
        run.finish()


def export() -> None:
    api = wandb.Api()
    exported = []
    for run in api.runs(PROJECT):
        history = run.history(keys=["epoch", "val_loss"], pandas=False)
        best = best_of(history)
        for key, value in best.items():
            run.summary[key] = value
        run.summary.update()
        run.config["exported"] = True
        run.update()
        run.name = run.name + " (exported)"
        run.update()
        exported.append(
            {
                "id": run.id,
                "name": run.name,
                "config": {k: v for k, v in run.config.items() if not k.startswith("_")},
                "summary": {k: v for k, v in run.summary._json_dict.items() if not k.startswith("_")},
                "history": history,
                "files": sorted(f.name for f in run.files()),
            }
        )
    with open("export.json", "w") as f:
        json.dump(exported, f, indent=1, sort_keys=True, default=str)

    # Read back through a fresh Api: the edits must have been saved.
    again = {r.id: r for r in wandb.Api().runs(PROJECT)}
    result = [
        {
            "name": again[e["id"]].name,
            "best_val_loss": again[e["id"]].summary.get("best_val_loss"),
            "best_epoch": again[e["id"]].summary.get("best_epoch"),
            "exported": again[e["id"]].config.get("exported"),
            "lr": again[e["id"]].config.get("lr"),
        }
        for e in exported
    ]
    print("RESULT " + json.dumps(sorted(result, key=lambda r: r["lr"]), sort_keys=True))


if __name__ == "__main__":
    {"train": train, "export": export}[sys.argv[1]]()
