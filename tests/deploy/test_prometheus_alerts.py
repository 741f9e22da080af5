"""deploy/prometheus/alerts.yml: valid rules, about metrics authgate really exports."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from authgate.metrics import Metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
ALERTS = DEPLOY / "alerts.yml"
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _exported_names() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names


def test_rules_file_has_the_prometheus_shape() -> None:
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    for group in document["groups"]:
        assert set(group) <= {"name", "rules", "interval"}
        assert group["name"]
        assert group["rules"]


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: rule["alert"])
def test_each_alert_is_complete_and_uses_exported_metrics(rule: dict[str, Any]) -> None:
    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"])
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule["annotations"]["summary"]
    if "for" in rule:
        assert re.fullmatch(r"\d+[smhd]", rule["for"])
    used = set(re.findall(r"authgate_[a-z_]+", rule["expr"]))
    assert used, "an authgate alert should watch an authgate metric"
    assert used <= _exported_names()


def test_alerts_cover_reuse_and_failure_spikes() -> None:
    exprs = {rule["alert"]: rule["expr"] for rule in _rules()}
    assert "authgate_refresh_reuse_detected_total" in exprs["AuthgateRefreshTokenReuse"]
    assert "> 0" in exprs["AuthgateRefreshTokenReuse"]  # any reuse at all
    assert 'outcome="failure"' in exprs["AuthgateLoginFailureSpike"]


# `make install-test` puts Debian's promtool beside the venv's python.
_BESIDE_PYTHON = Path(sys.executable).with_name("promtool")
PROMTOOL = shutil.which("promtool") or (str(_BESIDE_PYTHON) if _BESIDE_PYTHON.exists() else None)
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (make install-test puts it in .venv/bin)"
)


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run(
        [str(PROMTOOL), "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_unit_tests_fire_the_alerts() -> None:
    """Reuse fires at once; a failure spike fires after its `for`; quiet series do not."""
    result = subprocess.run(
        [str(PROMTOOL), "test", "rules", "alerts_test.yml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=DEPLOY,
    )
    assert result.returncode == 0, result.stdout + result.stderr
