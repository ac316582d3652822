"""Custom forms: which values fit a form's named, typed fields."""

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.domain.dates import full_date
from shared.domain.models import FieldType, FormField


def _fits(kind: FieldType, value: Any) -> bool:
    if value is None:
        return True
    match kind:
        case FieldType.STRING:
            return isinstance(value, str)
        case FieldType.INTEGER:
            return isinstance(value, int) and not isinstance(value, bool)
        case FieldType.DECIMAL:
            if isinstance(value, bool):
                return False
            if isinstance(value, int | float | Decimal):
                return True
            if isinstance(value, str):
                try:
                    return Decimal(value).is_finite()
                except InvalidOperation:
                    return False
            return False
        case FieldType.BOOLEAN:
            return isinstance(value, bool)
        case FieldType.DATE:
            return isinstance(value, str) and full_date(value) is not None
    return False


_EXPECTED = {
    FieldType.STRING: "a string",
    FieldType.INTEGER: "an integer",
    FieldType.DECIMAL: "a number",
    FieldType.BOOLEAN: "true or false",
    FieldType.DATE: "a date (YYYY-MM-DD)",
}


def custom_field_problems(fields: Sequence[FormField], values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field name, why) for each value that the form does not have or whose type is wrong."""
    by_name = {f.name: f for f in fields}
    problems: list[tuple[str, str]] = []
    for name, value in values.items():
        form_field = by_name.get(name)
        if form_field is None:
            known = ", ".join(by_name) or "none"
            problems.append((name, f"is not a field of the asset's custom form (its fields: {known})"))
        elif not _fits(form_field.type, value):
            problems.append((name, f"must be {_EXPECTED[form_field.type]} or null"))
    return problems
