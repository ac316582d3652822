"""/v1/settings/asset-tag: the organisation's asset-tag template."""

from typing import Annotated

from aiohttp import web
from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema

from services.api.endpoint import Endpoint, endpoint, request_unit
from services.api.schemas.common import RequestBody
from services.api.versions import expected_of, precondition_failed, read_answer, versioned
from shared.domain.asset_tags import MAX_TEMPLATE_LENGTH, PLACEHOLDERS, TemplateError, validate_template
from shared.domain.models import Organisation, Principal, Scope
from shared.errors import StaleVersion
from shared.services import organisations as service

TAG = "settings"
_TEMPLATE_HELP = (
    "Placeholders: {PREFIX}, {YYYY}, {YY}, {MM}, {TYPE_CODE}; exactly one run of N is the "
    "zero-padded counter, which widens when it outgrows its digits."
)


_PLACEHOLDER = r"\{(?:" + "|".join(PLACEHOLDERS) + r")\}"
# White space as validate_template has it (str.isspace), spelt out: `\s` differs between regex
# engines (ECMA-262's, JSON Schema's, leaves out U+001C-U+001F and U+0085 and adds U+FEFF).
_SPACE = "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x10000)) if c.isspace())
_TEXT = r"(?:[^" + _SPACE + r"\u0000{}N]|" + _PLACEHOLDER + ")*"
# The same rule as validate_template, for clients that read the schema: known placeholders only,
# no white space (nor NUL, which no text may hold), and exactly one run of N.
TEMPLATE_PATTERN = f"^{_TEXT}N+{_TEXT}$"


def _valid_template(value: str) -> str:
    try:
        validate_template(value)
    except TemplateError as exc:
        raise ValueError(str(exc)) from exc
    return value


Template = Annotated[
    str,
    AfterValidator(_valid_template),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": MAX_TEMPLATE_LENGTH, "pattern": TEMPLATE_PATTERN}
    ),
]


class TagTemplate(RequestBody):
    template: Template = Field(description=_TEMPLATE_HELP, examples=["{PREFIX}-{YYYY}-NNNNNN"])


class TagTemplateOut(BaseModel):
    template: str


@endpoint(
    Endpoint(
        "Get the asset-tag template",
        TAG,
        Scope.ASSETS_READ,
        response=TagTemplateOut,
        errors=(401, 403),
        versioned=True,
    )
)
async def get_template(request: web.Request, principal: Principal) -> web.Response:
    org = await service.get_tag_template(request_unit(request), principal.org_id)
    return read_answer(request, {"template": org.tag_template}, org.id, org.tag_template_version)


@endpoint(
    Endpoint(
        "Set the asset-tag template",
        TAG,
        Scope.ASSETS_WRITE,
        body=TagTemplate,
        response=TagTemplateOut,
        errors=(400, 401, 403, 413, 415),
        description=_TEMPLATE_HELP + " New tags follow it; existing tags stay.",
        versioned=True,
    )
)
async def put_template(request: web.Request, principal: Principal, body: TagTemplate) -> web.Response:
    uow = request_unit(request)
    try:
        org = await service.set_tag_template(uow, principal.org_id, body.template, expected_of(request))
    except StaleVersion as stale:
        current = stale.current
        assert isinstance(current, Organisation)
        raise precondition_failed(
            "asset-tag template", {"template": current.tag_template}, current.id, current.tag_template_version
        ) from None
    return versioned({"template": org.tag_template}, org.id, org.tag_template_version)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/settings/asset-tag", get_template, allow_head=False),
        web.put("/v1/settings/asset-tag", put_template),
    ]
