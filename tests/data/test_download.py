"""The download path, against a real HTTP server on 127.0.0.1.

The server (standard library only) serves whatever a test registers in the
``routes`` fixture: a good file, a file the caller expects a different md5
for, a file whose transfer is cut short, a stalled transfer; anything else
is a 404. Nothing here needs the internet.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import imgclass.data.cifar as cifar
import imgclass.data.download as download
import imgclass.data.idx as idx
from imgclass.data import load
from imgclass.data.download import download_file, search_dirs
from imgclass.errors import DataError

pytestmark = pytest.mark.timeout(10)

TIMEOUT = 5.0  # seconds, for every network operation made by a test


# --- the local server ------------------------------------------------------------


@dataclass
class Route:
    """What the server answers for one path.

    mode:
      ``good``     200 with the true Content-Length and the whole body;
      ``cut``      Content-Length of the whole body, but only ``body[:sent]`` is
                   sent before the socket is closed;
      ``nolength`` 200 without Content-Length, ``body[:sent]`` then close;
      ``chunked``  chunked transfer of ``body[:sent]``, then close without the last chunk;
      ``stall``    Content-Length of the whole body, ``body[:sent]``, then silence.
    """

    body: bytes
    mode: str = "good"
    sent: int | None = None

    def part(self) -> bytes:
        return self.body if self.sent is None else self.body[: self.sent]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Route]
    log: list[str]
    release: threading.Event


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # so that chunked transfer is legal
    server: _Server

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        self.server.log.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        body, part = route.body, route.part()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Connection", "close")  # sets self.close_connection
        if route.mode in ("good", "cut", "stall"):
            self.send_header("Content-Length", str(len(body)))
        if route.mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if route.mode == "chunked":
            # One complete chunk, then a chunk announced but cut off, no terminator.
            half = len(part) // 2
            self.wfile.write(b"%x\r\n" % half + part[:half] + b"\r\n")
            self.wfile.write(b"%x\r\n" % len(body) + part[half:])
        else:
            self.wfile.write(part)
        self.wfile.flush()
        if route.mode == "stall":
            self.server.release.wait(TIMEOUT)
        # Returning closes the socket (close_connection is set): for "cut" the
        # client has seen fewer bytes than Content-Length announced.


@pytest.fixture
def routes() -> dict[str, Route]:
    return {}


@pytest.fixture
def request_log() -> list[str]:
    return []


@pytest.fixture
def http_server(routes, request_log):
    """Base URL (no trailing slash) of a server on 127.0.0.1; shut down after the test."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.routes, server.log, server.release = routes, request_log, threading.Event()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


@pytest.fixture
def dead_url():
    """A URL on a port that is bound but not listening: connections are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No real user data, cache or Debian package can be found."""
    monkeypatch.setenv("IMGCLASS_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(download, "SYSTEM_DIRS", {})
    return tmp_path


# --- helpers ---------------------------------------------------------------------


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def payload(n: int = 200_000, seed: int = 0) -> bytes:
    # Larger than several download CHUNKs, so reads happen in many pieces.
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def leftovers(directory: Path) -> list[str]:
    """Temporary files (dot-names, .tmp) left in ``directory``, recursively."""
    return sorted(
        str(p.relative_to(directory)) for p in directory.rglob("*")
        if p.name.startswith(".") or p.name.endswith(".tmp")
    )


# --- download_file -----------------------------------------------------------------


def test_good_file_downloads_with_right_bytes(http_server, routes, tmp_path):
    data = payload()
    routes["/good.bin"] = Route(data)
    dest = tmp_path / "sub" / "good.bin"  # parent does not exist yet

    got = download_file(f"{http_server}/good.bin", dest, md5(data), timeout=TIMEOUT, progress=False)

    assert got == dest
    assert dest.read_bytes() == data
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in dest.parent.iterdir()) == ["good.bin"]


def test_good_file_without_md5_replaces_old_file(http_server, routes, tmp_path):
    data = payload(seed=1)
    routes["/good.bin"] = Route(data)
    dest = tmp_path / "good.bin"
    dest.write_bytes(b"old contents")

    download_file([f"{http_server}/good.bin"], dest, None, timeout=TIMEOUT, progress=False)

    assert dest.read_bytes() == data
    assert leftovers(tmp_path) == []


