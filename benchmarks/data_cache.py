"""The decoded-image cache of folder datasets: decoding once, then reading batches from disk vs from memory.

    tar xzf ../shared/data/cifar10-jpeg.tar.gz -C DATA      # DATA/train/<class>/*.jpg, DATA/test/<class>/*.jpg
    python benchmarks/data_cache.py --data-dir DATA

With an empty cache (a fresh ``$XDG_CACHE_HOME`` in a temporary folder), it measures

============================ ===============================================================================
decode_seconds               ``load("folder:DATA")`` the first time: every JPEG decoded into the cache
cached_load_seconds          the same call again: the cache is checked and opened, no image is decoded
cache_images_per_s           random training batches (128 images, an epoch's order) read from the cache
memory_images_per_s          the same batches indexed from the split held in memory (the reference)
streamed_images_per_s        the batches as a streamed run gets them: read and normalized (float32)
memory_float_images_per_s    the reference for that: batches indexed from the normalized split in memory
============================ ===============================================================================

Reads hit the operating system's page cache once the file was read (the cache file of CIFAR-10's 50,000
training images is 154 MB); a dataset larger than memory is read from the disk itself, at its speed.
The last line is one JSON object with these keys, ``cache_vs_memory`` and ``streamed_vs_memory`` (ratios
of images per second, the cache's over memory's).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np


def per_second(read, order: np.ndarray, batch: int = 128) -> float:
    t = time.perf_counter()
    for i in range(0, len(order), batch):
        read(order[i:i + batch])
    return len(order) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", required=True, help="a folder with train/<class>/ and test/<class>/ images")
    ap.add_argument("--epochs", type=int, default=1, help="passes over the training images for each reader [1]")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["XDG_CACHE_HOME"] = cache
        from imgclass.data import Preprocessor, load

        name = f"folder:{os.path.abspath(args.data_dir)}"
        t = time.perf_counter()
        load(name, progress=False)
        decode = time.perf_counter() - t
        t = time.perf_counter()
        d = load(name, progress=False)
        cached = time.perf_counter() - t
        disk = d.x_train
        memory = np.asarray(disk)
        rng = np.random.default_rng(0)
        order = np.concatenate([rng.permutation(len(disk)) for _ in range(args.epochs)])
        per_second(lambda idx: disk[idx], order[:5000])  # the page cache warm, as in a run's second epoch
        cache_rate = per_second(lambda idx: disk[idx], order)
        memory_rate = per_second(lambda idx: memory[idx], order)
        from imgclass.data.preprocess import Transformed

        pre = Preprocessor(normalize="channel").fit(disk)
        streamed = Transformed(pre, disk)
        floats = pre.transform(memory)
        streamed_rate = per_second(lambda idx: streamed[idx], order)
        float_rate = per_second(lambda idx: floats[idx], order)
    print(f"images: {len(disk)} train x {disk.shape[1:]} (C, H, W)")
    print(f"first load (decode into the cache) {decode:.1f} s, cached load {cached:.2f} s "
          f"({decode / cached:.0f}x faster)")
    print(f"uint8 batches: cache {cache_rate:,.0f} img/s, memory {memory_rate:,.0f} img/s "
          f"(cache/memory {cache_rate / memory_rate:.2f})")
    print(f"normalized batches: streamed {streamed_rate:,.0f} img/s, memory {float_rate:,.0f} img/s "
          f"(streamed/memory {streamed_rate / float_rate:.2f})")
    print(json.dumps({
        "benchmark": "data_cache", "images": len(disk), "image_shape": list(disk.shape[1:]),
        "cpu": platform.machine(), "decode_seconds": round(decode, 2), "cached_load_seconds": round(cached, 3),
        "cache_images_per_s": round(cache_rate), "memory_images_per_s": round(memory_rate),
        "cache_vs_memory": round(cache_rate / memory_rate, 3), "streamed_images_per_s": round(streamed_rate),
        "memory_float_images_per_s": round(float_rate), "streamed_vs_memory": round(streamed_rate / float_rate, 3)}))


if __name__ == "__main__":
    main()
