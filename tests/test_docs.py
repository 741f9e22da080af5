"""The README stays true to the code: every setting is in the configuration table."""

from __future__ import annotations

from pathlib import Path

import pytest

from authgate.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def _env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    choices = getattr(alias, "choices", None)
    return str(choices[0]) if choices else f"AUTHGATE_{field.upper()}"


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented_in_readme(field: str) -> None:
    assert f"| `{_env_name(field)}` |" in README.read_text()


def test_readme_names_the_two_setup_commands() -> None:
    text = README.read_text()
    assert "make run" in text
    assert "make test" in text
