"""torch.distributed plumbing for engine.train_distributed: joining the process group and small collectives.

The backend follows the device: NCCL with one process per GPU when engine.device picks CUDA, gloo on the
CPU otherwise (RECSCOPE_DEVICE=cpu forces the CPU). Collective tensors live on the backend's device.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from engine.device import pick_device

BACKENDS = ("auto", "gloo", "nccl")


class DistributedError(Exception):
    """The job cannot run as configured; every rank raises it with the same message."""


@dataclass(frozen=True)
class Cluster:
    rank: int
    world_size: int
    local_rank: int  # index of this process on its node (= its GPU under NCCL)
    backend: str
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def join_cluster(backend: str = "auto", timeout_min: float = 30.0) -> Cluster:
    """init_process_group from torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, ...).

    Outside torchrun (no RANK variable) this process is a world of one, with an in-memory store."""
    if backend not in BACKENDS:
        raise DistributedError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device()
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl":
        if device.type != "cuda":
            raise DistributedError("--backend nccl needs CUDA, and this node has none (use gloo)")
        if local_rank >= torch.cuda.device_count():
            raise DistributedError(f"local rank {local_rank} has no GPU ({torch.cuda.device_count()} visible); "
                                   "start at most one process per GPU")  # fmt: skip
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    timeout = timedelta(minutes=timeout_min)
    if "RANK" in os.environ:
        dist.init_process_group(backend, timeout=timeout)
    else:
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1, timeout=timeout)
    return Cluster(dist.get_rank(), dist.get_world_size(), local_rank, backend, device)


def leave_cluster() -> None:
    """destroy_process_group, so the job exits promptly and its rendezvous port is released."""
    if dist.is_initialized():
        dist.destroy_process_group()


def broadcast_object(value: Any, cluster: Cluster) -> Any:
    """Rank 0's `value` on every rank (pickled; for small things built once)."""
    holder = [value if cluster.is_main else None]
    dist.broadcast_object_list(holder, src=0, device=cluster.device if cluster.backend == "nccl" else None)
    return holder[0]


def gather_ints(value: int, cluster: Cluster) -> list[int]:
    """Every rank's `value`, in rank order, on every rank."""
    gathered = [torch.zeros(1, dtype=torch.long, device=cluster.device) for _ in range(cluster.world_size)]
    dist.all_gather(gathered, torch.tensor([value], dtype=torch.long, device=cluster.device))
    return [int(v.item()) for v in gathered]


def gather_strings(value: str, cluster: Cluster) -> list[str]:
    """Every rank's `value`, in rank order, on every rank."""
    gathered: list[Any] = [None] * cluster.world_size
    dist.all_gather_object(gathered, value)
    return [str(v) for v in gathered]


def mean_over_ranks(value: float, cluster: Cluster) -> float:
    total = torch.tensor([value], dtype=torch.float64, device=cluster.device)
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return float(total.item()) / cluster.world_size


def broadcast_flag(flag: bool, cluster: Cluster) -> bool:
    """Rank 0's decision (early stopping) on every rank."""
    value = torch.tensor([int(flag)], dtype=torch.long, device=cluster.device)
    dist.broadcast(value, src=0)
    return bool(value.item())


def state_digest(module: torch.nn.Module) -> str:
    """SHA-256 over every parameter and buffer (names and bytes, in state_dict order): equal digests on
    two ranks mean bit-identical models."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
