"""DDP from torchrun's environment variables (RANK, WORLD_SIZE, LOCAL_RANK); a no-op in a single process."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init() -> tuple[int, int, torch.device]:
    """Start the process group when launched by torchrun; returns (rank, world_size, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def is_main() -> bool:
    """Rank 0, or a single process. Before the process group starts and after it ends, torchrun's RANK says so (else
    every process would count as the main one there, and write)."""
    if dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_mean(value: float, device: torch.device) -> float:
    """Average a scalar over processes."""
    if not dist.is_initialized():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
