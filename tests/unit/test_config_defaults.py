"""config.yaml and the settings dataclasses say the same defaults: one cannot drift from the other."""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from core.config import SECRETS, Settings
from tests.support.paths import ROOT


def _yaml() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_every_setting_has_the_same_default_in_config_yaml_and_in_its_dataclass() -> None:
    data = _yaml()
    secret_fields = {(section, name) for section, name in SECRETS.values()}
    settings = Settings()
    sections = {
        f.name for f in dataclasses.fields(settings) if dataclasses.is_dataclass(getattr(settings, f.name))
    }
    assert set(data) == sections, (
        f"only in yaml {set(data) - sections}, only in Settings {sections - set(data)}"
    )
    for name in data:
        default = getattr(settings, name)
        fields = {f.name for f in dataclasses.fields(default)}
        keys = set(data[name])
        public = {f for f in fields if (name, f) not in secret_fields}
        assert keys == public, f"{name}: only in yaml {keys - public}, only in the dataclass {public - keys}"
        for key, value in data[name].items():
            expected = getattr(default, key)
            got = tuple(value) if isinstance(value, list) else value
            assert got == expected, f"{name}.{key}: config.yaml says {value!r}, the dataclass {expected!r}"
