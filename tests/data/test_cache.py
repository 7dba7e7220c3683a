"""The on-disk cache of decoded folder images, and training that reads its batches from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgclass.data import folder as folder_module
from imgclass.data import load
from imgclass.data.cache import HEADER, DiskImages, _header, cache_root


def write_folder(root: Path, per_class: int, size: int = 12, classes=("a", "b", "c"), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for k, c in enumerate(classes):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            base = np.zeros(3)
            base[k % 3] = 180
            x = np.clip(base + rng.normal(0, 30, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(x).save(root / c / f"{i:05d}.png")
    return root


def direct(root: Path) -> dict[str, np.ndarray]:
    """Every image of the folder decoded without imgclass (file name -> (C, H, W))."""
    return {f"{p.parent.name}/{p.name}": np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1)
            for p in sorted(root.glob("*/*.png"))}


def entries() -> list[Path]:
    return sorted(p for p in cache_root().iterdir() if p.is_dir()) if cache_root().is_dir() else []


# --- DiskImages -----------------------------------------------------------------------------

@pytest.fixture
def disk(tmp_path, rng):
    x = rng.integers(0, 256, (23, 3, 4, 5), dtype=np.uint8)
    path = tmp_path / "x.npy"
    path.write_bytes(_header(x.shape) + x.tobytes())
    return x, DiskImages(path)


def test_disk_images_read_like_the_array(disk):
    x, d = disk
    assert d.shape == x.shape and len(d) == 23 and d.dtype == np.uint8 and d.ndim == 4
    assert np.array_equal(np.asarray(d), x)
    assert np.array_equal(np.load(d.path), x)  # the file is an ordinary .npy
    for key in (3, -1, slice(2, 9), slice(None, None, -3), [5, 1, 1, 22, 0], np.array([7, 8, 9, 10]),
                x[:, 0, 0, 0] > 128, (slice(1, 4), 0), (2, slice(0, 2))):
        assert np.array_equal(d[key], x[key]), key
    part = d.take([20, 3, 3, 11])
    assert part.shape == (4, 3, 4, 5) and np.array_equal(np.asarray(part), x[[20, 3, 3, 11]])
    assert np.array_equal(part.take([2, 0])[1], x[20])  # a subset of a subset
    mask = x[:, 0, 0, 0] > 100
    assert np.array_equal(np.asarray(d.take(mask)), x[mask]) and np.array_equal(d.take([]).shape, (0, 3, 4, 5))
    with pytest.raises(IndexError):
        d[[23]]


def test_disk_images_refuse_a_truncated_or_foreign_file(tmp_path, disk):
    x, d = disk
    short = tmp_path / "short.npy"
    short.write_bytes(d.path.read_bytes()[:-10])
    with pytest.raises(Exception, match="truncated"):
        DiskImages(short)
    other = tmp_path / "f.npy"
    np.save(other, np.zeros((2, 3), np.float32))
    with pytest.raises(Exception, match="expected uint8"):
        DiskImages(other)
    assert len(_header((10**12, 3, 10**5, 10**5))) == HEADER


# --- the folder cache -------------------------------------------------------------------------

def test_a_folder_is_decoded_once_and_then_read_from_the_cache(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "f", 6)
    calls = []
    real = folder_module.to_array
    monkeypatch.setattr(folder_module, "to_array", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = load(f"folder:{root}", test_fraction=0.5, seed=1)
    assert len(calls) == 18
    assert isinstance(first.x_train, DiskImages)
    opened = []
    real_open = folder_module.open_image
    monkeypatch.setattr(folder_module, "open_image", lambda *a, **k: opened.append(1) or real_open(*a, **k))
    again = load(f"folder:{root}", test_fraction=0.5, seed=1)
    assert len(calls) == 18 and opened == []  # nothing decoded, no file opened (not even for its header)
    for part in ("x_train", "x_test"):
        assert np.array_equal(np.asarray(getattr(first, part)), np.asarray(getattr(again, part)))
    images = direct(root)
    got = np.concatenate([np.asarray(first.x_train), np.asarray(first.x_test)])
    assert sorted(map(bytes, got)) == sorted(map(bytes, images.values()))  # the pixels PIL decodes


def test_a_changed_file_invalidates_the_cache(tmp_path):
    root = write_folder(tmp_path / "f", 4)
    before = load(f"folder:{root}", test_fraction=0.5)
    assert len(entries()) == 1
    target = root / "b" / "00002.png"
    Image.fromarray(np.full((12, 12, 3), 77, np.uint8)).save(target)
    os.utime(target, ns=(1, 10**18))  # a different modification time, whatever the clock's resolution
    after = load(f"folder:{root}", test_fraction=0.5)
    assert len(entries()) == 1  # the stale entry was deleted
    flat = np.concatenate([np.asarray(after.x_train), np.asarray(after.x_test)])
    assert any((img == 77).all() for img in flat)
    assert not any((img == 77).all() for img in np.concatenate([np.asarray(before.x_train), np.asarray(before.x_test)]))
    (root / "c" / "00000.png").unlink()  # a removed file too
    fewer = load(f"folder:{root}", test_fraction=0.5)
    assert len(fewer.y_train) + len(fewer.y_test) == 11 and len(entries()) == 1


@pytest.mark.parametrize("damage", ["truncate", "version", "garbage", "no-meta"])
def test_a_damaged_or_foreign_cache_entry_is_rebuilt_not_trusted(tmp_path, damage):
    root = write_folder(tmp_path / "f", 5)
    want = np.asarray(load(f"folder:{root}", test_fraction=0.4).x_train)
    (entry,) = entries()
    images, meta = entry / "images.npy", entry / "meta.json"
    if damage == "truncate":
        images.write_bytes(images.read_bytes()[:-100])
    elif damage == "version":
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "version": 0}))
    elif damage == "garbage":
        images.write_bytes(b"\x00" * 500)
    else:
        meta.unlink()
    got = load(f"folder:{root}", test_fraction=0.4)
    assert np.array_equal(np.asarray(got.x_train), want)
    assert json.loads(meta.read_text())["version"] >= 1 and DiskImages(images).shape[0] == 15


def test_unreadable_files_are_skipped_also_when_read_from_the_cache(tmp_path, caplog):
    root = write_folder(tmp_path / "f", 4)
    (root / "a" / "broken.png").write_bytes(b"not a png")
    for _ in range(2):
        d = load(f"folder:{root}", test_fraction=0.5)
        assert len(d.y_train) + len(d.y_test) == 12
        assert any("broken.png" in n for n in d.notes)


def test_two_processes_building_one_entry_at_once_both_get_it(tmp_path):
    root = write_folder(tmp_path / "f", 30)
    code = (f"from imgclass.data import load; import numpy as np; d = load('folder:{root}', test_fraction=0.5); "
            "print(int(np.asarray(d.x_train).sum()))")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    sums = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs) and sums[0] == sums[1] != ""
    assert len(entries()) == 1


def test_the_cache_keeps_to_its_limit_dropping_the_least_recently_used_entry_first(tmp_path, monkeypatch):
    import fcntl

    from imgclass.data import cache

    roots = [write_folder(tmp_path / f"f{i}", 4, seed=i) for i in range(4)]
    for i, root in enumerate(roots[:3]):
        load(f"folder:{root}", test_fraction=0.5)
        (new,) = [e for e in entries() if (e / "meta.json").stat().st_mtime > 1e6]
        os.utime(new / "meta.json", (1000 + i, 1000 + i))  # made in this order, long ago
    source = {json.loads((e / "meta.json").read_text())["source"]: e for e in entries()}
    first, second, third = (next(e for s, e in source.items() if str(r) in s) for r in roots[:3])
    load(f"folder:{roots[0]}", test_fraction=0.5)  # a hit: the oldest entry is now the most recently used
    assert (first / "meta.json").stat().st_mtime > 1e6
    size = max(cache._entry_size(e) for e in entries())
    monkeypatch.setenv(cache.LIMIT_ENV, str(2.5 * size / 1e9))  # room for two entries and a half
    d = load(f"folder:{roots[3]}", test_fraction=0.5)
    assert len(entries()) == 2 and first in entries() and second not in entries() and third not in entries()
    assert len(d.y_train) + len(d.y_test) == 12

    # an entry another process is building (it holds the entry's lock) stays, even when it is the oldest
    monkeypatch.setenv(cache.LIMIT_ENV, "0")
    os.utime(first / "meta.json", (10, 10))
    with open(cache.cache_root() / f"{first.name}.lock", "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        load(f"folder:{roots[1]}", test_fraction=0.5)
        fcntl.flock(f, fcntl.LOCK_UN)
    kept = entries()
    assert first in kept and len(kept) == 2  # the busy one and the one just written; the fourth went

    monkeypatch.setenv(cache.LIMIT_ENV, "big")
    with pytest.raises(Exception, match="IMGCLASS_DECODED_CACHE_GB must be a size in GB"):
        load(f"folder:{roots[2]}", test_fraction=0.5)


# --- training from the cache ----------------------------------------------------------------

def train_cli(tmp_path, *flags) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imgclass", "train", *flags, "--no-progress"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)


def test_streamed_batches_train_exactly_what_the_in_memory_split_trains(tmp_path):
    from imgclass.train import TrainConfig
    from imgclass.train.checkpoint import load_checkpoint
    from imgclass.train.run import train

    root = write_folder(tmp_path / "f", 20)
    runs = [train(TrainConfig(dataset=f"folder:{root}", model="cnn:4;fc=8", epochs=2, batch_size=16, flip=True,
                              crop_padding=2, stream=stream), out_root=tmp_path / "runs", progress=False)
            for stream in (False, True)]
    assert runs[0]["test_accuracy"] == runs[1]["test_accuracy"] and runs[0]["train_loss"] == runs[1]["train_loss"]
    a, b = (load_checkpoint(r["model_file"]) for r in runs)
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


# the child's own high-water mark of resident memory (VmHWM: per address space, so not the forking parent's,
# which ru_maxrss would include)
PEAK = ("import sys; from imgclass.cli import main; rc = main(sys.argv[1:]); "
        "print('PEAK_KB', [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]); sys.exit(rc)")


def peak_rss_mb(tmp_path, dataset: Path, *flags) -> float:
    r = subprocess.run([sys.executable, "-c", PEAK, "train", "--dataset", f"folder:{dataset}", "--model", "linear",
                        "--epochs", "1", "--batch-size", "64", "--no-progress", "--threads", "1",
                        "--no-amp", *flags],  # bfloat16 autocast adds its own buffers on a CPU that has it
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.split("PEAK_KB")[1].split()[0]) / 1024


def test_a_folder_several_times_the_memory_allowed_trains_in_bounded_memory(tmp_path):
    small = write_folder(tmp_path / "small", 40, size=128)  # 120 images
    big = write_folder(tmp_path / "big", 700, size=128)  # 2,100 images: 103 MB decoded, 413 MB as floats
    decoded_mb = 2100 * 3 * 128 * 128 / 2**20
    base = peak_rss_mb(tmp_path, small, "--stream")
    streamed = peak_rss_mb(tmp_path, big, "--stream")
    allowed = decoded_mb / 4  # the dataset is 4x the memory the run may add
    assert streamed - base < allowed, (base, streamed, decoded_mb)
    in_memory = peak_rss_mb(tmp_path, big, "--no-stream")  # the same run holding its split in memory does not fit
    assert in_memory - base > 2 * decoded_mb, (base, in_memory)


# --- any loader: CIFAR-10 batches and IDX files are decoded once too ------------------------------

@pytest.mark.parametrize("kind", ["cifar10", "idx"])
def test_other_loaders_decode_once_and_notice_changed_files(tmp_path, monkeypatch, rng, kind):
    from imgclass.data import cifar, idx

    if kind == "cifar10":
        x, y = rng.integers(0, 256, (50, 3, 32, 32), dtype=np.uint8), np.arange(50) % 10
        cifar.write_cifar10(tmp_path / "d", x, y, x[:20], y[:20])
        name, options, module, reader = "cifar10", {"data_dir": tmp_path / "d"}, cifar, "read_batch"
        changed = tmp_path / "d" / cifar.BATCH_DIR / cifar.TEST_BATCH
    else:
        x, y = rng.integers(0, 256, (30, 1, 6, 6), dtype=np.uint8), np.arange(30) % 3
        for part in ("train", "t10k"):
            idx.write_idx(tmp_path / "d" / f"{part}-images-idx3-ubyte", x[:, 0])
            idx.write_idx(tmp_path / "d" / f"{part}-labels-idx1-ubyte", y.astype(np.uint8))
        name, options, module, reader = f"idx:{tmp_path / 'd'}", {}, idx, "read_idx"
        changed = tmp_path / "d" / "t10k-images-idx3-ubyte"
    calls = []
    real = getattr(module, reader)
    monkeypatch.setattr(module, reader, lambda *a, **k: calls.append(1) or real(*a, **k))
    first = load(name, **options)
    assert isinstance(first.x_train, DiskImages) and np.array_equal(np.asarray(first.x_train), x)
    made = len(calls)
    again = load(name, **options)
    assert len(calls) == made  # read from the cache: no file parsed again
    assert np.array_equal(np.asarray(again.x_test), np.asarray(first.x_test)) and again.x_train.mean() == x.mean()
    os.utime(changed, ns=(1, 10**18))
    load(name, **options)
    assert len(calls) > made and len(entries()) == 1  # parsed again, and the stale entry is gone
