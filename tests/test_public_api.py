"""The public surface is deliberate: a sorted ``__all__`` whose every name imports."""

from __future__ import annotations

import importlib

import authgate


def test_all_is_sorted_and_unique() -> None:
    assert list(authgate.__all__) == sorted(set(authgate.__all__))


def test_every_exported_name_imports() -> None:
    module = importlib.import_module("authgate")
    for name in authgate.__all__:
        assert getattr(module, name) is not None, name


def test_core_names_are_exported() -> None:
    expected = {"AuthMiddleware", "Principal", "Settings", "create_app", "require"}
    assert expected <= set(authgate.__all__)


def test_package_is_typed() -> None:
    from importlib import resources

    assert resources.files("authgate").joinpath("py.typed").is_file()
