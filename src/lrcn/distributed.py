"""PyTorch's own DDP, set up from what ``torchrun`` puts in the environment.

Without ``torchrun`` (no ``WORLD_SIZE``) everything here is a no-op: one
process, no process group. Under ``torchrun --nproc-per-node N``: NCCL on
GPUs (one per local rank), gloo on CPU; rank 0 alone writes files.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist
from torch import nn

from .errors import ConfigError


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @classmethod
    def from_env(cls, device: str | None = None) -> "Distributed":
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        wanted = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if wanted.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("--device cuda asked for, but PyTorch sees no CUDA device")
        if wanted == "cuda":
            dev = torch.device("cuda", local_rank % torch.cuda.device_count())
            torch.cuda.set_device(dev)
        else:
            dev = torch.device(wanted)
        if world_size > 1 and not torch_dist.is_initialized():
            torch_dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        return cls(rank, world_size, dev)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, module: nn.Module) -> nn.Module:
        if self.world_size == 1:
            return module
        return nn.parallel.DistributedDataParallel(module, device_ids=[self.device] if self.device.type == "cuda" else None)

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        if self.world_size == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch_dist.all_reduce(t)
        return t.tolist()

    def barrier(self) -> None:
        if self.world_size > 1:
            torch_dist.barrier()

    def close(self) -> None:
        if self.world_size > 1 and torch_dist.is_initialized():
            torch_dist.destroy_process_group()


def local_device(device: str | None = None) -> torch.device:
    """This process's device: ``cuda:LOCAL_RANK`` under torchrun on GPUs, else as asked (default cuda if present)."""
    wanted = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if wanted == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % max(1, torch.cuda.device_count()))
    return torch.device(wanted)


def usable_workers(asked: int) -> int:
    """``asked`` DataLoader workers, capped at the cores this process may run on (PyTorch warns about
    more, and they only compete with the main process)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    if asked > cores:
        logging.getLogger(__name__).debug("--num-workers %d capped at the %d usable cores", asked, cores)
    return min(asked, cores)
