"""Training of the MSSVAE: Adam with two learning rates, λ0 annealing, group-balanced
minibatches, the per-step EM update, progress, and checkpoints that survive an interrupt.

Paper: App. B.2.2–B.2.3 (gradient M-step, Adam, WeightedRandomSampler with weights ∝ 1/n_m),
App. C.2.1 (λ0 schedule), Table 2 (learning rates).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Union

import numpy as np
import torch

from ..errors import FitInterrupted
from .batches import Batches
from .distributed import Ranks
from .module import LossTerms, MSSVAEModule
from .nested import nested_columns
from .priors import Lambda0Schedule
from .stopping import (CONVERGED, MAX_EPOCHS, MAX_STEPS, StoppingRule, StoppingState, densest_column, epoch_annealed,
                       observe)

CHECKPOINT = "checkpoint.pt"

#: What a progress callback returns to stop the fit as Ctrl-C would (checkpoint, then
#: FitInterrupted): R's callback returns it when R's interrupt arrives while it runs, which
#: would otherwise reach Python as an anonymous error.
STOP = "interrupt"

#: ``progress`` of :meth:`Trainer.run`: True for the bar on standard error, False for none, or a
#: callable ``f(epoch, max_epochs, record, final)`` called after every epoch with the epoch's
#: record (loss terms, ``step``, ``lambda0``, ``seconds``, the stopping rule's state).
Progress = Union[bool, Callable[..., object]]


@dataclass
class TrainSettings:
    epochs: int  # the most epochs; the stopping rule may end the fit sooner
    batch_size: int
    lr: float
    lr_w: float
    sparsity_weight: float
    schedule: Lambda0Schedule
    balance_groups: bool = True
    checkpoint_every: int = 10
    max_steps: int | None = None  # the most gradient steps (large N; see model.PAPER_DEFAULTS)
    stopping: StoppingRule | None = None  # None: run to the maximum
    fold_nested: bool = False  # fold columns nested in a larger one of their block (core.nested); needs ``stopping``


def balanced_weights(codes: np.ndarray) -> np.ndarray:
    """Sampling weight ∝ 1/n_m for each sample of group m (App. B.2.3), summing to 1."""
    sizes = np.bincount(codes)
    w = 1.0 / sizes[codes]
    return w / w.sum()


def epoch_batches(codes: np.ndarray, batch_size: int, balance: bool, generator: torch.Generator) -> list[torch.Tensor]:
    """Index batches for one epoch of N draws, each sorted by group.

    Balanced: N draws with replacement, weights ∝ 1/n_m, as torch's WeightedRandomSampler does,
    so each batch holds about the same number of samples from every group. Otherwise a
    permutation of the samples. Within a batch the samples are ordered by group (stably), so
    that each group's encoder reads one contiguous block (no device-to-host sync to find it).
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
    return [b[np.argsort(codes[b.numpy()], kind="stable")] for b in batches]


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Gradient steps in one epoch of ``n`` draws (a last batch of one joins the previous)."""
    steps = -(-n // batch_size)
    return steps - 1 if steps > 1 and n % batch_size == 1 else steps


def default_batch_size(n: int) -> int:
    """Table 2's 512, but at least 4 steps per epoch for small N (at most N/4, at least 32):
    Adam moves each w_jk by about ``lr_w`` a step, so a fit needs a number of steps, not of
    epochs, and a wide data set of a few hundred samples would otherwise take one step per
    pass over its thousands of features (``benchmarks/FINDINGS.md``, "Stopping rule and λ0 breaks in steps")."""
    return int(min(512, max(32, -(-n // 4))))


def step_budget(n: int, batch_size: int, epochs: int, max_steps: int | None) -> int:
    """The most gradient steps a fit of ``n`` samples may take: ``epochs`` of ``batch_size``,
    at most ``max_steps``."""
    steps = epochs * steps_per_epoch(n, batch_size)
    return steps if max_steps is None else min(steps, max_steps)


def warn_short_schedule(s: TrainSettings, n: int) -> None:
    """Warn when the λ0 annealing cannot finish within the most steps the fit may take."""
    steps = step_budget(n, s.batch_size, s.epochs, s.max_steps)
    last = s.schedule.final_step
    if steps <= last:
        warnings.warn(f"λ0 reaches its last value at gradient step {last}, but this fit takes at most {steps} steps "
                      f"({s.epochs} epochs of batch {s.batch_size}): W may stay dense. Raise epochs=, or set "
                      "lambda0_breaks= to fit this length", stacklevel=3)


class Trainer:
    """Runs the epochs of one fit; holds the optimiser, the history and the stopping rule's
    state so that a fit can resume. ``ranks``: the processes of a data-parallel fit
    (:mod:`mssvae.core.distributed`); each trains on its share of every global minibatch, and
    only rank 0 writes checkpoints."""

    def __init__(self, module: MSSVAEModule, settings: TrainSettings, seed: int, ranks: Ranks | None = None):
        self.module = module
        self.ranks = ranks or Ranks()
        self.settings = settings
        # The fused kernel updates every tensor in one pass: 3.4–4.2× faster than torch's
        # default on a CPU (0.47 against 1.97 ms a step for the §4.1 model; 2.0 against 6.8 ms
        # at G = 1000, [256, 128]; benchmarks/step_parts.py); the same arithmetic up to rounding.
        fused = all(p.device.type in ("cpu", "cuda") for p in module.parameters())
        self.optimizer = torch.optim.Adam(
            [
                {"params": module.w_parameters(), "lr": settings.lr_w},
                {"params": module.other_parameters(), "lr": settings.lr},
            ],
            fused=fused or None,
        )
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.step: int | None = 0
        self.history: list[dict[str, float]] = []
        self.stopping_state = StoppingState()
        self.stop_reason: str | None = None
        self.folded: dict[int, int] = {}  # column of W folded -> the column it was folded into

    # ----- checkpoints --------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "module": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history,
            "stopping": self.stopping_state.state_dict(),
            "stop_reason": self.stop_reason,
            "folded": dict(self.folded),
            "lambda0_schedule": {"values": list(self.settings.schedule.values),
                                 "breaks": list(self.settings.schedule.breaks)},
        }

    def load_state(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch = int(state["epoch"])
        self.history = list(state["history"])
        self.step = state.get("step")  # None in checkpoints that did not count steps: see run()
        if "stopping" in state:
            self.stopping_state.load_state_dict(state["stopping"])
        self.stop_reason = state.get("stop_reason")
        self.folded = {int(k): int(v) for k, v in state.get("folded", {}).items()}
        if "lambda0_schedule" in state:  # a resumed fit anneals as it began, whatever its new epochs
            sched = state["lambda0_schedule"]
            self.settings = replace(self.settings, schedule=Lambda0Schedule(tuple(sched["values"]), tuple(sched["breaks"])))

    def save_checkpoint(self, directory: Path, extra: dict) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / CHECKPOINT
        tmp = path.with_suffix(".tmp")
        torch.save({**self.state(), **extra}, tmp)
        tmp.replace(path)  # atomic: an interrupt while writing never leaves a broken checkpoint
        return path

    def summary(self) -> dict:
        """How the fit ended: epochs and steps run, the reason, whether W is still dense, and
        a sentence for the user."""
        s, reason = self.settings, self.stop_reason or "interrupted"
        text = {CONVERGED: "the stopping rule held (supports of W stable, loss flat, λ0 annealed)",
                MAX_EPOCHS: f"reached the maximum of {s.epochs} epochs",
                MAX_STEPS: f"reached the maximum of {s.max_steps} gradient steps",
                "interrupted": "interrupted"}[reason]
        message = f"stopped after {self.epoch} epochs ({self.step} steps): {text}"
        rule = s.stopping or StoppingRule()
        densest = densest_column(rule, self.stopping_state if s.stopping is not None else None, self.module.W)
        dense = densest > rule.max_density
        if dense:
            message += (f"; W is still dense (a column holds {densest:.0%} of the features): fit longer "
                        "(epochs=, max_steps=) before reading gene sets from it")
        if self.folded:
            message += (f"; {len(self.folded)} column(s) of W repeated part of a larger column of their block and were "
                        "folded into it (stopping['folded'])")
        return dict(epochs=self.epoch, steps=self.step, reason=reason, message=message, dense=bool(dense),
                    folded=[[k, v] for k, v in sorted(self.folded.items())])

    def fold(self, columns: dict[int, int]) -> None:
        """Fold ``columns`` ({column: host}, :func:`nested_columns`): zero them in W, where the
        trainer holds them, and restart the stopping rule, whose supports and losses are no
        longer those of the model being trained."""
        self.folded.update(columns)
        with torch.no_grad():
            self.module.W[:, sorted(self.folded)] = 0.0
        self.stopping_state = StoppingState()

    def _folded_index(self) -> torch.Tensor | None:
        """The folded columns as an index on W's device, or None when there are none."""
        return torch.tensor(sorted(self.folded), dtype=torch.long, device=self.module.W.device) if self.folded else None

    # ----- the loop -----------------------------------------------------------------------------
    def run(self, data: Batches, checkpoint_dir: Path | None = None, extra: dict | None = None,
            progress: Progress = True) -> None:
        """Train from ``self.epoch`` until the stopping rule holds or a maximum is reached; on
        Ctrl-C (or a progress callback's :data:`STOP`) save and raise FitInterrupted.

        The step itself never waits for the device: the loss terms are summed on the device and
        read once per epoch, when the loss is also checked for NaN (a failed epoch is not
        recorded, and the last checkpoint holds the work before it).
        """
        s, module, ranks = self.settings, self.module, self.ranks
        n_total = len(data)
        codes = data.codes
        n_groups = len(module.n_specific)
        if self.step is None:
            self.step = self.epoch * steps_per_epoch(n_total, s.batch_size)
        report = None
        if progress and ranks.is_main:
            report = progress if callable(progress) else _progress
        terminal = report is _progress
        checkpoint_dir = checkpoint_dir if ranks.is_main else None
        try:
            net = ranks.wrap(module)  # DistributedDataParallel for several processes
            folded = self._folded_index()
            while self.stop_reason is None:
                if self.epoch >= s.epochs:
                    self.stop_reason = MAX_EPOCHS
                    break
                if s.max_steps is not None and self.step >= s.max_steps:
                    self.stop_reason = MAX_STEPS
                    break
                module.train()
                t0 = time.perf_counter()
                batches = epoch_batches(codes, s.batch_size, s.balance_groups, self.generator)
                mine = [ranks.share(idx) for idx in batches]  # every global batch, or this process's share
                order = data.to_device(torch.cat(mine))
                sums, start, n_steps = None, 0, 0
                for idx, own in zip(batches, mine):
                    lambda0 = s.schedule(self.step)
                    x, g, cov = data.get(order[start : start + len(own)])
                    sizes = np.bincount(codes[own.numpy()], minlength=n_groups).tolist()
                    start += len(own)
                    share = ranks.batch_share(idx, codes, n_groups)
                    module.em_step(lambda0)
                    terms = net(x, g, n_total, s.sparsity_weight, lambda0, s=cov, group_sizes=sizes, share=share)
                    self.optimizer.zero_grad(set_to_none=True)
                    terms.loss.backward()
                    for m in share.absent() if share is not None else ():  # no gradient, as in one process
                        module.encoders_specific[m].zero_grad(set_to_none=True)
                    self.optimizer.step()
                    if folded is not None:  # folded columns stay out of the model (Adam's moments would move them)
                        module.W.data[:, folded] = 0.0
                    stacked = terms.stacked()
                    sums = stacked if sums is None else sums + stacked
                    self.step += 1
                    n_steps += 1
                    if s.max_steps is not None and self.step >= s.max_steps:
                        break
                module.em_step(lambda0)
                means = (ranks.reduce_terms(sums, LossTerms.names()) / n_steps).tolist()  # the epoch's one host sync
                record = dict(zip(LossTerms.names(), means))
                if not math.isfinite(record["loss"]):
                    raise FloatingPointError(
                        f"the loss became {record['loss']} in epoch {self.epoch + 1}; "
                        "try a smaller learning rate (lr=...) or check the data's scale"
                    )
                record.update(epoch=self.epoch + 1, step=self.step, lambda0=lambda0, seconds=time.perf_counter() - t0)
                if s.stopping is not None:
                    annealed = epoch_annealed(self.step - n_steps, s.schedule.final_step)
                    rule = observe(s.stopping, self.stopping_state, module.W, record["loss"], annealed=annealed)
                    done = rule.pop("done")
                    if (s.fold_nested and annealed and rule["stable_epochs"] >= s.stopping.patience
                            and rule["densest"] <= s.stopping.max_density):  # a dense W nests every column
                        # the supports have settled: a column nested in another now is a copy, not a program on its way
                        nested = nested_columns(self.stopping_state.w_average, module.block_group, skip=self.folded)
                        if nested:
                            self.fold(nested)
                            folded = self._folded_index()
                            rule["folded"], done = len(nested), False
                    if done:
                        self.stop_reason = CONVERGED
                    record.update({k: v for k, v in rule.items() if v == v})  # no improvement before two windows
                self.history.append(record)
                self.epoch += 1
                final = (self.stop_reason is not None or self.epoch >= s.epochs
                         or (s.max_steps is not None and self.step >= s.max_steps))
                stop = report is not None and report(self.epoch, s.epochs, record, final=final)
                if checkpoint_dir is not None and (self.epoch % s.checkpoint_every == 0 or self.stop_reason is not None
                                                   or self.epoch == s.epochs):
                    self.save_checkpoint(checkpoint_dir, extra or {})
                if stop == STOP:
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            if terminal and sys.stderr.isatty():
                sys.stderr.write("\n")
            where = ""
            if checkpoint_dir is not None:
                self.save_checkpoint(checkpoint_dir, extra or {})
                where = f"; the state is saved in {checkpoint_dir} — resume with resume=True (CLI: --resume)"
            raise FitInterrupted(
                f"fit interrupted after {self.epoch} of at most {s.epochs} epochs; the model holds the work of those "
                f"epochs{where}", self.epoch, s.epochs, checkpoint_dir
            ) from None
        finally:
            ranks.unwrap(module)
            module.eval()
        if terminal and sys.stderr.isatty():
            sys.stderr.write("\n")


def _progress(epoch: int, total: int, record: dict, final: bool = False) -> None:
    """A bar redrawn in place on a terminal; a line every tenth of the maximum in a log file."""
    tty = sys.stderr.isatty()
    if not tty and epoch % max(1, total // 10) and epoch != total and not final:
        return
    width = 30
    done = int(width * epoch / total)
    line = (f"[{'#' * done}{'-' * (width - done)}] epoch {epoch}/{total}  loss {record['loss']:.4g}  "
            f"λ0 {record['lambda0']:g}  {record['seconds']:.2f}s/epoch")
    if "stable_epochs" in record:
        line += f"  supports stable {record['stable_epochs']} epochs"
    sys.stderr.write(("\r" + line + " ") if tty else line + "\n")
    sys.stderr.flush()