def test_wrong_checksum_raises_and_leaves_nothing(http_server, routes, tmp_path):
    data = payload()
    routes["/tampered.bin"] = Route(data)
    dest = tmp_path / "tampered.bin"
    expected = md5(b"the official file")

    with pytest.raises(DataError) as err:
        download_file(f"{http_server}/tampered.bin", dest, expected, timeout=TIMEOUT, progress=False)

    msg = str(err.value)
    assert "checksum" in msg
    assert expected in msg and md5(data) in msg  # says what was expected and what arrived
    assert f"{http_server}/tampered.bin" in msg
    assert not dest.exists()
    assert leftovers(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_connection_cut_mid_file_raises_and_leaves_nothing(http_server, routes, tmp_path):
    data = payload()
    routes["/cut.bin"] = Route(data, mode="cut", sent=len(data) // 2)
    dest = tmp_path / "cut.bin"

    with pytest.raises(DataError) as err:
        # md5=None: only the byte count can reveal the short transfer.
        download_file(f"{http_server}/cut.bin", dest, None, timeout=TIMEOUT, progress=False)

    assert f"{len(data) // 2} of {len(data)} bytes" in str(err.value)
    assert not dest.exists()
    assert leftovers(tmp_path) == []


def test_connection_cut_with_md5_also_fails(http_server, routes, tmp_path):
    data = payload()
    routes["/cut.bin"] = Route(data, mode="cut", sent=len(data) - 1)
    dest = tmp_path / "cut.bin"

    with pytest.raises(DataError):
        download_file(f"{http_server}/cut.bin", dest, md5(data), timeout=TIMEOUT, progress=False)

    assert not dest.exists()
    assert leftovers(tmp_path) == []


def test_failed_download_keeps_old_complete_file(http_server, routes, tmp_path):
    old = b"an older, complete copy" * 100
    dest = tmp_path / "data.bin"
    dest.write_bytes(old)
    data = payload()
    routes["/cut.bin"] = Route(data, mode="cut", sent=len(data) // 3)
    routes["/tampered.bin"] = Route(data)

    with pytest.raises(DataError):
        download_file(f"{http_server}/cut.bin", dest, None, timeout=TIMEOUT, progress=False)
    assert dest.read_bytes() == old
    assert leftovers(tmp_path) == []

    with pytest.raises(DataError):
        download_file(f"{http_server}/tampered.bin", dest, md5(b"other"), timeout=TIMEOUT, progress=False)
    assert dest.read_bytes() == old
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]


def test_chunked_transfer_cut_mid_chunk_raises(http_server, routes, tmp_path):
    data = payload()
    routes["/chunked.bin"] = Route(data, mode="chunked", sent=len(data) // 2)
    dest = tmp_path / "chunked.bin"

    with pytest.raises(DataError):
        download_file(f"{http_server}/chunked.bin", dest, None, timeout=TIMEOUT, progress=False)

    assert not dest.exists()
    assert leftovers(tmp_path) == []


def test_no_content_length_truncation_caught_by_md5(http_server, routes, tmp_path):
    data = payload()
    routes["/short.bin"] = Route(data, mode="nolength", sent=len(data) // 2)
    routes["/full.bin"] = Route(data, mode="nolength")
    dest = tmp_path / "x.bin"

    with pytest.raises(DataError, match="checksum"):
        download_file(f"{http_server}/short.bin", dest, md5(data), timeout=TIMEOUT, progress=False)
    assert not dest.exists()

    # Without Content-Length a complete body is accepted on its md5.
    download_file(f"{http_server}/full.bin", dest, md5(data), timeout=TIMEOUT, progress=False)
    assert dest.read_bytes() == data
    assert leftovers(tmp_path) == []


def test_stalled_server_times_out(http_server, routes, tmp_path):
    data = payload()
    routes["/stall.bin"] = Route(data, mode="stall", sent=1000)
    dest = tmp_path / "stall.bin"

    with pytest.raises(DataError, match="(?i)timed? ?out"):
        download_file(f"{http_server}/stall.bin", dest, None, timeout=0.3, progress=False)

    assert not dest.exists()
    assert leftovers(tmp_path) == []


def test_404_raises_with_url_and_reason(http_server, tmp_path):
    dest = tmp_path / "missing.bin"
    url = f"{http_server}/missing.bin"

    with pytest.raises(DataError) as err:
        download_file(url, dest, None, timeout=TIMEOUT, progress=False)

    assert url in str(err.value)
    assert "Not Found" in str(err.value)
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


# --- mirrors -----------------------------------------------------------------------


def test_mirror_after_404_is_used(http_server, routes, request_log, tmp_path):
    data = payload()
    routes["/mirror2/file.bin"] = Route(data)
    dest = tmp_path / "file.bin"
    urls = [f"{http_server}/mirror1/file.bin", f"{http_server}/mirror2/file.bin"]

    download_file(urls, dest, md5(data), timeout=TIMEOUT, progress=False)

    assert dest.read_bytes() == data
    assert request_log == ["/mirror1/file.bin", "/mirror2/file.bin"]
    assert leftovers(tmp_path) == []


def test_mirror_after_bad_transfers_is_used(http_server, routes, request_log, tmp_path):
    data = payload()
    routes["/cut/file.bin"] = Route(data, mode="cut", sent=100)
    routes["/tampered/file.bin"] = Route(payload(seed=7))
    routes["/good/file.bin"] = Route(data)
    dest = tmp_path / "file.bin"
    urls = [f"{http_server}/{m}/file.bin" for m in ("cut", "tampered", "good")]

    download_file(urls, dest, md5(data), timeout=TIMEOUT, progress=False)

    assert dest.read_bytes() == data
    assert request_log == ["/cut/file.bin", "/tampered/file.bin", "/good/file.bin"]
    assert leftovers(tmp_path) == []


def test_first_good_mirror_wins(http_server, routes, request_log, tmp_path):
    data = payload()
    routes["/a/file.bin"] = Route(data)
    routes["/b/file.bin"] = Route(data)
    dest = tmp_path / "file.bin"

    download_file([f"{http_server}/a/file.bin", f"{http_server}/b/file.bin"], dest, md5(data),
                  timeout=TIMEOUT, progress=False)

    assert request_log == ["/a/file.bin"]


def test_all_mirrors_fail_lists_every_url(http_server, routes, dead_url, tmp_path):
    data = payload()
    routes["/cut/file.bin"] = Route(data, mode="cut", sent=100)
    routes["/tampered/file.bin"] = Route(payload(seed=7))
    urls = [
        f"{http_server}/missing/file.bin",
        f"{http_server}/cut/file.bin",
        f"{http_server}/tampered/file.bin",
        f"{dead_url}/file.bin",
    ]
    dest = tmp_path / "file.bin"

    with pytest.raises(DataError) as err:
        download_file(urls, dest, md5(data), timeout=TIMEOUT, progress=False)

    msg = str(err.value)
    lines = msg.splitlines()
    for url in urls:
        assert sum(line.strip().startswith(url + ":") for line in lines) == 1, (url, msg)
    assert "Not Found" in msg
    assert f"100 of {len(data)} bytes" in msg
    assert "checksum" in msg
    assert "refused" in msg.lower()
    # Tells the user where to put the file by hand.
    assert "file.bin" in lines[0] and str(tmp_path) in msg
    assert not dest.exists()
    assert leftovers(tmp_path) == []


# --- end to end through imgclass.data.load ------------------------------------------------


def make_mnist_files(directory: Path, seed: int = 0):
    """Small IDX .gz files with the official names; returns arrays and their md5s."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(20) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "test_labels": np.arange(10).astype(np.uint8),
    }
    md5s = {}
    for role, stem in idx.IDX_FILES.items():
        path = idx.write_idx(directory / f"{stem}.gz", arrays[role])
        md5s[path.name] = md5(path.read_bytes())
    return arrays, md5s


def patch_mnist_remote(monkeypatch, urls, md5s):
    monkeypatch.setattr(idx, "MNIST_URLS", urls)
    monkeypatch.setattr(idx, "MNIST_MD5", md5s)


@pytest.fixture
def mnist_served(http_server, routes, tmp_path):
    served = tmp_path / "served"
    arrays, md5s = make_mnist_files(served)
    for name in md5s:
        routes[f"/mnist/{name}"] = Route((served / name).read_bytes())
    return arrays, md5s


def check_mnist(ds, arrays):
    assert ds.x_train.shape == (20, 1, 28, 28) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (10, 1, 28, 28)
    np.testing.assert_array_equal(ds.x_train[:, 0], arrays["train_images"])
    np.testing.assert_array_equal(ds.x_test[:, 0], arrays["test_images"])
    np.testing.assert_array_equal(ds.y_train, arrays["train_labels"])
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])
    assert ds.y_train.dtype == np.int64
    assert ds.classes == [str(d) for d in range(10)]


def test_load_mnist_downloads_into_data_dir_then_loads_offline(
    isolated, http_server, mnist_served, request_log, dead_url, monkeypatch
):
    arrays, md5s = mnist_served
    data_dir = isolated / "data"
    data_dir.mkdir()
    # The first mirror is missing everything; the second has the files.
    patch_mnist_remote(monkeypatch, [f"{http_server}/nowhere/", f"{http_server}/mnist/"], md5s)

    ds = load("mnist", data_dir=data_dir)

    check_mnist(ds, arrays)
    assert ds.source == str(data_dir)
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(md5s)
    for name, digest in md5s.items():
        assert md5((data_dir / name).read_bytes()) == digest
    assert leftovers(isolated) == []
    cache = isolated / "cache" / "imgclass"  # no download went to the cache (only the decoded images did)
    assert [p.name for p in cache.iterdir()] == ["decoded"] and not (isolated / "cache" / "mnist").exists()
    assert sorted(request_log) == sorted([f"/nowhere/{n}" for n in md5s] + [f"/mnist/{n}" for n in md5s])

    # Second load: no server reachable, files are found locally.
    n_requests = len(request_log)
    patch_mnist_remote(monkeypatch, [f"{dead_url}/"], md5s)
    ds2 = load("mnist", data_dir=data_dir)
    check_mnist(ds2, arrays)
    assert len(request_log) == n_requests


def test_load_mnist_without_data_dir_downloads_into_cache(
    isolated, http_server, mnist_served, dead_url, monkeypatch
):
    arrays, md5s = mnist_served
    patch_mnist_remote(monkeypatch, [f"{http_server}/mnist/"], md5s)

    ds = load("mnist")

    cache = isolated / "cache" / "imgclass" / "mnist"
    check_mnist(ds, arrays)
    assert ds.source == str(cache)
    assert sorted(p.name for p in cache.iterdir()) == sorted(md5s)
    assert leftovers(isolated) == []

    patch_mnist_remote(monkeypatch, [f"{dead_url}/"], md5s)
    check_mnist(load("mnist"), arrays)


def test_load_mnist_finds_files_before_downloading(isolated, dead_url, monkeypatch):
    # Files under $IMGCLASS_DATA/mnist are used; the (dead) URLs are never needed.
    arrays, md5s = make_mnist_files(isolated / "env" / "mnist")
    patch_mnist_remote(monkeypatch, [f"{dead_url}/"], md5s)

    ds = load("mnist")

    check_mnist(ds, arrays)
    assert ds.source == str(isolated / "env" / "mnist")


def test_load_mnist_bad_checksum_fails_cleanly(isolated, http_server, mnist_served, monkeypatch):
    arrays, md5s = mnist_served
    wrong = dict(md5s, **{"train-images-idx3-ubyte.gz": md5(b"not it")})
    data_dir = isolated / "data"
    data_dir.mkdir()
    patch_mnist_remote(monkeypatch, [f"{http_server}/mnist/"], wrong)

    with pytest.raises(DataError, match="checksum"):
        load("mnist", data_dir=data_dir)

    assert not (data_dir / "train-images-idx3-ubyte.gz").exists()
    assert leftovers(isolated) == []


@pytest.fixture
def cifar_served(http_server, routes, tmp_path):
    rng = np.random.default_rng(1)
    x_train = rng.integers(0, 256, (10, 3, 32, 32), dtype=np.uint8)
    y_train = np.arange(10) % 10
    x_test = rng.integers(0, 256, (5, 3, 32, 32), dtype=np.uint8)
    y_test = np.array([3, 1, 4, 1, 5])
    archive = cifar.write_cifar10(tmp_path / "served", x_train, y_train, x_test, y_test, archive=True)
    blob = archive.read_bytes()
    routes["/cifar/" + cifar.ARCHIVE] = Route(blob)
    return (x_train, y_train, x_test, y_test), md5(blob)


def check_cifar(ds, arrays):
    x_train, y_train, x_test, y_test = arrays
    np.testing.assert_array_equal(ds.x_train, x_train)
    np.testing.assert_array_equal(ds.y_train, y_train)
    np.testing.assert_array_equal(ds.x_test, x_test)
    np.testing.assert_array_equal(ds.y_test, y_test)
    assert ds.x_train.dtype == np.uint8
    assert ds.classes == cifar.CIFAR10_CLASSES


def test_load_cifar10_downloads_then_loads_offline(
    isolated, http_server, cifar_served, request_log, dead_url, monkeypatch
):
    arrays, digest = cifar_served
    data_dir = isolated / "data"
    data_dir.mkdir()
    monkeypatch.setattr(cifar, "CIFAR10_URL", f"{http_server}/cifar/{cifar.ARCHIVE}")
    monkeypatch.setattr(cifar, "CIFAR10_MD5", digest)

    ds = load("cifar10", data_dir=data_dir)

    check_cifar(ds, arrays)
    assert request_log == [f"/cifar/{cifar.ARCHIVE}"]
    assert md5((data_dir / cifar.ARCHIVE).read_bytes()) == digest
    assert (data_dir / cifar.BATCH_DIR / cifar.TEST_BATCH).is_file()
    assert leftovers(isolated) == []
    cache = isolated / "cache" / "imgclass"  # no download went to the cache (only the decoded images did)
    assert [p.name for p in cache.iterdir()] == ["decoded"] and not (isolated / "cache" / "cifar10").exists()

    monkeypatch.setattr(cifar, "CIFAR10_URL", f"{dead_url}/{cifar.ARCHIVE}")
    check_cifar(load("cifar10", data_dir=data_dir), arrays)
    assert len(request_log) == 1


def test_load_cifar10_bad_checksum_fails_cleanly(isolated, http_server, cifar_served, monkeypatch):
    data_dir = isolated / "data"
    data_dir.mkdir()
    monkeypatch.setattr(cifar, "CIFAR10_URL", f"{http_server}/cifar/{cifar.ARCHIVE}")
    monkeypatch.setattr(cifar, "CIFAR10_MD5", md5(b"the official archive"))

    with pytest.raises(DataError, match="checksum"):
        load("cifar10", data_dir=data_dir)

    assert list(data_dir.iterdir()) == []


# --- search_dirs -------------------------------------------------------------------


def test_search_dirs_missing_data_dir_raises(tmp_path):
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(DataError) as err:
        search_dirs("mnist", missing)
    assert str(missing) in str(err.value)
    assert "does not exist" in str(err.value)


def test_search_dirs_data_dir_that_is_a_file_raises(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(DataError, match="file.txt"):
        search_dirs("mnist", f)


def test_load_missing_data_dir_raises(isolated):
    with pytest.raises(DataError, match="nowhere"):
        load("mnist", data_dir=isolated / "nowhere")


def test_search_dirs_order(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setenv("IMGCLASS_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(download, "SYSTEM_DIRS", {"mnist": [tmp_path / "sys1", tmp_path / "sys2"]})

    assert search_dirs("mnist", data_dir) == [
        data_dir,
        data_dir / "mnist",
        tmp_path / "env" / "mnist",
        tmp_path / "cache" / "imgclass" / "mnist",
        tmp_path / "sys1",
        tmp_path / "sys2",
    ]
    # Another name has its own subdirectories and no system copy.
    assert search_dirs("cifar10", str(data_dir)) == [
        data_dir,
        data_dir / "cifar10",
        tmp_path / "env" / "cifar10",
        tmp_path / "cache" / "imgclass" / "cifar10",
    ]


def test_search_dirs_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv("IMGCLASS_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(download, "SYSTEM_DIRS", {"mnist": [tmp_path / "sys"]})

    assert search_dirs("mnist") == [
        tmp_path / "home" / ".cache" / "imgclass" / "mnist",
        tmp_path / "sys",
    ]


def test_search_dirs_expands_user(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "d").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("IMGCLASS_DATA", "~/env")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(download, "SYSTEM_DIRS", {})

    assert search_dirs("mnist", "~/d") == [
        home / "d", home / "d" / "mnist", home / "env" / "mnist",
        tmp_path / "cache" / "imgclass" / "mnist",
    ]
