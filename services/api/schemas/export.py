"""The query of /v1/assets/export."""

import re
from typing import Annotated, Any
from uuid import UUID

from pydantic import BeforeValidator, Field, WithJsonSchema

from services.api.schemas.common import Query
from shared.asset_columns import ExportFormat
from shared.domain.models import AssetKind, AssetStatus

_UUID_TEXT = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _uuid_text(value: Any) -> Any:
    """An id as the API writes it (pydantic alone would also take it braced, as a URN or without
    its hyphens)."""
    if isinstance(value, str) and not _UUID_TEXT.match(value):
        raise ValueError("must be the id of an asset type, such as 0b4b2c1e-6b5f-4f7e-9d53-2a7c0c1d9e11")
    return value


AssetTypeId = Annotated[UUID, BeforeValidator(_uuid_text)]


class ExportQuery(Query):
    """The list's filters (without its paging) and the file format."""

    format: Annotated[
        ExportFormat, WithJsonSchema({"type": "string", "enum": [f.value for f in ExportFormat]})
    ] = Field(
        default=ExportFormat.CSV,
        description="`csv` (a header row of the column names, then one row per asset) or `ndjson` "
        "(one JSON object per line).",
    )
    q: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="Case-insensitive match in name, asset tag or serial number."
    )
    status: AssetStatus | None = None
    asset_type_id: AssetTypeId | None = None
    kind: AssetKind | None = None
