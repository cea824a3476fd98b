"""Training of the MSSVAE: Adam with two learning rates, λ0 annealing, group-balanced
minibatches, the per-step EM update, progress, and checkpoints that survive an interrupt.

Paper: App. B.2.2–B.2.3 (gradient M-step, Adam, WeightedRandomSampler with weights ∝ 1/n_m),
App. C.2.1 (λ0 schedule), Table 2 (learning rates).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import Batches
from .module import MSSVAEModule
from .priors import Lambda0Schedule

CHECKPOINT = "checkpoint.pt"


class FitInterrupted(KeyboardInterrupt):
    """A fit stopped by Ctrl-C; the work up to the last complete epoch is kept."""


@dataclass
class TrainSettings:
    epochs: int
    batch_size: int
    lr: float
    lr_w: float
    sparsity_weight: float
    schedule: Lambda0Schedule
    balance_groups: bool = True
    checkpoint_every: int = 10


def balanced_weights(codes: np.ndarray) -> np.ndarray:
    """Sampling weight ∝ 1/n_m for each sample of group m (App. B.2.3), summing to 1."""
    sizes = np.bincount(codes)
    w = 1.0 / sizes[codes]
    return w / w.sum()


def epoch_batches(codes: np.ndarray, batch_size: int, balance: bool, generator: torch.Generator) -> list[torch.Tensor]:
    """Index batches for one epoch of N draws.

    Balanced: N draws with replacement, weights ∝ 1/n_m, as torch's WeightedRandomSampler does,
    so each batch holds about the same number of samples from every group. Otherwise a
    permutation of the samples.
    """
    n = len(codes)
    if balance:
        w = torch.as_tensor(balanced_weights(codes), dtype=torch.float64)
        order = torch.multinomial(w, n, replacement=True, generator=generator)
    else:
        order = torch.randperm(n, generator=generator)
    batches = list(order.split(batch_size))
    # A last batch of one sample cannot feed batch norm; fold it into the previous one.
    if len(batches) > 1 and len(batches[-1]) < 2:
        last = batches.pop()
        batches[-1] = torch.cat([batches[-1], last])
    return batches


class Trainer:
    """Runs the epochs of one fit; holds the optimiser and the history so a fit can resume."""

    def __init__(self, module: MSSVAEModule, settings: TrainSettings, seed: int):
        self.module = module
        self.settings = settings
        self.optimizer = torch.optim.Adam(
            [
                {"params": module.w_parameters(), "lr": settings.lr_w},
                {"params": module.other_parameters(), "lr": settings.lr},
            ]
        )
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.history: list[dict[str, float]] = []

    # ----- checkpoints --------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "module": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "epoch": self.epoch,
            "history": self.history,
        }

    def load_state(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch = int(state["epoch"])
        self.history = list(state["history"])

    def save_checkpoint(self, directory: Path, extra: dict) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / CHECKPOINT
        tmp = path.with_suffix(".tmp")
        torch.save({**self.state(), **extra}, tmp)
        tmp.replace(path)  # atomic: an interrupt while writing never leaves a broken checkpoint
        return path

    # ----- the loop -----------------------------------------------------------------------------
    def run(self, data: Batches, checkpoint_dir: Path | None = None, extra: dict | None = None, progress: bool = True) -> None:
        """Train from ``self.epoch`` to ``settings.epochs``; on Ctrl-C save and raise FitInterrupted."""
        s, module = self.settings, self.module
        n_total = len(data)
        codes = data.codes
        device = next(module.parameters()).device
        try:
            while self.epoch < s.epochs:
                lambda0 = s.schedule(self.epoch, s.epochs)
                module.train()
                sums: dict[str, float] = {}
                t0 = time.perf_counter()
                batches = epoch_batches(codes, s.batch_size, s.balance_groups, self.generator)
                for idx in batches:
                    x, g, cov = data.get(idx.to(device))
                    module.em_step(lambda0)
                    terms = module(x, g, n_total, s.sparsity_weight, lambda0, s=cov)
                    if not torch.isfinite(terms.loss):
                        raise FloatingPointError(
                            f"the loss became {float(terms.loss)} at epoch {self.epoch + 1}; "
                            "try a smaller learning rate (lr=...) or check the data's scale"
                        )
                    self.optimizer.zero_grad(set_to_none=True)
                    terms.loss.backward()
                    self.optimizer.step()
                    for k, v in terms.detached().items():
                        sums[k] = sums.get(k, 0.0) + v
                module.em_step(lambda0)
                record = {k: v / len(batches) for k, v in sums.items()}
                record.update(epoch=self.epoch + 1, lambda0=lambda0, seconds=time.perf_counter() - t0)
                self.history.append(record)
                self.epoch += 1
                if progress:
                    _progress(self.epoch, s.epochs, record)
                if checkpoint_dir is not None and (self.epoch % s.checkpoint_every == 0 or self.epoch == s.epochs):
                    self.save_checkpoint(checkpoint_dir, extra or {})
        except KeyboardInterrupt:
            if progress and sys.stderr.isatty():
                sys.stderr.write("\n")
            where = ""
            if checkpoint_dir is not None:
                self.save_checkpoint(checkpoint_dir, extra or {})
                where = f"; the state is saved in {checkpoint_dir} — resume with resume=True (CLI: --resume)"
            raise FitInterrupted(
                f"fit interrupted after {self.epoch} of {s.epochs} epochs; the model holds the work of those epochs{where}"
            ) from None
        finally:
            module.eval()
        if progress and sys.stderr.isatty():
            sys.stderr.write("\n")


def _progress(epoch: int, total: int, record: dict) -> None:
    """A bar redrawn in place on a terminal; a line every tenth of the fit in a log file."""
    tty = sys.stderr.isatty()
    if not tty and epoch % max(1, total // 10) and epoch != total:
        return
    width = 30
    done = int(width * epoch / total)
    eta = record["seconds"] * (total - epoch)
    line = (f"[{'#' * done}{'-' * (width - done)}] epoch {epoch}/{total}  loss {record['loss']:.4g}  "
            f"λ0 {record['lambda0']:g}  {record['seconds']:.2f}s/epoch  ~{math.ceil(eta)}s left")
    sys.stderr.write(("\r" + line + " ") if tty else line + "\n")
    sys.stderr.flush()
