"""The mails authgate sends, rendered from ``authgate/templates/mail`` (text and HTML)."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from authgate.accounts.mail import Mail

__all__ = ["compose", "duration_text"]

_SUBJECTS = {
    "verify_email": "Confirm your email address",
    "reset_password": "Reset your password",
}


@cache
def _environment(html: bool) -> Environment:
    return Environment(
        loader=PackageLoader("authgate", "templates/mail"),
        # Plain-text mail is not HTML: escaping it would garble it; the HTML part escapes.
        autoescape=html,  # noqa: S701
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def duration_text(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def compose(kind: str, *, to: str, link: str, site: str, **context: Any) -> Mail:
    values = {"email": to, "link": link, "site": site, **context}
    text = _environment(False).get_template(f"{kind}.txt").render(**values)
    html = _environment(True).get_template(f"{kind}.html").render(**values)
    return Mail(to=to, subject=_SUBJECTS[kind], text=text, html=html, link=link)
