"""Settings: secrets from JWT_ACCESS_SECRET / JWT_REFRESH_SECRET, refused when weak,
generated once outside production, and never shown."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from authgate.config import DevelopmentSecretsWarning, Settings, load_settings, parse_duration
from authgate.errors import ConfigurationError, WeakSecretError
from authgate.http.app import create_app
from authgate.secretstrength import check_secret, generate_secret

STRONG_A = generate_secret()
STRONG_B = generate_secret()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No inherited secrets or .env: each test states its own configuration."""
    for name in ("JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET", "AUTHGATE_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTHGATE_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def _set(monkeypatch: pytest.MonkeyPatch, access: str, refresh: str) -> None:
    monkeypatch.setenv("JWT_ACCESS_SECRET", access)
    monkeypatch.setenv("JWT_REFRESH_SECRET", refresh)


def test_secrets_are_read_from_the_original_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, STRONG_A, STRONG_B)
    settings = load_settings()
    assert settings.access_secret() == STRONG_A
    assert settings.refresh_secret() == STRONG_B


def test_secrets_are_read_from_a_dotenv_file(clean_env: Path) -> None:
    (clean_env / ".env").write_text(
        f"JWT_ACCESS_SECRET={STRONG_A}\nJWT_REFRESH_SECRET={STRONG_B}\nAUTHGATE_ENV=production\n"
    )
    settings = load_settings()
    assert settings.is_production
    assert settings.refresh_secret() == STRONG_B


def test_secrets_are_masked_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, STRONG_A, STRONG_B)
    settings = load_settings()
    assert STRONG_A not in repr(settings)
    assert STRONG_A not in str(settings.model_dump())


WEAK = [
    pytest.param("Xy7#kLm9!pQ2", "shorter than 32", id="short"),
    pytest.param("abcabcabcabcabcabcabcabcabcabcabcabcabc", "distinct", id="few-distinct"),
    pytest.param("0123456789" * 4 + "a", "bits of estimated entropy", id="sequence-repeated"),
    pytest.param("thisismysupersecretkeyforjwt2024", "dictionary words", id="dictionary-built"),
    pytest.param(generate_secret(), None, id="generated-is-fine"),
    pytest.param(
        "your-super-secret-jwt-key-change-this-in-production", "well-known", id="well-known"
    ),
    pytest.param("Your-Super-Secret-JWT-Key-Change-This-In-Production", "well-known", id="case"),
]


@pytest.mark.parametrize(("value", "problem"), WEAK)
@pytest.mark.parametrize("variable", ["JWT_ACCESS_SECRET", "JWT_REFRESH_SECRET"])
def test_weak_secrets_are_refused_naming_the_variable_not_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str | None
) -> None:
    _set(monkeypatch, STRONG_A, STRONG_B)
    monkeypatch.setenv(variable, value)
    if problem is None:
        load_settings()
        return
    with pytest.raises(WeakSecretError) as info:
        load_settings()
    assert info.value.variable == variable
    assert variable in str(info.value)
    assert problem in str(info.value)
    assert value not in str(info.value)
    assert value not in info.value.message


def test_equal_secrets_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, STRONG_A, STRONG_A)
    with pytest.raises(WeakSecretError) as info:
        load_settings()
    assert info.value.variable == "JWT_REFRESH_SECRET"
    assert STRONG_A not in str(info.value)


def test_only_one_secret_set_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_ACCESS_SECRET", STRONG_A)
    with pytest.raises(ConfigurationError, match="JWT_REFRESH_SECRET"):
        load_settings()


def test_app_refuses_to_start_with_a_weak_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, "short", STRONG_B)
    with pytest.raises(WeakSecretError, match="JWT_ACCESS_SECRET"):
        create_app()


def test_production_without_secrets_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    monkeypatch.setenv("AUTHGATE_ENV", "production")
    with pytest.raises(ConfigurationError, match="JWT_ACCESS_SECRET"):
        load_settings()
    assert not (clean_env / "state" / "secrets.env").exists()


