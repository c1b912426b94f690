"""Step -> that step's batches on the training device: the one home of batch assembly.

Each stream's clips, crops and view seeds are pure functions of (seed, stream, step), so a
resumed run sees exactly the batches of an uninterrupted one, with no sampler state to save,
and every rank draws the global batch and keeps its own share. The work is split where the
bytes are: the host gathers uint8 frames and audio from the `ClipSource` (in pinned memory when
the device is a GPU) and moves the boxes to the crops; the device crops, mirrors and
normalises the frames. `Prefetcher` runs the host half for the next steps in a thread while the
current step trains; gathers from tensors release the GIL, so the two overlap.
"""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from avsl.data.augment import CropParams, crop_boxes, crop_frames, sample_crops
from avsl.data.source import ClipSource, normalize_frames
from avsl.engine.schedule import step_seed
from avsl.methods.base import StreamSpec
from avsl.types import AVBatch


class BatchStream:
    """An endless, seeded stream of batches of `pool` indices: a fresh permutation per pass.

    `indices(step)` depends only on (seed, stream id, step), so resuming at any step is exact.
    """

    def __init__(self, pool: Tensor, batch_size: int, seed: int, stream: int) -> None:
        if len(pool) == 0:
            raise ValueError("a batch stream needs a non-empty pool")
        self.pool = pool
        self.batch_size = batch_size
        self.seed = seed
        self.stream = stream

    def _permutation(self, epoch: int) -> Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.stream * 10_007 + epoch)
        return self.pool[torch.randperm(len(self.pool), generator=generator)]

    def indices(self, step: int) -> Tensor:
        start = step * self.batch_size
        positions = torch.arange(start, start + self.batch_size)
        epochs = positions // len(self.pool)
        chosen = torch.empty(self.batch_size, dtype=torch.long)
        for epoch in epochs.unique().tolist():
            mask = epochs == epoch
            chosen[mask] = self._permutation(epoch)[positions[mask] % len(self.pool)]
        return chosen


@dataclass
class HostBatch:
    """One stream's share of a step on the host: frames uncropped, boxes already moved."""

    batch: AVBatch  # image (b, 3, C, C) uint8, boxes normalised to the crops, seeds set
    crops: CropParams


class BatchAssembler:
    """Turns a step and the streams a method asks for into batches on the device.

    Args:
        source: the training clips.
        pools: index tensors by pool name ("all", "labeled", "unlabeled").
        seed: the run's seed.
        image_size: the model's input side (crops of the source's stored frames).
        rank, world: this process's share of every global batch.
    """

    def __init__(
        self,
        source: ClipSource,
        pools: dict[str, Tensor],
        seed: int,
        image_size: int,
        device: torch.device,
        channels_last: bool = False,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.source = source
        self.pools = pools
        self.seed = seed
        self.image_size = image_size
        self.device = device
        self.channels_last = channels_last
        self.share = slice(rank, None, world)
        self.streams: dict[str, BatchStream] = {}

    def host_batches(self, step: int, specs: dict[str, StreamSpec]) -> dict[str, HostBatch]:
        """The host half: which clips, their crops and view seeds, gathered from the source."""
        generator = torch.Generator().manual_seed(step_seed(self.seed, step))
        out = {}
        for name, spec in specs.items():
            if name not in self.streams:
                stream_id = zlib.crc32(name.encode())
                self.streams[name] = BatchStream(self.pools[spec.pool], spec.batch_size, self.seed, stream_id)
            indices = self.streams[name].indices(step)
            crops = sample_crops(len(indices), self.source.side, self.image_size, generator)[self.share]
            seeds = view_seeds(len(indices), step_seed(self.seed, step), name)[self.share]
            batch = self.source.batch(indices[self.share])
            boxes = crop_boxes(batch.boxes, self.source.side, self.image_size, crops)
            image, audio = batch.image, batch.audio
            if self.device.type == "cuda":
                image, audio = image.pin_memory(), audio.pin_memory()
            out[name] = HostBatch(replace(batch, image=image, audio=audio, boxes=boxes, seeds=seeds), crops)
        return out

    def on_device(self, host: dict[str, HostBatch]) -> dict[str, AVBatch]:
        """The device half: copy, then crop, mirror and normalise the frames there."""
        out = {}
        for name, item in host.items():
            batch = item.batch.to(self.device)
            image = normalize_frames(crop_frames(batch.image, self.image_size, item.crops))
            if self.channels_last:
                image = image.contiguous(memory_format=torch.channels_last)
            out[name] = replace(batch, image=image, audio=batch.audio.float())
        return out

    def batches(self, step: int, specs: dict[str, StreamSpec]) -> dict[str, AVBatch]:
        return self.on_device(self.host_batches(step, specs))


def view_seeds(count: int, seed: int, stream: str) -> Tensor:
    """Per-clip seeds of the step's global batch for the method's own random views."""
    generator = torch.Generator().manual_seed(seed ^ zlib.crc32(stream.encode()))
    return torch.randint(0, 2**62, (count,), generator=generator)


class Prefetcher:
    """Yields (step, batches on the device) for `steps`, the host half made `depth` steps ahead
    in a background thread. Use as a context manager, so the thread stops with the loop."""

    def __init__(
        self,
        assembler: BatchAssembler,
        plan: Callable[[int], dict[str, StreamSpec]],
        steps: range,
        depth: int = 2,
    ) -> None:
        self.assembler = assembler
        self.plan = plan
        self.steps = steps
        self.queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._produce, name="avsl-batches", daemon=True)

    def __enter__(self) -> Prefetcher:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        while self.thread.is_alive():
            try:
                self.queue.get(timeout=0.05)  # unblock a producer waiting to put
            except queue.Empty:
                pass
        self.thread.join()

    def __iter__(self) -> Iterator[tuple[int, dict[str, AVBatch]]]:
        for step in self.steps:
            item = self.queue.get()
            if isinstance(item, BaseException):
                raise item
            yield step, self.assembler.on_device(item)

    def _produce(self) -> None:
        try:
            for step in self.steps:
                item = self.assembler.host_batches(step, self.plan(step))
                if not self._put(item):
                    return
        except BaseException as err:  # handed to the loop, which raises it in its own thread
            self._put(err)

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False
