"""Gradient and parameter histograms of a small torch model (needs ``tracker[torch]``).

Run: ``python examples/torch_watch.py`` (data goes to ``$TRACKER_DIR``); a second on CPU.
"""

import torch

import tracker

model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
with tracker.init(project="examples", config={"lr": 0.05}) as run:
    run.watch(model, log="all", log_freq=10)
    for _step in range(50):
        x = torch.randn(32, 8)
        loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        run.log({"loss": loss.item()})
    run.unwatch()
    print(f"logged run {run.id}")
