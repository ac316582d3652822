"""Asset-tag templates: parsing, validation and rendering (pure functions)."""

import datetime as dt
import re
from dataclasses import dataclass

DEFAULT_TEMPLATE = "{PREFIX}-{YYYY}-NNNNNN"
PLACEHOLDERS = ("PREFIX", "YYYY", "YY", "MM", "TYPE_CODE")
# What {TYPE_CODE} becomes for an asset without a type.
UNTYPED_CODE = "GEN"
MAX_TEMPLATE_LENGTH = 100

_TOKEN = re.compile(r"\{([^{}]*)\}|(N+)")


class TemplateError(ValueError):
    """A template that cannot make tags."""


@dataclass(frozen=True)
class TagContext:
    """The values a template's placeholders are filled from."""

    prefix: str
    type_code: str | None
    today: dt.date


def validate_template(template: str) -> None:
    """Raise TemplateError naming what is wrong with a template."""
    if not template or len(template) > MAX_TEMPLATE_LENGTH:
        raise TemplateError(f"must be 1 to {MAX_TEMPLATE_LENGTH} characters long")
    if any(c.isspace() for c in template):
        raise TemplateError("must not contain white space")
    counters = 0
    for match in _TOKEN.finditer(template):
        name, run = match.groups()
        if run is not None:
            counters += 1
        elif name not in PLACEHOLDERS:
            allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise TemplateError(f"unknown placeholder {{{name}}}; allowed are {allowed}")
    stray = _TOKEN.sub("", template)
    if "{" in stray or "}" in stray:
        raise TemplateError("has an unbalanced brace")
    if counters == 0:
        raise TemplateError("needs a counter: a run of N such as NNNNNN")
    if counters > 1:
        raise TemplateError("has more than one run of N; exactly one counter is allowed")


def render_tag(template: str, context: TagContext, counter: int) -> str:
    """The tag for one counter value; a counter longer than its run widens the tag."""
    values = {
        "PREFIX": context.prefix,
        "YYYY": f"{context.today.year:04d}",
        "YY": f"{context.today.year % 100:02d}",
        "MM": f"{context.today.month:02d}",
        "TYPE_CODE": context.type_code or UNTYPED_CODE,
    }

    def fill(match: re.Match[str]) -> str:
        name, run = match.groups()
        if run is not None:
            return str(counter).zfill(len(run))
        return values[name]

    return _TOKEN.sub(fill, template)
