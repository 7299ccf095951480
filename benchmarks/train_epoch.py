"""One training epoch from cached embeddings against the seed's way, same clips, same run.

The seed ran the frozen backbone on every frame of every clip in every epoch
(decode the 5-frame clip, resize, crop, CNN forward, then the LSTM head
forward/backward). lrcn embeds each frame once; an epoch then reads
memory-mapped float16 embeddings and trains the head only.

    python benchmarks/train_epoch.py [--clips 96] [--arch mobilenet_v2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lrcn.backbone import BackboneSpec, FrameEmbedder, imagenet_cache_path
from lrcn.datasets import load_dataset
from lrcn.embedded import load_embedded, train_batches
from lrcn.features import EmbeddingCache, FeatureSpec, decode_sampled, make_views
from lrcn.model import LRCNHead, ModelConfig
from lrcn.preprocess import PreprocessConfig
from lrcn.preprocess import run as preprocess
from lrcn.synth import SynthConfig, generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=96)
    parser.add_argument("--arch", default="mobilenet_v2")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    weights = "imagenet" if imagenet_cache_path(args.arch).is_file() else "none"
    spec = FeatureSpec(BackboneSpec(args.arch, weights), 2.5)
    with tempfile.TemporaryDirectory() as tmp:
        groups = max(4, args.clips // 10 + 1)
        data = generate(SynthConfig(str(Path(tmp) / "d"), groups=groups, clips_per_group=1), progress=False)
        preprocess(PreprocessConfig(str(data), str(Path(tmp) / "clips")), progress=False)
        dataset = load_dataset(Path(tmp) / "clips")
        items = [i for i in dataset.items][: args.clips]
        embedder = FrameEmbedder(spec.backbone, precision="auto")
        head = LRCNHead(ModelConfig(embedder.dim, len(dataset.classes)))
        optimizer = torch.optim.Adam(head.parameters(), lr=5e-4)
        loss_fn = torch.nn.CrossEntropyLoss()

        def step(x, y):
            loss = loss_fn(head(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        # The seed's way: backbone on every frame of every clip, every epoch (fp32 eager as the seed ran it).
        # The whole batch of clips in one CNN call, as the seed did (no micro-batching).
        seed_embedder = FrameEmbedder(spec.backbone, precision="fp32", micro_batch=args.batch * 5)
        t = time.perf_counter()
        for b in range(0, len(items), args.batch):
            batch = items[b : b + args.batch]
            clips = [make_views(decode_sampled(dataset.root / i.path, spec), ("center",))[0] for i in batch]
            x = seed_embedder(torch.from_numpy(np.concatenate(clips))).reshape(len(batch), 5, -1).clone()
            step(x, torch.tensor([i.label for i in batch]))
        seed_epoch = time.perf_counter() - t

        # lrcn: embed once (timed separately), then epochs from the cache.
        cache = EmbeddingCache(Path(tmp) / "cache", spec)
        t = time.perf_counter()
        data, _ = load_embedded(dataset, items, cache, ("center",), 5, embedder=embedder, workers=2, progress=False)
        embed_once = time.perf_counter() - t
        epochs = 5
        t = time.perf_counter()
        for epoch in range(epochs):
            for x, y in train_batches(data, 5, args.batch, np.random.default_rng(epoch)):
                step(x, y)
        cached_epoch = (time.perf_counter() - t) / epochs
    print(f"{len(items)} clips x 5 frames, {args.arch} ({weights} weights), batch {args.batch}")
    print(f"  seed's way (backbone every epoch):  {seed_epoch:8.3f} s/epoch")
    print(f"  lrcn from cached embeddings:        {cached_epoch:8.3f} s/epoch "
          f"(+ {embed_once:.1f} s once to embed, {embedder.precision})")
    print(f"ratio seed / lrcn per epoch: {seed_epoch / cached_epoch:.0f}x; "
          f"100 epochs: {100 * seed_epoch / (embed_once + 100 * cached_epoch):.0f}x")


if __name__ == "__main__":
    main()
