"""Asset-tag templates: validation, placeholders and rendering (pure functions, no database)."""

import datetime as dt

import pytest

from shared.domain.asset_tags import (
    DEFAULT_TEMPLATE,
    MAX_TEMPLATE_LENGTH,
    PLACEHOLDERS,
    UNTYPED_CODE,
    TagContext,
    TemplateError,
    render_tag,
    validate_template,
)

TODAY = dt.date(2026, 3, 7)
CTX = TagContext(prefix="LPC", type_code="LAP", today=TODAY)


def test_default_template_is_the_documented_one() -> None:
    assert DEFAULT_TEMPLATE == "{PREFIX}-{YYYY}-NNNNNN"
    validate_template(DEFAULT_TEMPLATE)


def test_default_template_renders_the_readme_example() -> None:
    ctx = TagContext(prefix="LPC", type_code=None, today=dt.date(2026, 1, 1))
    assert render_tag(DEFAULT_TEMPLATE, ctx, 42) == "LPC-2026-000042"


def test_placeholders_are_exactly_the_documented_ones() -> None:
    assert set(PLACEHOLDERS) == {"PREFIX", "YYYY", "YY", "MM", "TYPE_CODE"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{PREFIX}-NNN", "LPC-007"),
        ("{YYYY}NNN", "2026007"),
        ("{YY}-NNN", "26-007"),
        ("{MM}-NNN", "03-007"),
        ("{TYPE_CODE}-NNN", "LAP-007"),
        ("{PREFIX}/{TYPE_CODE}/{YY}{MM}/NNNN", "LPC/LAP/2603/0007"),
        ("NNN-{PREFIX}", "007-LPC"),
        ("A-NNN-Z", "A-007-Z"),
    ],
)
def test_each_placeholder_is_filled(template: str, expected: str) -> None:
    validate_template(template)
    assert render_tag(template, CTX, 7) == expected


def test_month_and_short_year_are_zero_padded() -> None:
    ctx = TagContext(prefix="X", type_code=None, today=dt.date(2005, 1, 31))
    assert render_tag("{YY}{MM}-N", ctx, 1) == "0501-1"
    ctx = TagContext(prefix="X", type_code=None, today=dt.date(2000, 12, 1))
    assert render_tag("{YY}{MM}-{YYYY}-N", ctx, 1) == "0012-2000-1"


def test_type_code_of_an_untyped_asset_is_gen() -> None:
    assert UNTYPED_CODE == "GEN"
    ctx = TagContext(prefix="LPC", type_code=None, today=TODAY)
    assert render_tag("{TYPE_CODE}-NN", ctx, 5) == "GEN-05"


def test_empty_type_code_also_falls_back_to_gen() -> None:
    ctx = TagContext(prefix="LPC", type_code="", today=TODAY)
    assert render_tag("{TYPE_CODE}-NN", ctx, 5) == "GEN-05"


def test_counter_is_zero_padded_to_its_run() -> None:
    assert render_tag("T-NNNNNN", CTX, 1) == "T-000001"
    assert render_tag("T-NNNNNN", CTX, 999999) == "T-999999"
    assert render_tag("T-N", CTX, 0) == "T-0"


@pytest.mark.parametrize(
    ("template", "counter", "expected"),
    [
        ("{PREFIX}-{YYYY}-NNNNNN", 1_000_000, "LPC-2026-1000000"),
        ("{PREFIX}-{YYYY}-NNNNNN", 123_456_789, "LPC-2026-123456789"),
        ("T-NN", 100, "T-100"),
        ("T-N", 10, "T-10"),
        ("NNN{PREFIX}", 12345, "12345LPC"),
    ],
)
def test_counter_that_outgrows_its_digits_widens_the_tag(template: str, counter: int, expected: str) -> None:
    assert render_tag(template, CTX, counter) == expected


def test_widening_keeps_tags_distinct_and_ordered_by_counter() -> None:
    tags = [render_tag("T-NN", CTX, n) for n in range(1, 1001)]
    assert len(set(tags)) == len(tags)
    assert tags[98:101] == ["T-99", "T-100", "T-101"]


def test_prefix_with_letters_n_is_not_a_counter() -> None:
    # The N of a filled-in value is not a counter: only the template's own run is.
    ctx = TagContext(prefix="NNN", type_code="NN", today=TODAY)
    assert render_tag("{PREFIX}-{TYPE_CODE}-NNNN", ctx, 3) == "NNN-NN-0003"


@pytest.mark.parametrize(
    "template",
    [
        "{FOO}-NNNN",
        "{PREFIX}-{DD}-NNNN",
        "{prefix}-NNNN",
        "{}-NNNN",
        "{PREFIX_}-NNNN",
        "{YYYYY}-NNN",
    ],
)
def test_unknown_placeholder_is_rejected(template: str) -> None:
    with pytest.raises(TemplateError, match="unknown placeholder"):
        validate_template(template)


def test_unknown_placeholder_error_names_it_and_lists_the_allowed_ones() -> None:
    with pytest.raises(TemplateError) as info:
        validate_template("{PREFIX}-{SERIAL}-NNN")
    message = str(info.value)
    assert "{SERIAL}" in message
    for name in PLACEHOLDERS:
        assert "{" + name + "}" in message


@pytest.mark.parametrize("template", ["{PREFIX}-{YYYY}", "ABC", "{TYPE_CODE}", "{PREFIX}-nnn"])
def test_template_without_a_counter_is_rejected(template: str) -> None:
    with pytest.raises(TemplateError, match="counter"):
        validate_template(template)


@pytest.mark.parametrize("template", ["NN-NN", "{PREFIX}-NNN-{YY}-N", "N{MM}N"])
def test_template_with_two_counters_is_rejected(template: str) -> None:
    with pytest.raises(TemplateError, match="more than one"):
        validate_template(template)


@pytest.mark.parametrize("template", ["{PREFIX-NNN", "PREFIX}-NNN", "{PREFIX}}-NNN", "{{PREFIX}-NNN", "NNN{"])
def test_unbalanced_braces_are_rejected(template: str) -> None:
    with pytest.raises(TemplateError):
        validate_template(template)


@pytest.mark.parametrize("template", ["", " NNN", "A NNN", "NNN\t", "NN\nN"])
def test_empty_or_white_space_templates_are_rejected(template: str) -> None:
    with pytest.raises(TemplateError):
        validate_template(template)


def test_template_length_limit() -> None:
    at_limit = "A" * (MAX_TEMPLATE_LENGTH - 3) + "NNN"
    assert len(at_limit) == MAX_TEMPLATE_LENGTH
    validate_template(at_limit)
    with pytest.raises(TemplateError, match="characters"):
        validate_template("A" + at_limit)


def test_template_error_is_a_value_error() -> None:
    assert issubclass(TemplateError, ValueError)


@pytest.mark.parametrize(
    "template",
    [
        "{PREFIX}-{YYYY}-NNNNNN",
        "{TYPE_CODE}{YY}{MM}NNNN",
        "N",
        "ASSET_NNNNNNNNNN",
        "{YYYY}.{MM}.NNN",
    ],
)
def test_valid_templates_pass_and_render_without_braces(template: str) -> None:
    validate_template(template)
    tag = render_tag(template, CTX, 12)
    assert "{" not in tag and "}" not in tag
    assert "12" in tag
