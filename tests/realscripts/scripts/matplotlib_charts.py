"""Matplotlib script: log the pyplot module (its current figure) and a Figure.

Written for this project after W&B's matplotlib examples
(https://docs.wandb.ai/guides/track/log/plots/#matplotlib-and-plotly-plots ; no code
copied): build a chart with ``plt.plot`` and log ``plt`` itself (W&B logs the current
figure), log an explicit figure through ``wandb.Image(fig)``, next to scalars.

``REALSCRIPTS_SDK=tracker`` runs it with ``import tracker as wandb``.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

if os.environ.get("REALSCRIPTS_SDK") == "tracker":
    import tracker as wandb
else:
    import wandb

run = wandb.init(project="matplotlib demo", name="curves", config={"points": 20, "freq": 1.5})
x = np.linspace(0, 2 * np.pi, run.config["points"])
for epoch in range(3):
    y = np.sin(run.config["freq"] * x + epoch)
    plt.figure()
    plt.plot(x, y)
    plt.ylabel("sin")
    wandb.log({"chart": plt, "epoch": epoch, "mean": round(float(y.mean()), 6)})
    plt.close()

fig, ax = plt.subplots(figsize=(3, 2), dpi=50)
ax.bar(["a", "b", "c"], [3, 1, 2])
wandb.log({"bars": wandb.Image(fig, caption="counts")})
plt.close(fig)
run.finish()
