"""painterly.settings: the typed settings match the option schema, and validate makes them."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from painterly import options
from painterly.errors import PainterlyError
from painterly.settings import GROUP_TYPES, Settings


def test_every_option_has_one_typed_field_of_the_schemas_type() -> None:
    fields = [(group, field.name) for group, kind in GROUP_TYPES.items() for field in dataclasses.fields(kind)]
    names = [name for _, name in fields]
    assert sorted(names) == sorted(options.NAMES) and len(names) == len(set(names))  # each in exactly one group
    for group, kind in GROUP_TYPES.items():
        hints = typing.get_type_hints(kind)
        for field in dataclasses.fields(kind):
            assert hints[field.name] == options.BY_NAME[field.name].kind, (group, field.name)
            assert options.GROUPS[field.name] == group


def test_validate_returns_frozen_typed_settings_whose_record_reads_back() -> None:
    settings = options.validate({"size": 64, "style_layers": ["conv1_1", "conv2_1"], "optimizer": "lbfgs"})
    assert isinstance(settings, Settings)
    assert settings.inputs.size == 64 and settings.network.style_layers == ("conv1_1", "conv2_1")
    assert settings.network.layers == ["conv4_2", "conv1_1", "conv2_1"]
    assert settings.schedule.step == 1.0 and settings.schedule.decay == 0.0  # L-BFGS's defaults
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.inputs.size = 32  # type: ignore[misc]
    record = settings.as_dict()
    assert list(record) != [] and all(not isinstance(value, tuple) for value in record.values())
    assert options.validate(record) == settings
    for name, item in options.BY_NAME.items():  # every default lands in its field
        assert options.validate({}).as_dict()[name] == (list(item.default) if isinstance(item.default, tuple)
                                                        else item.default), name  # fmt: skip


def test_replace_checks_the_changed_settings_again() -> None:
    settings = options.validate({})
    assert settings.replace(size=256).inputs.size == 256 and settings.inputs.size == 512
    with pytest.raises(PainterlyError, match="size must be an integer of at least 16"):
        settings.replace(size=8)
    with pytest.raises(PainterlyError, match="--pyramid 2 needs --optimizer adam"):
        settings.replace(pyramid=2, optimizer="lbfgs")
