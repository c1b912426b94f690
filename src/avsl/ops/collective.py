"""Batch-wide quantities under DistributedDataParallel, so that a loss over N ranks equals the
loss of one process on the same global batch. Outside a process group these are identities."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _GatherBatch(torch.autograd.Function):
    """All ranks' equal-sized shards, concatenated; the backward sums every rank's gradient of
    this rank's shard. Written out because gloo's all-to-all, behind torch.distributed.nn's
    differentiable all_gather, mixed up non-contiguous gradients here (torch 2.14)."""

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:
        world = dist.get_world_size()
        out = tensor.new_empty((world * len(tensor), *tensor.shape[1:]))
        dist.all_gather(list(out.chunk(world)), tensor.contiguous())
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        total = grad.contiguous().clone()
        dist.all_reduce(total)
        return total.chunk(dist.get_world_size())[dist.get_rank()]


def gather_batch(tensor: Tensor) -> Tensor:
    """Every rank's `tensor` concatenated along dim 0, with gradients flowing back to each rank.

    Every rank computes the same loss of the gathered batch; the backward sums the ranks'
    gradients of each shard and DDP then averages over ranks, so training equals one process
    on the global batch (a contrastive loss sees the whole batch as negatives, not one shard).
    """
    if world_size() == 1:
        return tensor
    return _GatherBatch.apply(tensor)


def global_sum(value: Tensor) -> Tensor:
    """The sum of a (detached) count or statistic over ranks."""
    if world_size() == 1:
        return value
    total = value.detach().clone()
    dist.all_reduce(total)
    return total
