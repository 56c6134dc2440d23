"""Shared fixtures: a tiny random VGG (fast CLI tests), small synthetic images, the shared test images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from painterly.models.vgg import VGGArchitecture
from painterly.models.weights import load_weights_file
from tests.helpers import Fifos, pattern

SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "images"
TINY_ARCH = VGGArchitecture("tiny", (2, 2, 3, 3, 3), (8, 12, 16, 16, 16))


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test touches the user's weight cache unless it asks for the real weights."""
    home = tmp_path_factory.mktemp("painterly-home")
    monkeypatch.setenv("PAINTERLY_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VGG-16-shaped network with 8-16 channels and seeded He-initialised weights."""
    generator = torch.Generator().manual_seed(1234)
    state = {}
    for key, shape in TINY_ARCH.parameter_shapes().items():
        if key.endswith(".weight"):
            fan_in = shape[1] * shape[2] * shape[3]
            state[key] = torch.randn(shape, generator=generator) * (2.0 / fan_in) ** 0.5
        else:
            state[key] = torch.zeros(shape)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_file(state, str(path), metadata={"preprocessing": "torchvision", "arch": "tiny"})
    return path


@pytest.fixture
def small_images(tmp_path: Path) -> tuple[Path, Path]:
    """A 48x36 smooth 'photo' and a 40x40 striped 'painting'."""
    content = tmp_path / "photo.png"
    style = tmp_path / "painting.png"
    pattern(48, 36, stripes=False).save(content)
    pattern(40, 40, stripes=True).save(style)
    return content, style


@pytest.fixture
def shared_images() -> Path:
    if not (SHARED_IMAGES / "tubingen.jpg").exists():
        pytest.skip("../shared/images is not present")
    return SHARED_IMAGES


@pytest.fixture
def tiny_network(tiny_weights: Path):
    """`make(preprocessing)` -> (network, content layer names, style layer names) of the tiny VGG on
    the CPU in fp32: network(rgb 0..1 image) gives the activations of relu4_2 and relu1_1,
    relu2_1, relu3_1."""
    from painterly.network import Network
    from painterly.runtime import resolve_runtime

    def make(preprocessing: str = "torchvision"):
        loaded = load_weights_file(str(tiny_weights), preprocessing=preprocessing)
        names = [loaded.arch.resolve_layer(name) for name in ("relu4_2", "relu1_1", "relu2_1", "relu3_1")]
        return Network(loaded, names, resolve_runtime("cpu", "fp32")), names[:1], names[1:]

    return make


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The kernel path this run takes: results within the tests' tolerances differ by it, in rounding only."""
    import os

    from painterly.runtime import bf16_is_fast

    knobs = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "OMP_NUM_THREADS",
             "PAINTERLY_TEST_NO_BF16")  # fmt: skip
    settings = ", ".join(f"{name}={os.environ[name]}" for name in knobs if name in os.environ) or "none"
    native = bf16_is_fast(torch.device("cpu")) and os.environ.get("PAINTERLY_TEST_NO_BF16") != "1"
    return [
        f"painterly: torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
        f"{torch.get_num_threads()} threads, native bf16 {native}; kernel settings: {settings}"
    ]


@pytest.fixture(autouse=True)
def without_native_bf16(monkeypatch: pytest.MonkeyPatch) -> bool:
    """With PAINTERLY_TEST_NO_BF16=1 this process sees a CPU without AVX512-BF16 or AMX.

    `precision="auto"` then resolves to fp32 and the tests that need native bf16 skip, as on such a
    CPU (ONEDNN_MAX_CPU_ISA=AVX2 does not do this: PyTorch still reports the CPU's bf16, and "auto"
    picks bf16, run on emulated kernels). Child processes (the studio's workers, Ray tasks, the
    memory probes) still see the real CPU.
    """
    import os

    if os.environ.get("PAINTERLY_TEST_NO_BF16") != "1":
        return False
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    return True


# --- FIFOs that never block a test (the tests of paths that are not regular files) ---


@pytest.fixture
def fifos() -> Iterator[Fifos]:
    maker = Fifos()
    yield maker
    opened = maker.close()
    assert not opened, f"the code opened {opened} (it would block forever)"
