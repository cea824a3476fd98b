"""Data-parallel training under ``torchrun``: PyTorch's own engine (``torch.distributed`` and
DistributedDataParallel), one process per CUDA device (NCCL) or per share of the CPUs (gloo).

**Who does what.** Every process reads the same data and draws the same sequence of global
minibatches from the seed (the group-balanced sampler of App. B.2.3, ``core.train.epoch_batches``);
process r of R trains on rows r, r + R, r + 2R, … of each global batch, which is sorted by group,
so every share holds each group in about the batch's proportions. The global batch size is the
``batch_size`` setting.

**Why the averaged gradient is the one-process gradient.** The one-process loss on a global
batch of B rows is L = (1/B) Σ_i ℓ_i + P/N, with ℓ_i sample i's reconstruction and KL (the
module averages them over the batch) and P the whole-data prior terms (the SSL prior of W times
the sparsity weight, and σ²'s prior), which enter once per step divided by N. Process r
differentiates L_r = R (1/B) Σ_{i in r} ℓ_i + P/N. DistributedDataParallel sums the processes'
gradients and divides by R, so it applies ∇ (1/R) Σ_r L_r = ∇ [(1/B) Σ_i ℓ_i + P/N] = ∇ L: the
samples' terms once each, and the prior once (every process adds all of it, and the average
keeps one copy). Two more things make the shares' forward pass the one-process forward pass:

- batch norm takes its statistics over the whole global batch (:class:`GlobalBatchNorm1d`);
  their all-reduce is differentiable, and its backward sums over processes the gradient that
  each L_r sends into the statistics, so process r's backward holds the part of ∇ Σ_r L_r that
  flows through its own rows, and the average over processes is again ∇ L;
- the reparameterisation noise is one draw for the whole batch, the same on every process (same
  seed), of which each takes its rows (:meth:`BatchShare.noise`).

So a data-parallel step equals a one-process step on the same global batch up to float rounding
(``tests/test_distributed.py``). W, and hence the E-step for p* and η and the λ0 schedule
(which depends on the step count only), are the same on every process: DistributedDataParallel
applies the same averaged gradient everywhere, and batch norm's running statistics come from
the same all-reduced sums; no buffer is broadcast.

Only rank 0 writes checkpoints, the model and the results and draws the progress bar; the
stopping rule reads the epoch's loss summed over processes, so every process stops at the
same epoch. docs/design.md, "Several processes", has the choices and the reasons.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol  # all_reduce with autograd (torch 2.13's advice)
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import MSSVAEInputError

#: the environment a ``torchrun`` launch gives every process
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
#: the fewest samples of each minibatch a process may hold: as for a one-process batch
MIN_SHARE = 2
#: terms of a share that are its part of the global batch's (they add up over processes); the
#: others (the loss, scaled by R, and the prior terms, whole on every process) are averaged
SHARE_TERMS = ("reconstruction", "kl")


@dataclass(frozen=True)
class BatchShare:
    """A minibatch as one process's share of a global minibatch: its rows sit at ``rows`` of the
    global batch of ``total`` rows, which held ``group_sizes`` rows of each group; ``ranks``
    processes hold the shares and DistributedDataParallel averages their gradients."""

    rows: slice
    total: int
    ranks: int
    group_sizes: tuple[int, ...]

    def noise(self, like: torch.Tensor) -> torch.Tensor:
        """This share's rows of one standard-normal draw for the whole global batch."""
        return torch.randn(self.total, *like.shape[1:], dtype=like.dtype, device=like.device)[self.rows]

    def absent(self) -> list[int]:
        """The groups with no rows in the global batch."""
        return [m for m, n in enumerate(self.group_sizes) if n == 0]


class GlobalBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` whose training statistics are those of the whole global minibatch.

    One differentiable all-reduce (``torch.distributed._functional_collectives.all_reduce``, whose
    backward all-reduces the gradient; it replaces the deprecated
    ``torch.distributed.nn.functional.all_reduce``) sums, over
    processes, the rows' count and their sums and sums of squares about the running mean (the
    same on every process, and close to the batch mean, so the variance loses little to
    cancellation). ``torch.nn.SyncBatchNorm`` does the same but only on CUDA (its kernels,
    ``aten::batch_norm_stats`` and kin, have no CPU implementation in torch 2.13), so it cannot
    run a gloo fit on CPUs; this layer runs on both backends. Outside a process group of
    several processes, and in eval mode, it is ``nn.BatchNorm1d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        centre = self.running_mean if self.running_mean is not None else x.new_zeros(x.shape[1])
        d = x - centre
        count = x.new_full((1,), float(x.shape[0]))
        sums = funcol.all_reduce(torch.cat([d.sum(0), d.pow(2).sum(0), count]), "sum", dist.group.WORLD)
        C = x.shape[1]
        n = sums[-1]
        shift = sums[:C] / n
        var = (sums[C : 2 * C] / n - shift.pow(2)).clamp_min(0.0)
        y = (d - shift) * torch.rsqrt(var + self.eps)
        if self.affine:
            y = y * self.weight + self.bias
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.add_(factor * shift)  # (1 - f) m + f (m + shift)
                unbiased = var * n / (n - 1).clamp_min(1.0)
                self.running_var.lerp_(unbiased, factor)
        return y


def _swap_batch_norm(module: nn.Module, cls: type) -> None:
    """Make every ``nn.BatchNorm1d`` of ``module`` a ``cls``. The class is changed in place:
    ``GlobalBatchNorm1d`` adds no state, so the parameters and buffers stay the same tensors and
    the optimiser's references to them hold (``torch.nn.SyncBatchNorm.convert_sync_batchnorm``
    instead copies them into new modules)."""
    for layer in module.modules():
        if isinstance(layer, nn.BatchNorm1d):
            layer.__class__ = cls


@dataclass
class Ranks:
    """The processes of one fit: this one's rank, how many there are, the backend and this
    process's device. An ordinary fit has one, and backend ``"none"``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    backend: str = "none"
    device: torch.device | None = None
    created: bool = False  # the process group was initialised here (and is ended by finish)

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def record(self) -> dict:
        """What ``.uns["mssvae"]["distributed"]`` holds."""
        return {"world_size": int(self.world_size), "backend": self.backend}

    # ----- shares of a global batch ---------------------------------------------------------
    def share(self, idx: torch.Tensor) -> torch.Tensor:
        """This process's rows of the global batch ``idx``: every world_size-th, from its rank."""
        return idx[self.rank :: self.world_size]

    def batch_share(self, idx: torch.Tensor, codes: np.ndarray, n_groups: int) -> BatchShare | None:
        """What the module needs to know of the global batch ``idx``; None for one process."""
        if not self.active:
            return None
        sizes = np.bincount(codes[idx.numpy()], minlength=n_groups)
        return BatchShare(slice(self.rank, None, self.world_size), len(idx), self.world_size,
                          tuple(int(k) for k in sizes))

    def reduce_terms(self, sums: torch.Tensor, names: list[str]) -> torch.Tensor:
        """The loss terms of the global batches from the processes' (summed over the epoch's
        steps, in the order of ``names``): one all-reduce, the same result on every process."""
        if not self.active:
            return sums
        weights = torch.tensor([1.0 if n in SHARE_TERMS else 1.0 / self.world_size for n in names],
                               dtype=sums.dtype, device=sums.device)
        out = sums * weights
        dist.all_reduce(out)
        return out

    # ----- the module -----------------------------------------------------------------------
    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` for training: itself for one process, else in DistributedDataParallel
        with batch norm over the global batch. Every parameter takes part in every step (the
        module runs every group's encoder, on no rows where the global batch has none), so
        DistributedDataParallel need not search the graph for unused ones; the trainer then
        drops the gradients of the encoders of absent groups (:meth:`BatchShare.absent`), as
        a one-process step, which never runs them, leaves them without one (Adam skips them).
        Buffers are not synchronised in the forward pass: they are the same on every process."""
        if not self.active:
            return module
        _swap_batch_norm(module, GlobalBatchNorm1d)
        ids = [self.device.index] if self.device is not None and self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, forward_sync_buffers=False)

    def unwrap(self, module: nn.Module) -> None:
        """Undo :meth:`wrap` on ``module`` (batch norm back to ``nn.BatchNorm1d``)."""
        if self.active:
            _swap_batch_norm(module, nn.BatchNorm1d)

    # ----- ends -----------------------------------------------------------------------------
    def barrier(self) -> None:
        if self.active and dist.is_initialized():
            dist.barrier()

    def finish(self) -> None:
        """Wait for every process (rank 0 writes meanwhile), then end the process group if it
        was begun here."""
        self.barrier()
        if self.created and dist.is_initialized():
            dist.destroy_process_group()


def torchrun_environment() -> dict | None:
    """RANK, WORLD_SIZE, LOCAL_RANK (and LOCAL_WORLD_SIZE) of a ``torchrun`` launch of several
    processes, or None."""
    if not all(k in os.environ for k in TORCHRUN_ENV) or int(os.environ["WORLD_SIZE"]) <= 1:
        return None
    world = int(os.environ["WORLD_SIZE"])
    return dict(rank=int(os.environ["RANK"]), world_size=world, local_rank=int(os.environ["LOCAL_RANK"]),
                local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", world)))


def is_main_process() -> bool:
    """Whether this process should write files: rank 0 of a launch, or a process on its own."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def process_device(device: str | torch.device, local_rank: int) -> torch.device:
    """The device of process ``local_rank`` of a launch: ``cuda:LOCAL_RANK`` for ``"cuda"``
    (and for ``"auto"`` where CUDA is present), else the CPU."""
    name = str(device)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise MSSVAEInputError(f"a data-parallel fit runs on CUDA devices (NCCL) or on CPUs (gloo), not on {name!r}",
                               hint="give device='cuda' or device='cpu'", args_named=("device",))
    if not torch.cuda.is_available():
        raise MSSVAEInputError(f"device {name!r} asks for NCCL, the backend of CUDA devices, but this process sees no "
                               "CUDA device", hint="run on a machine with GPUs, or give device='cpu' to train with gloo "
                               "on the CPUs", args_named=("device",))
    if dev.index is not None and dev.index != local_rank:
        raise MSSVAEInputError(f"under torchrun each process trains on cuda:LOCAL_RANK, but process {local_rank} was "
                               f"given {name!r}", hint="give device='cuda'", args_named=("device",))
    if local_rank >= torch.cuda.device_count():
        raise MSSVAEInputError(f"process LOCAL_RANK {local_rank} needs CUDA device {local_rank}, but this machine shows "
                               f"{torch.cuda.device_count()}", hint="launch at most one process per GPU "
                               "(torchrun --nproc-per-node)")
    return torch.device("cuda", local_rank)


def launch(device: str | torch.device = "auto") -> Ranks:
    """The processes of this fit: one (an ordinary fit) unless ``torchrun`` launched several,
    or a process group of several is already initialised. Initialises the process group (gloo
    on CPUs, NCCL on CUDA devices, from torchrun's environment) where none is."""
    env = torchrun_environment()
    initialised = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    if env is None and not initialised:
        return Ranks()
    if initialised:
        world = dist.get_world_size()
        env = dict(rank=dist.get_rank(), world_size=world, local_rank=int(os.environ.get("LOCAL_RANK", 0)),
                   local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", world)))
    dev = process_device(device, env["local_rank"])
    backend = "nccl" if dev.type == "cuda" else "gloo"
    created = False
    if initialised:
        backend = dist.get_backend()
        if backend == "nccl" and dev.type != "cuda":
            raise MSSVAEInputError("the process group uses NCCL, which needs CUDA devices, but the fit was asked to run "
                                   f"on {dev}", hint="give device='cuda', or initialise the process group with gloo")
    else:
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        try:
            dist.init_process_group(backend, device_id=dev if dev.type == "cuda" else None)
        except ValueError as e:  # env:// without MASTER_ADDR / MASTER_PORT
            raise MSSVAEInputError(f"RANK, WORLD_SIZE and LOCAL_RANK are set, but the process group cannot start: {e}",
                                   hint="launch with torchrun (it sets every variable), or unset them") from None
        created = True
        atexit.register(_end_group)
    return Ranks(device=dev, backend=backend, created=created, **env)


def _end_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


# ----- bad input --------------------------------------------------------------------------------
def check_share(ranks: Ranks, batch_size: int, n_samples: int) -> None:
    """Each process must hold at least :data:`MIN_SHARE` samples of every full minibatch."""
    batch = min(batch_size, n_samples)
    if ranks.active and batch // ranks.world_size < MIN_SHARE:
        need = MIN_SHARE * ranks.world_size
        raise MSSVAEInputError(
            f"{ranks.world_size} processes share each minibatch of {batch} samples, {batch // ranks.world_size} each, "
            f"fewer than the {MIN_SHARE} every process needs",
            hint=(f"raise batch_size to at least {need}" if n_samples >= need else
                  f"this data set has {n_samples} samples; fit it in one process") + " or launch fewer processes "
                 "(torchrun --nproc-per-node)", args_named=("batch_size",))


def _digest(value) -> str:
    h = hashlib.sha256()
    if isinstance(value, np.ndarray):
        h.update(str((value.dtype.str, value.shape)).encode())
        h.update(np.ascontiguousarray(value).tobytes())
    else:
        h.update(json.dumps(value, sort_keys=True, default=str).encode())
    return h.hexdigest()


def check_same_input(ranks: Ranks, parts: dict) -> None:
    """Every process must fit the same data with the same settings: each hashes ``parts``
    (name → value: the data's shape, feature names, group labels, settings, ...), the hashes
    are gathered, and a process that differs from rank 0 is named with what differs."""
    if not ranks.active:
        return
    mine = {name: _digest(value) for name, value in parts.items()}
    every: list = [None] * ranks.world_size
    dist.all_gather_object(every, mine)
    for rank, theirs in enumerate(every):
        differs = [name for name in mine if theirs.get(name) != every[0].get(name)]
        if differs:
            raise MSSVAEInputError(
                f"the {ranks.world_size} processes of this launch do not fit the same input: rank {rank} differs from "
                f"rank 0 in its {', '.join(differs)}",
                hint="give every process the same file, group key, layer and settings (one torchrun command)")
