"""The README and docs stay true to the code: settings documented, commands runnable."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

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


# Every command block in README and docs runs as written on a fresh clone after `make run`
# (issue 20 item 2): each command's program exists, `.venv/bin/authgate` subcommands and
# options exist, scripts and make targets exist.

ROOT = README.parent
DOC_FILES = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "DEVELOPERS.md"]
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
# Programs a fresh Debian machine has, or that README names as a prerequisite.
SYSTEM_PROGRAMS = {
    "make", "curl", "jq", "sed", "cat", "echo", "eval", "export", "source", "sleep",
    "python3", "pg_ctlcluster", "redis-server",
}  # fmt: skip
VENV_PROGRAMS = {"authgate", "python", "pip"}
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = {";", "&&", "||", "|", "&"}
_REDIRECTS = {">", ">>", "<", "2>", "2>&1"}


def shell_blocks(path: Path) -> list[tuple[int, str]]:
    """(first line number, text) of each fenced shell block."""
    blocks, current, language, start = [], None, "", 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("```"):
            if current is None:
                current, language, start = [], line[3:].strip(), number + 1
            else:
                if language in SHELL_LANGUAGES:
                    blocks.append((start, "\n".join(current)))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def commands(block: str) -> list[list[str]]:
    """Each simple command of a block: continuations joined, $(...) and pipes split."""
    found: list[list[str]] = []
    for line in block.replace("\\\n", " ").splitlines():
        for inner in _SUBSTITUTION.findall(line):
            found.extend(commands(inner))
        lexer = shlex.shlex(_SUBSTITUTION.sub("X", line), posix=True, punctuation_chars=";&|<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        found.extend(_simple_commands(list(lexer)))
    return found


def _simple_commands(tokens: list[str]) -> list[list[str]]:
    result, current, skip = [], [], False
    for token in tokens:
        if skip:
            skip = False
        elif token in _SEPARATORS:
            result.append(current)
            current = []
        elif token in _REDIRECTS:
            skip = True
        elif current or not _ASSIGNMENT.match(token):
            current.append(token)
    result.append(current)
    return [command for command in result if command]


def documented_commands() -> list[Any]:
    params = []
    for path in DOC_FILES:
        for line, block in shell_blocks(path):
            for command in commands(block):
                where = f"{path.relative_to(ROOT)}:{line}"
                params.append(pytest.param(command, id=f"{where}:{' '.join(command)[:60]}"))
    return params


@pytest.mark.parametrize("command", documented_commands())
def test_documented_command_runs_as_written(command: list[str]) -> None:
    program, args = command[0], command[1:]
    if program in SYSTEM_PROGRAMS:
        if program == "make":
            _check_make_targets(args)
        return
    venv, _, name = program.rpartition("/")
    assert venv == ".venv/bin", f"{program}: call it as .venv/bin/{name} (README, 'Two commands')"
    assert name in VENV_PROGRAMS, f"{program} is not installed by `make run`"
    if name == "authgate":
        _check_authgate(args)
    elif name == "python" and args and args[0].endswith(".py"):
        assert (ROOT / args[0]).is_file(), args[0]


def _check_make_targets(args: list[str]) -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in (arg for arg in args if "=" not in arg and not arg.startswith("-")):
        assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), target


def _check_authgate(args: list[str]) -> None:
    """The subcommands exist and `--help` of the last one lists every option used."""
    import typer
    from typer.testing import CliRunner

    from authgate.cli import app

    command: Any = typer.main.get_command(app)
    path: list[str] = []
    for arg in args:
        subcommands = getattr(command, "commands", None)  # a group (typer vendors click)
        if subcommands is None or arg.startswith("-"):
            break
        assert arg in subcommands, f"authgate {' '.join([*path, arg])}: no such command"
        command, path = subcommands[arg], [*path, arg]
    # Wide enough that rich never shortens a long option name in the help table.
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in (arg.split("=", 1)[0] for arg in args if arg.startswith("--")):
        assert option in result.output, f"authgate {' '.join(path)} has no {option}"


def test_version_changelog_and_licence_agree() -> None:
    """Issue 20 item 3: a version, a changelog entry for it, the full MIT licence."""
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"## {version} " in (ROOT / "CHANGELOG.md").read_text()
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in licence
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in licence


@pytest.mark.parametrize(
    ("request_options", "status"),
    [
        pytest.param(
            {"content": b"{}" + b" " * 70000, "headers": {"content-type": "application/json"}},
            413,
            id="too-large",
        ),
        pytest.param(
            {"content": b"email=a", "headers": {"content-type": "text/plain"}},
            415,
            id="not-json",
        ),
        pytest.param(
            {"content": b"{", "headers": {"content-type": "application/json"}},
            400,
            id="bad-json",
        ),
    ],
)
async def test_error_table_shows_the_bodies_the_api_sends(
    client: Any, request_options: dict[str, Any], status: int
) -> None:
    """Issue 20 item 10: the README's error table is what clients get."""
    import json

    response = await client.post("/auth/login", **request_options)
    assert response.status_code == status
    row = next(line for line in README.read_text().splitlines() if f"| {status} |" in line)
    assert f"`{json.dumps(response.json(), separators=(', ', ': '))}`" in row


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
