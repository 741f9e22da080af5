"""Provider configuration from Settings and the environment; redirect allow-list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authgate.errors import ConfigurationError, RedirectNotAllowedError
from authgate.federation.config import load_oauth_config
from authgate.federation.return_targets import RedirectPolicy
from authgate.testing import make_settings


def config(tmp_path: Path, env: dict[str, str] | None = None, **values: Any) -> Any:
    return load_oauth_config(make_settings(tmp_path, **values), environ=env or {})


def test_no_credentials_no_providers(tmp_path: Path) -> None:
    assert dict(config(tmp_path).providers) == {}


def test_google_defaults(tmp_path: Path) -> None:
    google = config(
        tmp_path,
        google_client_id="id",
        google_client_secret="secret",
        google_redirect_uri="https://a.example/auth/oauth/google/callback",
    ).providers["google"]
    assert google.issuer == "https://accounts.google.com"
    assert google.extra_issuers == ("accounts.google.com",)
    assert google.scopes == ("openid", "email", "profile")
    assert "secret" not in repr(google)


def test_enabled_provider_names_the_missing_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="GOOGLE_CLIENT_SECRET"):
        config(tmp_path, google_client_id="id", google_redirect_uri="https://a.example/cb")


def test_auth0_domain_becomes_issuer_with_slash(tmp_path: Path) -> None:
    auth0 = config(
        tmp_path,
        auth0_domain="tenant.eu.auth0.com",
        auth0_client_id="id",
        auth0_client_secret="s",
        auth0_redirect_uri="https://a.example/cb",
    ).providers["auth0"]
    assert auth0.issuer == "https://tenant.eu.auth0.com/"


@pytest.mark.parametrize(
    ("base", "api"),
    [
        pytest.param("https://github.com", "https://api.github.com", id="github.com"),
        pytest.param(
            "https://git.corp.example/", "https://git.corp.example/api/v3", id="enterprise"
        ),
    ],
)
def test_github_api_location(tmp_path: Path, base: str, api: str) -> None:
    github = config(
        tmp_path,
        github_client_id="id",
        github_client_secret="s",
        github_redirect_uri="https://a.example/cb",
        github_url=base,
    ).providers["github"]
    assert github.api_url == api
    assert github.scopes == ("read:user", "user:email")


def test_generic_provider_from_environment(tmp_path: Path) -> None:
    env = {
        "AUTHGATE_OIDC_MY_CORP_ISSUER": "https://login.corp.example",
        "AUTHGATE_OIDC_MY_CORP_CLIENT_ID": "id",
        "AUTHGATE_OIDC_MY_CORP_CLIENT_SECRET": "s",
        "AUTHGATE_OIDC_MY_CORP_REDIRECT_URI": "https://a.example/cb",
        "AUTHGATE_OIDC_MY_CORP_SCOPES": "email,profile",
        "AUTHGATE_OIDC_MY_CORP_TOKEN_ENDPOINT": "https://login.corp.example/token2",
    }
    corp = config(tmp_path, env, oidc_providers=["my-corp"]).providers["my-corp"]
    assert corp.scopes == ("openid", "email", "profile")
    assert dict(corp.endpoints) == {"token_endpoint": "https://login.corp.example/token2"}


@pytest.mark.parametrize(
    "name", [pytest.param("google", id="reserved"), pytest.param("Bad Name", id="invalid")]
)
def test_generic_provider_names_are_checked(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigurationError, match="AUTHGATE_OIDC_PROVIDERS"):
        config(tmp_path, oidc_providers=[name])


def test_unknown_token_auth_method_is_refused(tmp_path: Path) -> None:
    values = {"issuer": "https://i", "client_id": "c", "client_secret": "s", "redirect_uri": "r"}
    with pytest.raises(ConfigurationError, match="TOKEN_AUTH_METHOD"):
        config(
            tmp_path,
            oidc_providers=["x"],
            oidc_provider_settings={"x": {**values, "token_auth_method": "none"}},
        )


def test_state_key_material_defaults_to_access_secret(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert load_oauth_config(settings, environ={}).state_secret == settings.access_secret()


def policy() -> RedirectPolicy:
    return RedirectPolicy(default="/", allowed=["https://app.example/welcome"])


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("/dashboard?tab=1", id="local-path"),
        pytest.param("https://app.example/welcome", id="entry-itself"),
        pytest.param("https://app.example/welcome/deeper", id="under-entry"),
        pytest.param("https://APP.example/welcome", id="host-case"),
    ],
)
def test_allowed_redirects(target: str) -> None:
    assert policy().resolve(target, provider="p") == target


def test_no_target_gives_the_default() -> None:
    assert policy().resolve(None, provider="p") == "/"


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("https://app.example/welcomeX", id="prefix-not-segment"),
        pytest.param("https://app.example:444/welcome", id="other-port"),
        pytest.param("/ok\n/evil", id="control-char"),
    ],
)
def test_refused_redirects(target: str) -> None:
    with pytest.raises(RedirectNotAllowedError):
        policy().resolve(target, provider="p")


def test_default_must_be_allowed() -> None:
    with pytest.raises(ConfigurationError, match="POST_LOGIN_REDIRECT"):
        RedirectPolicy(default="https://evil.example/", allowed=[])
