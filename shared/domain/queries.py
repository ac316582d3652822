"""What a caller asks a list for: the filters of each dialect's asset list and of the audit log,
as the use cases take them and the repositories turn them into SQL."""

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from shared.domain.models import AssetKind, AssetStatus


@dataclass(frozen=True)
class AssetFilter:
    """The v1 list filters."""

    q: str | None = None
    status: AssetStatus | None = None
    asset_type_id: UUID | None = None
    kind: AssetKind | None = None


@dataclass(frozen=True)
class CompanyFilter:
    """The v2 list filters: one company of the organisation, and the document's own parameters."""

    company_number: int
    number: int | None = None
    name: str | None = None
    serial_number: str | None = None
    manufacturer_name: str | None = None
    custom_form_id: UUID | None = None
    custom_form_name: str | None = None
    custom_form_value: str | None = None


@dataclass(frozen=True)
class AuditFilter:
    """The audit log's filters; `actor` matches a token's id or name."""

    asset_id: UUID | None = None
    action: str | None = None
    actor: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One change of an asset as the audit log keeps it."""

    event_id: UUID
    asset_id: UUID
    action: str
    actor_id: str | None
    actor_name: str | None
    request_id: str | None
    version: int
    changes: dict[str, Any]
    at: dt.datetime
