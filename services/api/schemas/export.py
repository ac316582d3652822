"""The query of /v1/assets/export."""

from typing import Annotated

from pydantic import Field, WithJsonSchema

from services.api.schemas.common import AssetTypeId, Query
from shared.asset_columns import ExportFormat
from shared.domain.models import AssetKind, AssetStatus


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
