"""painterly.runs.networks: which options decide a network, and the cache that shares built ones
(the tiny network on the CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

import painterly.api as api
from painterly import options
from painterly.errors import PainterlyError
from painterly.models.weights import load_weights_file
from painterly.runs.networks import NETWORK_OPTIONS, NetworkCache, network_from_weights, network_key, weights_key
from painterly.settings import Settings
from tests.helpers import tiny_options


def settings(weights: Path, **overrides: object) -> Settings:
    return options.validate(tiny_options(weights, **overrides))


def test_the_key_follows_the_options_that_decide_the_network(tiny_weights: Path, tmp_path: Path) -> None:
    base = settings(tiny_weights)
    other_file = tmp_path / "other.safetensors"
    other_file.write_bytes(tiny_weights.read_bytes())
    changed = {"weights": str(other_file), "padding": "reflect", "pooling": "max", "precision": "bf16",
               "style_layers": ["relu1_1"], "content_layers": ["relu1_1"], "weights_preprocessing": "caffe",
               "model": "vgg19", "device": "cuda", "method": "strotss"}  # fmt: skip
    assert set(changed) == set(NETWORK_OPTIONS)  # every option of the network group moves the key
    for name, value in changed.items():
        assert network_key(base) != network_key(base.replace(**{name: value})), name
    for name, value in [("size", 64), ("optimizer", "lbfgs"), ("iterations", 9), ("style_weight", 3.0),
                        ("memory", "low"), ("margin", 0), ("compile", "default")]:  # fmt: skip
        assert network_key(base) == network_key(base.replace(**{name: value})), name


def test_the_weights_key_names_the_weights_only(tiny_weights: Path) -> None:
    base = settings(tiny_weights).as_dict()
    assert weights_key(base) == weights_key({**base, "device": "cuda", "padding": "reflect"})
    assert weights_key(base) != weights_key({**base, "weights": None})
    assert weights_key({"model": "auto"}) == weights_key({"model": "auto", "weights": None})


def test_the_cache_builds_a_network_once_per_key(tiny_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[str] = []
    real = api.build_network

    def counted(chosen: Settings, **keywords: object):
        builds.append(chosen.network.padding)
        return real(chosen, **keywords)

    monkeypatch.setattr(api, "build_network", counted)
    cache = NetworkCache()
    first, reason = cache.get(settings(tiny_weights))
    again, _ = cache.get(settings(tiny_weights, size=64, optimizer="adam"))  # only the run differs
    assert again is first and reason is None and builds == ["zeros"] and cache.last is first
    reflecting, _ = cache.get(settings(tiny_weights, padding="reflect"))
    assert reflecting is not first and len(cache.entries) == 1  # one kept: the old one went first
    assert cache.get(settings(tiny_weights))[0] is not first and builds == ["zeros", "reflect", "zeros"]
    roomy = NetworkCache(size=None)
    one, _ = roomy.get(settings(tiny_weights))
    roomy.get(settings(tiny_weights, padding="reflect"))
    assert roomy.get(settings(tiny_weights))[0] is one and len(roomy.entries) == 2


def test_a_failed_build_leaves_no_entry(tiny_weights: Path) -> None:
    cache = NetworkCache()
    cache.get(settings(tiny_weights))
    with pytest.raises(PainterlyError):
        cache.get(settings(tiny_weights, style_layers=["relu9_9"]))
    assert not cache.entries and cache.last is None
    assert cache.get(settings(tiny_weights))[0] is cache.last  # built again, not a stale key


def test_a_network_from_loaded_weights_has_the_runs_padding(tiny_weights: Path) -> None:
    from painterly.models.vgg import EdgePad

    network = network_from_weights(load_weights_file(str(tiny_weights)), settings(tiny_weights, padding="reflect"))
    pads = [module for module in network.encoder.modules() if isinstance(module, EdgePad)]
    assert pads and all(pad.mode == "reflect" for pad in pads)
    assert network.runtime.device.type == "cpu" and network.runtime.precision == "fp32"


def test_a_run_does_not_change_the_network_it_shares(tiny_weights: Path, small_images: tuple[Path, Path]) -> None:
    # memory "low" recomputes activations: on the run's own view of the cached network, not on it.
    content, style = small_images
    cache = NetworkCache()
    chosen = settings(tiny_weights, memory="low", iterations=3)
    network, reason = cache.get(chosen)
    inputs = api.prepare_inputs(str(content), str(style), chosen)
    low = api.stylize_with(network, inputs, chosen, reason=reason)
    assert low.settings["memory"] == "low" and network.recompute is False
    normal = api.stylize_with(network, inputs, chosen.replace(memory="normal"), reason=reason)
    assert normal.settings["memory"] == "normal"
    view = network.with_recompute(True)
    assert view is not network and view.encoder.recompute and not network.encoder.recompute
    assert view.encoder.stages is network.encoder.stages  # nothing large copied
    assert network.with_recompute(False) is network
