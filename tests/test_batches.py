"""Batch assembly: the host/device split gives the old single-thread batches, follows the
device, and the prefetch thread changes nothing but timing."""

from __future__ import annotations

import pytest
import torch

from avsl.data.augment import sample_crops, weak_augment
from avsl.data.memory import ClipBank
from avsl.data.source import normalize_frames
from avsl.engine.batches import BatchAssembler, Prefetcher, view_seeds
from avsl.engine.schedule import step_seed
from avsl.methods.base import StreamSpec

SPECS = {"labeled": StreamSpec("labeled", 4), "unlabeled": StreamSpec("unlabeled", 6)}


def make_bank(count: int = 20, side: int = 22) -> ClipBank:
    generator = torch.Generator().manual_seed(0)
    return ClipBank(
        ids=[f"c{i}" for i in range(count)],
        images=torch.randint(0, 256, (count, 3, side, side), dtype=torch.uint8, generator=generator),
        audio=torch.randn(count, 100, generator=generator),
        boxes=[torch.tensor([[0.1, 0.2, 0.5 + i / 100, 0.9]]) for i in range(count)],
        has_box=torch.ones(count, dtype=torch.bool),
    )


def assembler(bank: ClipBank, device: str = "cpu", rank: int = 0, world: int = 1) -> BatchAssembler:
    pools = {"labeled": torch.arange(0, 8), "unlabeled": torch.arange(8, 20)}
    return BatchAssembler(bank, pools, seed=3, image_size=20, device=torch.device(device), rank=rank, world=world)


def test_device_crop_equals_the_host_weak_view():
    bank = make_bank()
    made = assembler(bank).batches(5, SPECS)
    generator = torch.Generator().manual_seed(step_seed(3, 5))
    for name, spec in SPECS.items():
        batch = made[name]
        indices = torch.tensor([int(i[1:]) for i in batch.ids])
        crops = sample_crops(spec.batch_size, 22, 20, generator)
        image, boxes = weak_augment(normalize_frames(bank.images[indices]), [bank.boxes[i] for i in indices], 20, crops)
        assert torch.allclose(batch.image, image) and all(
            torch.equal(a, b) for a, b in zip(batch.boxes, boxes, strict=True)
        )
        assert torch.equal(batch.seeds, view_seeds(spec.batch_size, step_seed(3, 5), name))


def test_ranks_share_out_the_global_batch():
    bank = make_bank()
    whole = assembler(bank).batches(2, SPECS)
    halves = [assembler(bank, rank=r, world=2).batches(2, SPECS) for r in (0, 1)]
    for name in SPECS:
        assert halves[0][name].ids + halves[1][name].ids == whole[name].ids[0::2] + whole[name].ids[1::2]
        assert torch.equal(halves[1][name].image, whole[name].image[1::2])


def test_batches_follow_the_device():
    made = assembler(make_bank(), device="meta").batches(0, SPECS)
    assert all(b.image.device.type == "meta" and b.audio.device.type == "meta" for b in made.values())


def test_prefetching_gives_the_same_batches_in_order():
    bank = make_bank()
    direct = [assembler(bank).batches(step, SPECS) for step in range(3, 9)]
    with Prefetcher(assembler(bank), lambda step: SPECS, range(3, 9)) as prefetched:
        fetched = list(prefetched)
    assert [step for step, _ in fetched] == list(range(3, 9))
    for want, (_, got) in zip(direct, fetched, strict=True):
        assert all(torch.equal(want[n].image, got[n].image) and want[n].ids == got[n].ids for n in SPECS)


def test_a_failure_in_the_prefetch_thread_reaches_the_loop():
    def plan(step: int):
        if step == 2:
            raise RuntimeError("broken plan")
        return SPECS

    with pytest.raises(RuntimeError, match="broken plan"):
        with Prefetcher(assembler(make_bank()), plan, range(0, 5)) as prefetched:
            for _ in prefetched:
                pass


def test_leaving_the_loop_early_stops_the_thread():
    prefetcher = Prefetcher(assembler(make_bank()), lambda step: SPECS, range(0, 1000))
    with prefetcher as prefetched:
        next(iter(prefetched))
    assert not prefetcher.thread.is_alive()
