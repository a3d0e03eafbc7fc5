"""Data-parallel training on CPU: DistributedDataParallel over gloo, launched by torchrun.

Launch (one process per core; torchrun sets the environment this module reads)::

    torchrun --standalone --nproc_per_node=2 -m gnn.train --data prepared.pt --distributed
    torchrun --standalone --nproc_per_node=2 --no-python medkg train --data prepared.pt \\
        --distributed

:func:`init_from_env` joins the process group from torchrun's variables (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and returns a
:class:`DistContext`; :func:`gnn.train.train` then

- splits the training patients across ranks (every ``world_size``-th one, so shards
  differ in size by at most one),
- wraps the model in ``DistributedDataParallel`` (which averages gradients over ranks)
  and scales each rank's loss by ``world_size / (global number of loss terms)``: the
  averaged gradient is the gradient of the *global* mean loss, the same as one process
  training on all patients,
- runs validation on every rank and takes rank 0's numbers (so early stopping decides
  identically everywhere), computes test metrics on rank 0 and broadcasts them,
- writes files (metrics, ``last.pt``, ``best.pt``, test outputs) on rank 0 only, each
  atomically; every rank reads ``last.pt`` to resume.

What is split: full-batch GNN training cannot divide message passing by patient without
partitioning the graph, so in full-batch mode (``batch_size=None``) every rank runs the
whole-graph forward and backward and only the loss terms are divided. That keeps the
2-process run equal to the 1-process run (same dropout masks, same gradient up to float
summation order) but does not make it faster. Real parallel work comes with mini-batches
(``batch_size`` set): each step's batch of ``batch_size`` patients is the same global
batch a schedule drawn from ``(seed, epoch)`` gives every rank, and each rank samples
neighbours for, and trains on, its own share of it.

Examples:
    >>> ctx = DistContext(rank=1, world_size=2)
    >>> ctx.shard(torch.arange(5)).tolist(), ctx.is_main
    ([1, 3], False)
    >>> init_from_env({"RANK": "0"})
    Traceback (most recent call last):
    ...
    ontologies.errors.ConfigError: --distributed needs the environment torchrun sets; missing
    WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT. Launch with: torchrun --standalone ...
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ontologies.errors import ConfigError

__all__ = ["DistContext", "init_from_env", "train_epoch", "batch_chunks", "ENV_VARS",
           "LAUNCH_HINT"]

#: Variables torchrun sets for every worker (and this module needs).
ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
#: The command named in errors.
LAUNCH_HINT = ("torchrun --standalone --nproc_per_node=2 -m gnn.train --data prepared.pt "
               "--distributed")


@dataclass(frozen=True)
class DistContext:
    """This process's place in a data-parallel run.

    Attributes:
        rank: Global rank, ``0 <= rank < world_size``; rank 0 writes files.
        world_size: Number of processes.
        local_rank: Rank on this machine (informational on CPU).
    """

    rank: int
    world_size: int
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that writes files and prints."""
        return self.rank == 0

    def shard(self, rows: Tensor) -> Tensor:
        """This rank's share of ``rows``: every ``world_size``-th one from ``rank``."""
        return rows[self.rank::self.world_size]

    def wrap(self, model: nn.Module, static: bool = False) -> nn.Module:
        """``model`` in ``DistributedDataParallel`` (CPU, gloo).

        Typed GNN layers whose output never reaches a patient get no gradient (and in
        mini-batches, neither do edge types a sampled subgraph lacks); DDP must be told.
        ``static=True`` (full batch: the same parameters are used at every step) lets DDP
        learn the unused set once; otherwise it searches the autograd graph every step.
        Either way a parameter unused on every rank keeps no gradient, as in a single
        process (so Adam's weight decay leaves it alone there too).
        """
        if static:
            return nn.parallel.DistributedDataParallel(model, static_graph=True)
        return nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)

    def sum(self, value: float) -> float:
        """Sum of ``value`` over all ranks (float64)."""
        t = torch.tensor([float(value)], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return float(t.item())

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (any picklable value)."""
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Waits for every rank."""
        dist.barrier()

    def close(self) -> None:
        """Leaves the process group (idempotent)."""
        if dist.is_initialized():
            # Both ranks must be done communicating before gloo's threads are torn down;
            # tearing down while the peer still sends aborts with "terminate called".
            dist.barrier()
            dist.destroy_process_group()


def _env_int(env: Mapping[str, str], name: str, minimum: int) -> int:
    text = env[name]
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ConfigError(f"{name}={text!r}: expected an integer >= {minimum} (torchrun sets "
                          f"it; launch with: {LAUNCH_HINT})")
    return value


def init_from_env(env: Mapping[str, str] | None = None, backend: str = "gloo") -> DistContext:
    """Joins the process group described by torchrun's environment variables.

    Args:
        env: The environment (default ``os.environ``).
        backend: ``gloo``, the CPU backend.

    Returns:
        The :class:`DistContext` of this process.

    Raises:
        ConfigError: A variable is missing or invalid (the message names it and the
            torchrun command to use), or the process group cannot be joined.
    """
    env = os.environ if env is None else env
    missing = [name for name in ENV_VARS if not env.get(name)]
    if missing:
        raise ConfigError("--distributed needs the environment torchrun sets; missing "
                          f"{', '.join(missing)}. Launch with: {LAUNCH_HINT}")
    world = _env_int(env, "WORLD_SIZE", 1)
    rank = _env_int(env, "RANK", 0)
    local = _env_int(env, "LOCAL_RANK", 0)
    if rank >= world:
        raise ConfigError(f"RANK={rank} is not below WORLD_SIZE={world}")
    if not dist.is_available() or not dist.is_gloo_available():
        raise ConfigError("this torch build has no gloo backend for CPU data parallelism")
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend, rank=rank, world_size=world)
        except (RuntimeError, ValueError) as err:  # bad address/port, peers not reachable
            raise ConfigError(f"cannot join the {backend} process group at "
                              f"{env['MASTER_ADDR']}:{env['MASTER_PORT']} as rank {rank} of "
                              f"{world}: {err}") from err
    return DistContext(rank, world, local)