@pytest.mark.parametrize("env", ["development", "test"])
def test_outside_production_secrets_are_generated_once_and_reused(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path, env: str
) -> None:
    monkeypatch.setenv("AUTHGATE_ENV", env)
    with pytest.warns(DevelopmentSecretsWarning, match="JWT_ACCESS_SECRET"):
        first = load_settings()
    path = clean_env / "state" / "secrets.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert check_secret(first.access_secret()).ok
    assert check_secret(first.refresh_secret()).ok
    assert first.access_secret() != first.refresh_secret()

    with pytest.warns(DevelopmentSecretsWarning) as record:
        second = load_settings()
    assert (second.access_secret(), second.refresh_secret()) == (
        first.access_secret(),
        first.refresh_secret(),
    )
    # The warning says where the secrets are, never what they are.
    assert first.access_secret() not in str(record[0].message)


def test_generated_secrets_file_missing_a_key_is_refused(clean_env: Path) -> None:
    state = clean_env / "state"
    state.mkdir()
    (state / "secrets.env").write_text(f"JWT_ACCESS_SECRET={STRONG_A}\n")
    with pytest.raises(ConfigurationError, match="JWT_REFRESH_SECRET"):
        load_settings()


def test_lifetimes_issuer_and_audience_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _set(monkeypatch, STRONG_A, STRONG_B)
    monkeypatch.setenv("AUTHGATE_ACCESS_TOKEN_TTL", "5m")
    monkeypatch.setenv("AUTHGATE_REFRESH_TOKEN_TTL", "2d")
    monkeypatch.setenv("AUTHGATE_JWT_ISSUER", "me")
    monkeypatch.setenv("AUTHGATE_JWT_AUDIENCE", "them")
    monkeypatch.setenv("AUTHGATE_DEVICE_FINGERPRINT_INPUTS", "user-agent, accept-language")
    settings = load_settings()
    assert settings.access_token_ttl == 300
    assert settings.refresh_token_ttl == 2 * 86400
    assert (settings.jwt_issuer, settings.jwt_audience) == ("me", "them")
    assert settings.device_fingerprint_inputs == ["user-agent", "accept-language"]


def test_defaults() -> None:
    settings = Settings(jwt_access_secret=STRONG_A, jwt_refresh_secret=STRONG_B)
    assert settings.access_token_ttl == 15 * 60
    assert settings.refresh_token_ttl == 7 * 86400
    assert settings.jwt_issuer == "ai-agent-system"
    assert settings.jwt_audience == "ai-agent-users"
    assert settings.permissions_for(["user"]) == ["use_agent"]
    assert settings.permissions_for(["admin"]) == ["manage_agent", "manage_users", "use_agent"]
    assert settings.permissions_for(["unknown"]) == []
    assert settings.device_check_on_access is False
    assert settings.registration_enabled is True


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(900, 900), ("900", 900), ("15m", 900), ("12h", 43200), ("7d", 604800), ("1w", 604800)],
)
def test_parse_duration(value: object, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "15x", "m15", "-5", "1.5h"])
def test_parse_duration_refuses_nonsense(value: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"access_token_ttl": 3600, "refresh_token_ttl": 600}, id="refresh-shorter"),
        pytest.param({"device_fingerprint_inputs": "user-agent,cookie"}, id="unknown-input"),
        pytest.param({"default_roles": "superuser"}, id="role-without-permissions"),
        pytest.param({"env": "staging"}, id="unknown-env"),
        pytest.param({"access_token_ttl": "forever"}, id="bad-duration"),
    ],
)
def test_inconsistent_settings_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(jwt_access_secret=STRONG_A, jwt_refresh_secret=STRONG_B, **overrides)


@pytest.mark.parametrize(
    ("leeway", "accepted"),
    [
        pytest.param("0", True, id="none"),
        pytest.param("60", True, id="one-minute"),
        pytest.param("61", False, id="over-a-minute"),
        pytest.param("120", False, id="two-minutes"),
    ],
)
def test_clock_leeway_is_capped_at_sixty_seconds(
    monkeypatch: pytest.MonkeyPatch, leeway: str, accepted: bool
) -> None:
    """Issue 19 item 10: RFC 7519 s4.1.4 allows a small leeway only; 60 s at most."""
    _set(monkeypatch, STRONG_A, STRONG_B)
    monkeypatch.setenv("AUTHGATE_CLOCK_LEEWAY", leeway)
    if accepted:
        assert load_settings().clock_leeway == int(leeway)
        return
    with pytest.raises(ValidationError, match="clock_leeway"):
        load_settings()


def test_generated_secret_is_86_chars_of_base64url() -> None:
    value = generate_secret()
    assert len(value) == 86
    assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    report = check_secret(value)
    assert report.ok
    assert report.strength == "strong"
