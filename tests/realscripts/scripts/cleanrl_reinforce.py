"""cleanrl-style RL script: REINFORCE on a tiny corridor, logged through ``SummaryWriter``.

Written for this project after the layout of cleanrl's single-file scripts
(https://github.com/vwxyzjn/cleanrl, MIT licence, e.g. ``cleanrl/dqn.py``; no code copied
beyond the ``add_text`` hyperparameter table idiom): ``Args`` dataclass,
``wandb.init(sync_tensorboard=True, config=vars(args), save_code=True)`` when tracking,
every metric through ``torch.utils.tensorboard.SummaryWriter``, the ``global_step`` as
TensorBoard step. The environment is written inline (no gym): a corridor of ``length``
cells, actions left/right, reward 1 on reaching the right end.

``REALSCRIPTS_SDK=tracker`` runs it with ``import tracker as wandb``.
"""

import os
import random
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

if os.environ.get("REALSCRIPTS_SDK") == "tracker":
    import tracker as wandb
else:
    import wandb


@dataclass
class Args:
    exp_name: str = "cleanrl_reinforce"
    seed: int = 1
    torch_deterministic: bool = True
    track: bool = True
    wandb_project_name: str = "cleanRL"
    wandb_entity: str | None = None
    env_id: str = "Corridor-v0"
    total_episodes: int = 24
    learning_rate: float = 0.05
    gamma: float = 0.9
    length: int = 4
    max_steps: int = 12


class Corridor:
    """Start in cell 0; action 1 moves right, 0 moves left; reward 1 at the last cell."""

    def __init__(self, length: int, max_steps: int) -> None:
        self.length, self.max_steps = length, max_steps

    def reset(self) -> np.ndarray:
        self.pos, self.t = 0, 0
        return self._obs()

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.length, dtype=np.float32)
        obs[self.pos] = 1.0
        return obs

    def step(self, action: int) -> tuple[np.ndarray, float, bool]:
        self.t += 1
        self.pos = max(0, min(self.length - 1, self.pos + (1 if action == 1 else -1)))
        done = self.pos == self.length - 1 or self.t >= self.max_steps
        return self._obs(), float(self.pos == self.length - 1), done


if __name__ == "__main__":
    args = Args()
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}"
    if args.track:
        wandb.init(
            project=args.wandb_project_name,
            entity=args.wandb_entity,
            sync_tensorboard=True,
            config=vars(args),
            name=run_name,
            save_code=True,
        )
    writer = SummaryWriter(f"runs/{run_name}")
    writer.add_text(
        "hyperparameters",
        "|param|value|\n|-|-|\n%s" % ("\n".join([f"|{key}|{value}|" for key, value in vars(args).items()])),  # noqa: UP031
    )

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    gen = torch.Generator().manual_seed(args.seed)

    env = Corridor(args.length, args.max_steps)
    policy = nn.Sequential(nn.Linear(args.length, 8), nn.Tanh(), nn.Linear(8, 2))
    optimizer = torch.optim.Adam(policy.parameters(), lr=args.learning_rate)
    global_step = 0
    start_time = time.time()
    for episode in range(args.total_episodes):
        obs, done = env.reset(), False
        log_probs, rewards = [], []
        while not done:
            logits = policy(torch.from_numpy(obs))
            probs = torch.softmax(logits, dim=-1)
            action = int(torch.multinomial(probs, 1, generator=gen).item())
            log_probs.append(torch.log(probs[action]))
            obs, reward, done = env.step(action)
            rewards.append(reward)
            global_step += 1
        ret, returns = 0.0, []
        for r in reversed(rewards):
            ret = r + args.gamma * ret
            returns.insert(0, ret)
        loss = -(torch.stack(log_probs) * torch.tensor(returns)).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        writer.add_scalar("charts/episodic_return", sum(rewards), global_step)
        writer.add_scalar("charts/episodic_length", len(rewards), global_step)
        writer.add_scalar("losses/policy_loss", loss.item(), global_step)
        if episode % 4 == 0:
            writer.add_scalar("charts/learning_rate", optimizer.param_groups[0]["lr"], global_step)
            writer.add_scalar("charts/SPS", int(global_step / (time.time() - start_time + 1e-9)), global_step)
    writer.close()
    if args.track:
        wandb.finish()