# ---------------------------------------------------------------------- training steps
def train_epoch(run: Any, ctx: DistContext, epoch: int) -> float:
    """One data-parallel epoch of a :class:`gnn.train.loop._Run`; the global mean train loss.

    ``run`` provides ``model`` (bare), ``net`` (its DDP wrapper), ``optimizer``,
    ``config``, ``data``, ``y``, ``rows``, ``loss_terms`` and ``node_loader``.
    """
    run.model.train()
    if run.config.batch_size is None:
        return _full_batch_epoch(run, ctx)
    return _mini_batch_epoch(run, ctx, epoch)


def _full_batch_epoch(run: Any, ctx: DistContext) -> float:
    rows = run.rows["train"]
    run.optimizer.zero_grad()
    # Every rank runs the same forward on all training patients: ranks hold one random
    # state, so dropout masks (and link negatives) equal those of a single process.
    terms, owner = run.loss_terms(run.net(run.data, index=rows), run.y[rows])
    mine = torch.zeros(len(rows), dtype=torch.bool)
    mine[ctx.shard(torch.arange(len(rows)))] = True
    local = terms[mine[owner]].sum()
    count = max(terms.numel(), 1)
    # DDP averages gradients over ranks; scaling by world / (global count) turns the
    # average into the gradient of the global mean loss.
    (local * (ctx.world_size / count)).backward()
    run.optimizer.step()
    return ctx.sum(float(local.detach())) / count


def _mini_batch_epoch(run: Any, ctx: DistContext, epoch: int) -> float:
    cfg, rows = run.config, run.rows["train"]
    key = cfg.seed * 1_000_003 + epoch
    # The batch schedule comes from (seed, epoch) alone, so every rank draws the same one.
    order = rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(key))]
    # Per-rank draws (dropout, neighbours) restart from (seed, epoch, rank) each epoch, so
    # a resumed run needs no per-rank random state in last.pt.
    rank_key = key * ctx.world_size + ctx.rank
    torch.manual_seed(rank_key)
    loader = run.node_loader(order, rank_key) if run.model.is_graph else None
    labels = int(run.y.size(1))
    total = 0.0
    for chunk in batch_chunks(len(order), cfg.batch_size, ctx.world_size):
        mine = ctx.shard(chunk)
        run.optimizer.zero_grad()
        if loader is None:
            idx = order[mine]
            logits = run.net(run.data, index=idx)
        else:
            batch = loader(mine)
            idx = batch["patient"].n_id[: batch["patient"].batch_size]
            logits = run.net(run.data, batch=batch)
        local = run.loss_terms(logits, run.y[idx])[0].sum()
        (local * (ctx.world_size / (len(chunk) * labels))).backward()
        run.optimizer.step()
        total += float(local.detach())
    return ctx.sum(total) / max(len(order) * labels, 1)


def batch_chunks(n: int, batch_size: int, world_size: int) -> list[Tensor]:
    """Positions ``0..n-1`` cut into global batches of ``batch_size`` (the last one
    merged into its predecessor when it could not give every rank a patient).

    Raises:
        ConfigError: ``n`` or ``batch_size`` is below ``world_size``.

    Examples:
        >>> [c.tolist() for c in batch_chunks(7, 3, 2)]
        [[0, 1, 2], [3, 4, 5, 6]]
    """
    if n < world_size or batch_size < world_size:
        raise ConfigError(f"{world_size} processes need at least one patient each per step: "
                          f"got {n} training patients and batch_size={batch_size}")
    bounds = [[start, min(start + batch_size, n)] for start in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < world_size:
        last = bounds.pop()
        bounds[-1][1] = last[1]
    return [torch.arange(a, b) for a, b in bounds]
