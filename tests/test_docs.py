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


def _python_block_after(marker: str) -> str:
    text = README.read_text()
    start = text.index("```python\n", text.index(marker)) + len("```python\n")
    return text[start : text.index("```", start)]


async def test_readme_auth_middleware_snippet_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: the snippet once used a ``runtime`` nothing defined."""
    import httpx

    from authgate.secretstrength import generate_secret
    from authgate.testing import lifespan

    for name, value in {
        "AUTHGATE_ENV": "test",
        "AUTHGATE_STATE_DIR": str(tmp_path),
        "JWT_ACCESS_SECRET": generate_secret(),
        "JWT_REFRESH_SECRET": generate_secret(),
        "AUTHGATE_ARGON2_TIME_COST": "1",
        "AUTHGATE_ARGON2_MEMORY_KIB": "8192",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(_python_block_after("For a plain Starlette/ASGI app"), namespace)  # noqa: S102
    app = namespace["app"]
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            login = {"email": "ada@example.com", "password": "correct horse battery staple"}
            assert (await http.post("/auth/register", json=login)).status_code == 201
            token = (await http.post("/auth/login", json=login)).json()["accessToken"]
            assert (await http.get("/tools/whoami")).status_code == 401
            me = await http.get("/tools/whoami", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200, me.text
