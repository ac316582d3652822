"""An in-memory unit of work: the use cases' rules run on it without PostgreSQL.

It keeps what the schema keeps where a rule depends on it: each organisation's objects apart,
unique asset tags and type codes, the columns' defaults, the names an asset reads with its ids,
a version counted by every change, and a transaction that leaves nothing behind when its block
raises (a nested one is a savepoint). What only SQL answers (the filtered lists and their
totals, the audit log's queries) it does not imitate: those raise NotImplementedError and are
tested against PostgreSQL in the integration tier.
"""

import copy
import datetime as dt
import itertools
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypeVar
from uuid import UUID, uuid4

from shared.asset_columns import ExportedAsset
from shared.db import Conn
from shared.domain.consumers import ConsumerName
from shared.domain.depreciation import Period, months_of
from shared.domain.idempotency import KeptAnswer
from shared.domain.models import ApiToken, Asset, Entry, Organisation, Page
from shared.domain.queries import AssetFilter, AuditEntry, AuditFilter, CompanyFilter
from shared.errors import Conflict, TagTaken
from shared.repositories import catalog as tables
from shared.repositories.catalog import CatalogTable, Lock
from shared.repositories.projections import Buried, DepreciationRow, LifecycleRow
from shared.repositories.webhooks import WebhookRepository

R = TypeVar("R", bound=Entry)

# The columns the schema fills when an insert leaves them out.
_ASSET_DEFAULTS: dict[str, Any] = {
    "status": "in_stock",
    "custom_fields": {},
    "warranty_type": "none",
    "support_type": "none",
    "company_number": 1,
}
# The unique keys of the catalog tables, beside the organisation.
_UNIQUE = {"asset_types": ("code",), "manufacturers": ("name",)}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class State:
    """Everything the fake database holds; a transaction restores a copy when its block raises."""

    organisations: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    rows: dict[str, dict[UUID, dict[str, Any]]] = field(default_factory=dict)  # catalog table → rows
    assets: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    outbox: list[tuple[UUID, UUID, str, bytes]] = field(default_factory=list)
    claimed: set[tuple[ConsumerName, UUID]] = field(default_factory=set)
    lifecycle: dict[UUID, LifecycleRow | None] = field(default_factory=dict)  # None: buried
    lifecycle_versions: dict[UUID, int] = field(default_factory=dict)
    depreciation: dict[UUID, tuple[DepreciationRow, list[Period]] | None] = field(default_factory=dict)
    depreciation_versions: dict[UUID, int] = field(default_factory=dict)
    audit: list[dict[str, Any]] = field(default_factory=list)
    kept: dict[tuple[UUID, str], KeptAnswer] = field(default_factory=dict)

    def table(self, name: str) -> dict[UUID, dict[str, Any]]:
        return self.rows.setdefault(name, {})


_numbers = itertools.count(1)  # like an identity column: one sequence, never reused


class _Part:
    def __init__(self, uow: "FakeUnitOfWork") -> None:
        self._uow = uow

    @property
    def _state(self) -> State:
        return self._uow.state


class FakeCatalog(_Part):
    def _record(self, table: CatalogTable[R], row: dict[str, Any]) -> R:
        values = dict(row)
        if table is tables.MODELS:
            values["manufacturer_name"] = self._state.table("manufacturers")[row["manufacturer_id"]]["name"]
        if table is tables.CONTRACTS:
            vendor = self._state.table("vendors").get(row["vendor_id"]) if row.get("vendor_id") else None
            values["vendor_number"] = vendor["number"] if vendor else None
            values["vendor_name"] = vendor["name"] if vendor else None
        for name in table.record.model_fields:
            values.setdefault(name, [] if name == "fields" else 1 if name == "version" else None)
        return table.record.model_validate(values)

    def _own(self, table: CatalogTable[Any], org_id: UUID, row_id: UUID) -> dict[str, Any] | None:
        row = self._state.table(table.table).get(row_id)
        return row if row is not None and row["org_id"] == org_id else None

    def _check_unique(self, table: CatalogTable[Any], org_id: UUID, row: dict[str, Any]) -> None:
        for key in _UNIQUE.get(table.table, ()):
            for other in self._state.table(table.table).values():
                if other["id"] != row["id"] and other["org_id"] == org_id and other.get(key) == row.get(key):
                    raise Conflict(f"Another {table.what} of this organisation already has this {key}.")

    async def get(
        self, table: CatalogTable[R], org_id: UUID, row_id: UUID, lock: Lock | None = None
    ) -> R | None:
        row = self._own(table, org_id, row_id)
        return self._record(table, row) if row else None

    async def page(
        self, table: CatalogTable[R], org_id: UUID, limit: int, offset: int, by_number: bool = False
    ) -> Page[R]:
        rows = [r for r in self._state.table(table.table).values() if r["org_id"] == org_id]
        rows.sort(key=lambda r: r["number"] if by_number else (str(r.get("name", "")), r["number"]))
        items = [self._record(table, r) for r in rows[offset : offset + limit]]
        return Page[R](items=items, total=len(rows))

    async def insert(self, table: CatalogTable[R], org_id: UUID, values: Mapping[str, Any]) -> UUID:
        if any(c not in table.writable for c in values):
            raise ValueError(f"{table.table}: cannot write {list(values)}")
        new_id, now = uuid4(), _now()
        row: dict[str, Any] = {"id": new_id, "org_id": org_id, "number": next(_numbers)}
        row.update(values, created_at=now, updated_at=now, version=1)
        self._check_unique(table, org_id, row)
        self._state.table(table.table)[new_id] = row
        return new_id

    async def update(
        self, table: CatalogTable[R], org_id: UUID, row_id: UUID, values: Mapping[str, Any]
    ) -> bool:
        row = self._own(table, org_id, row_id)
        if row is None or all(row.get(k) == v for k, v in values.items()):
            return False
        changed = {**row, **values, "updated_at": _now(), "version": row.get("version", 1) + 1}
        self._check_unique(table, org_id, changed)
        row.update(changed)
        return True

    async def delete(self, table: CatalogTable[R], org_id: UUID, row_id: UUID) -> bool:
        if self._own(table, org_id, row_id) is None:
            return False
        del self._state.table(table.table)[row_id]
        return True

    async def id_for_number(self, table: CatalogTable[R], org_id: UUID, number: int) -> UUID | None:
        for row in self._state.table(table.table).values():
            if row["org_id"] == org_id and row["number"] == number:
                return UUID(str(row["id"]))
        return None

    async def exists(self, table: CatalogTable[R], org_id: UUID, row_id: UUID) -> bool:
        return self._own(table, org_id, row_id) is not None

    async def ids_for_key(
        self, table: CatalogTable[R], org_id: UUID, key: str, manufacturer: str | None = None
    ) -> list[UUID]:
        columns = {"asset_types": ("code", "name"), "people": ("email",), "contracts": ("contract_number",)}
        found = []
        for row in self._state.table(table.table).values():
            if row["org_id"] != org_id:
                continue
            texts = [str(row.get(c) or "").lower() for c in columns.get(table.table, ("name",))]
            by_number = table.table not in ("models", "people") and str(row.get("number")) == key
            if key.lower() in texts or by_number:
                found.append(UUID(str(row["id"])))
        return sorted(found)

    async def type_codes_taken(self, org_id: UUID, base: str) -> set[str]:
        rows = self._state.table("asset_types").values()
        return {r["code"] for r in rows if r["org_id"] == org_id and r["code"].startswith(base)}

    async def lock_companies(self, org_id: UUID) -> None:
        return None

    async def other_companies(self, org_id: UUID, company_id: UUID) -> int:
        rows = self._state.table("companies").values()
        return sum(1 for r in rows if r["org_id"] == org_id and r["id"] != company_id)


class FakeAssets(_Part):
    def _row(self, org_id: UUID, asset_id: UUID) -> dict[str, Any] | None:
        row = self._state.assets.get(asset_id)
        return row if row is not None and row["org_id"] == org_id else None

    def _named(self, table: str, row_id: UUID | None) -> dict[str, Any]:
        return self._state.table(table)[row_id] if row_id is not None else {}

    def _asset(self, row: dict[str, Any]) -> Asset:
        """The row with what the repository's SELECT joins to it."""
        values = dict(row)
        org_id = row["org_id"]
        company = next(
            c
            for c in self._state.table("companies").values()
            if c["org_id"] == org_id and c["number"] == row["company_number"]
        )
        kind = self._named("asset_types", row.get("asset_type_id"))
        model = self._named("models", row.get("model_id"))
        maker = self._named("manufacturers", model.get("manufacturer_id"))
        person = self._named("people", row.get("assigned_to"))
        contract = self._named("contracts", row.get("contract_id"))
        unit = self._named("business_units", row.get("business_unit_id"))
        form = self._named("custom_forms", row.get("custom_form_id"))
        values.update(
            company_id=company["id"],
            asset_type_name=kind.get("name"),
            asset_kind=kind.get("kind"),
            asset_type_number=kind.get("number"),
            asset_type_subcategory=kind.get("subcategory"),
            catalog_model_name=model.get("name"),
            catalog_manufacturer_name=maker.get("name"),
            contract_number=contract.get("number"),
            contract_reference=contract.get("contract_number"),
            assignee_number=person.get("number"),
            assignee_name=person.get("name"),
            assignee_email=person.get("email"),
            assignee_phone=person.get("phone"),
            business_unit_number=unit.get("number"),
            business_unit_name=unit.get("name"),
            custom_form_number=form.get("number"),
        )
        for role in ("warranty_provider", "support_provider", "attached_supplier"):
            vendor = self._named("vendors", row.get(f"{role}_id"))
            values[f"{role}_number"], values[f"{role}_name"] = vendor.get("number"), vendor.get("name")
        for name, info in Asset.model_fields.items():
            if info.is_required():
                values.setdefault(name, None)
        return Asset.model_validate(values)

    async def get(self, org_id: UUID, asset_id: UUID) -> Asset | None:
        row = self._row(org_id, asset_id)
        return self._asset(row) if row else None

    async def lock(self, org_id: UUID, asset_id: UUID) -> bool:
        return self._row(org_id, asset_id) is not None

    async def lock_many(self, org_id: UUID, asset_ids: Sequence[UUID]) -> set[UUID]:
        return {asset_id for asset_id in asset_ids if self._row(org_id, asset_id) is not None}

    async def insert_many(self, org_id: UUID, rows: Sequence[tuple[UUID, str, Mapping[str, Any]]]) -> None:
        for asset_id, asset_tag, values in rows:
            await self.insert(asset_id, org_id, asset_tag, values)

    async def get_many(self, org_id: UUID, asset_ids: Sequence[UUID]) -> list[Asset]:
        found = [await self.get(org_id, asset_id) for asset_id in asset_ids]
        return [asset for asset in found if asset is not None]

    async def ids_for_tags(self, org_id: UUID, tags: Sequence[str]) -> dict[str, UUID]:
        rows = self._state.assets.values()
        return {r["asset_tag"]: r["id"] for r in rows if r["org_id"] == org_id and r["asset_tag"] in tags}

    async def ids_for_serials(self, org_id: UUID, serials: Sequence[str]) -> dict[str, list[UUID]]:
        found: dict[str, list[UUID]] = {}
        for r in sorted(self._state.assets.values(), key=lambda r: r["id"]):
            if r["org_id"] == org_id and r.get("serial_number") in serials:
                found.setdefault(r["serial_number"], []).append(r["id"])
        return found

    async def insert(self, asset_id: UUID, org_id: UUID, asset_tag: str, values: Mapping[str, Any]) -> None:
        if any(r["org_id"] == org_id and r["asset_tag"] == asset_tag for r in self._state.assets.values()):
            raise TagTaken(asset_tag)
        now = _now()
        row = {**_ASSET_DEFAULTS, "id": asset_id, "org_id": org_id, "asset_tag": asset_tag}
        row.update(number=next(_numbers), version=1, created_at=now, updated_at=now, **values)
        self._state.assets[asset_id] = row

    async def update(self, org_id: UUID, asset_id: UUID, values: Mapping[str, Any]) -> None:
        row = self._row(org_id, asset_id)
        assert row is not None
        row.update(values, version=row["version"] + 1, updated_at=_now())

    async def delete(self, org_id: UUID, asset_id: UUID) -> None:
        if self._row(org_id, asset_id) is not None:
            del self._state.assets[asset_id]

    async def page(self, org_id: UUID, flt: AssetFilter, limit: int, offset: int) -> Page[Asset]:
        raise NotImplementedError("filtered lists are SQL's: tested in tests/integration")

    async def type_code(self, org_id: UUID, type_id: UUID) -> str | None:
        row = self._state.table("asset_types").get(type_id)
        return row["code"] if row and row["org_id"] == org_id else None

    async def model_names(self, org_id: UUID, model_id: UUID) -> tuple[str, str, UUID | None] | None:
        model = self._state.table("models").get(model_id)
        if model is None or model["org_id"] != org_id:
            return None
        maker = self._state.table("manufacturers")[model["manufacturer_id"]]
        return maker["name"], model["name"], model.get("asset_type_id")

    async def company_number(self, org_id: UUID, company_id: UUID) -> int:
        return int(self._state.table("companies")[company_id]["number"])

    async def first_company_number(self, org_id: UUID) -> int:
        return min(c["number"] for c in self._state.table("companies").values() if c["org_id"] == org_id)

    async def id_for_number(self, org_id: UUID, number: int) -> UUID | None:
        found = [
            r["id"] for r in self._state.assets.values() if r["org_id"] == org_id and r["number"] == number
        ]
        return found[0] if found else None

    async def page_of_company(
        self, org_id: UUID, flt: CompanyFilter, ordering: str, limit: int, offset: int
    ) -> Page[Asset]:
        raise NotImplementedError("filtered lists are SQL's: tested in tests/integration")

    async def serial_numbers(
        self, org_id: UUID, flt: CompanyFilter, ordering: str, limit: int, offset: int
    ) -> Page[str]:
        raise NotImplementedError("filtered lists are SQL's: tested in tests/integration")


class FakeOrganisations(_Part):
    def _org(self, row: dict[str, Any]) -> Organisation:
        return Organisation.model_validate({k: v for k, v in row.items() if k != "tag_counter"})

    async def insert(self, name: str, prefix: str) -> Organisation:
        org_id = uuid4()
        row = {
            "id": org_id,
            "name": name,
            "prefix": prefix,
            "tag_template": "{PREFIX}-{YYYY}-NNNNNN",
            "tag_counter": 0,
            "created_at": _now(),
        }
        self._state.organisations[org_id] = row
        now = _now()
        company_id = uuid4()
        self._state.table("companies")[company_id] = {
            "id": company_id,
            "org_id": org_id,
            "number": 1,
            "name": name,
            "created_at": now,
            "updated_at": now,
        }
        return self._org(row)

    async def find_by_name(self, name: str) -> Organisation | None:
        found = [r for r in self._state.organisations.values() if r["name"] == name]
        return self._org(found[0]) if found else None

    async def oldest(self) -> Organisation | None:
        rows = sorted(self._state.organisations.values(), key=lambda r: r["created_at"])
        return self._org(rows[0]) if rows else None

    async def get(self, org_id: UUID) -> Organisation:
        return self._org(self._state.organisations[org_id])

    async def lock_tag_template(self, org_id: UUID) -> Organisation:
        return await self.get(org_id)

    async def set_tag_template(self, org_id: UUID, template: str) -> None:
        row = self._state.organisations[org_id]
        if row["tag_template"] != template:
            row["tag_template"] = template
            row["tag_template_version"] = row.get("tag_template_version", 1) + 1

    async def next_tag_counter(self, org_id: UUID) -> tuple[int, str, str]:
        row = self._state.organisations[org_id]
        row["tag_counter"] += 1
        return row["tag_counter"], row["tag_template"], row["prefix"]

    async def take_tag_counters(self, org_id: UUID, count: int) -> tuple[int, str, str]:
        row = self._state.organisations[org_id]
        row["tag_counter"] += count
        return row["tag_counter"] - count + 1, row["tag_template"], row["prefix"]

    async def insert_token(
        self,
        org_id: UUID,
        name: str,
        token_hash: bytes,
        scopes: list[str],
        expires_at: dt.datetime | None,
        rate_limit_read: str | None = None,
        rate_limit_write: str | None = None,
    ) -> ApiToken:
        token = ApiToken(
            id=uuid4(),
            org_id=org_id,
            name=name,
            scopes=scopes,
            expires_at=expires_at,
            revoked_at=None,
            created_at=_now(),
            rate_limit_read=rate_limit_read,
            rate_limit_write=rate_limit_write,
        )
        self._state.tokens[token.id] = {"token": token, "hash": token_hash}
        return token

    async def find_live_token(self, token_hash: bytes) -> tuple[ApiToken, bytes] | None:
        now = _now()
        for entry in self._state.tokens.values():
            token: ApiToken = entry["token"]
            live = token.revoked_at is None and (token.expires_at is None or token.expires_at > now)
            if entry["hash"] == token_hash and live:
                return token, entry["hash"]
        return None

    async def revoke_token(self, token_id: UUID) -> bool:
        entry = self._state.tokens.get(token_id)
        if entry is None or entry["token"].revoked_at is not None:
            return False
        entry["token"] = entry["token"].model_copy(update={"revoked_at": _now()})
        return True

    async def list_tokens(self, org_id: UUID) -> list[ApiToken]:
        return [e["token"] for e in self._state.tokens.values() if e["token"].org_id == org_id]


class FakeProjections(_Part):
    async def claim_events(self, consumer: ConsumerName, event_ids: Sequence[UUID]) -> set[UUID]:
        fresh = {event_id for event_id in event_ids if (consumer, event_id) not in self._state.claimed}
        self._state.claimed.update((consumer, event_id) for event_id in fresh)
        return fresh

    async def get_lifecycle(self, asset_id: UUID) -> LifecycleRow | None:
        return self._state.lifecycle.get(asset_id)

    async def lock_lifecycles(self, asset_ids: Sequence[UUID]) -> dict[UUID, tuple[int, LifecycleRow | None]]:
        versions = self._state.lifecycle_versions
        return {a: (versions[a], self._state.lifecycle.get(a)) for a in asset_ids if a in versions}

    async def save_lifecycles(self, rows: Sequence[LifecycleRow]) -> None:
        for row in rows:
            if self._state.lifecycle_versions.get(row.asset_id, 0) <= row.version:
                self._state.lifecycle[row.asset_id] = row
                self._state.lifecycle_versions[row.asset_id] = row.version

    async def lifecycle_due(self, today: dt.date, after: UUID | None, limit: int) -> list[LifecycleRow]:
        rows = sorted(
            (r for r in self._state.lifecycle.values() if r is not None and r.computed_on < today),
            key=lambda r: r.asset_id,
        )
        return [r for r in rows if after is None or r.asset_id > after][:limit]

    async def bury_lifecycles(self, buried: Sequence[Buried]) -> None:
        for asset_id, _, version in buried:
            self._state.lifecycle[asset_id] = None
            self._state.lifecycle_versions[asset_id] = version

    async def lock_depreciations(self, asset_ids: Sequence[UUID]) -> dict[UUID, int]:
        versions = self._state.depreciation_versions
        return {a: versions[a] for a in asset_ids if a in versions}

    async def save_depreciations(self, rows: Sequence[tuple[DepreciationRow, Sequence[Decimal]]]) -> None:
        for row, values in rows:
            if self._state.depreciation_versions.get(row.asset_id, 0) <= row.version:
                months = (
                    months_of(row.original_cost, row.service_start_date, values)
                    if row.original_cost is not None and row.service_start_date is not None
                    else []
                )
                self._state.depreciation[row.asset_id] = (row, months)
                self._state.depreciation_versions[row.asset_id] = row.version

    async def get_depreciation(self, asset_id: UUID) -> tuple[DepreciationRow, list[Period]] | None:
        return self._state.depreciation.get(asset_id)

    async def bury_depreciations(self, buried: Sequence[Buried]) -> None:
        for asset_id, _, version in buried:
            self._state.depreciation[asset_id] = None
            self._state.depreciation_versions[asset_id] = version

    async def insert_audit_entries(self, entries: Sequence[dict[str, Any]]) -> None:
        for entry in entries:
            if all(e["event_id"] != entry["event_id"] for e in self._state.audit):
                self._state.audit.append(entry)

    async def list_audit(
        self, org_id: UUID, flt: AuditFilter, after: tuple[dt.datetime, UUID] | None, limit: int
    ) -> list[AuditEntry]:
        raise NotImplementedError("the audit log's queries are SQL's: tested in tests/e2e")

    async def asset_ever_existed(self, org_id: UUID, asset_id: UUID) -> bool:
        in_audit = any(e["org_id"] == org_id and e["asset_id"] == asset_id for e in self._state.audit)
        return in_audit or asset_id in self._state.assets


class FakeExports(_Part):
    """The export of a whole organisation; its filters are SQL's (tested in tests/integration)."""

    async def chunks(
        self, org_id: UUID, flt: AssetFilter, size: int
    ) -> AsyncGenerator[list[ExportedAsset], None]:
        if flt != AssetFilter():
            raise NotImplementedError("filtered exports are SQL's: tested in tests/integration")
        rows = sorted(
            (r for r in self._state.assets.values() if r["org_id"] == org_id),
            key=lambda r: (r["created_at"], r["id"]),
        )
        found = [self._exported(row) for row in rows]
        for start in range(0, len(found), size):
            yield found[start : start + size]

    def _exported(self, row: dict[str, Any]) -> ExportedAsset:
        asset = self._uow.assets._asset(row)
        named = self._uow.assets._named
        company = named("companies", asset.company_id)
        keys = {
            "asset_type": named("asset_types", asset.asset_type_id).get("code"),
            "company": company["name"],
            "contract": asset.contract_reference,
            "business_unit": asset.business_unit_name,
            "custom_form": named("custom_forms", asset.custom_form_id).get("name"),
            "assigned_to_email": asset.assignee_email,
            "warranty_provider": asset.warranty_provider_name,
            "support_provider": asset.support_provider_name,
            "attached_supplier": asset.attached_supplier_name,
        }
        return ExportedAsset(asset, keys)


class FakeOutbox(_Part):
    async def add(self, event_id: UUID, org_id: UUID, routing_key: str, body: bytes) -> None:
        self._state.outbox.append((event_id, org_id, routing_key, body))

    async def add_many(self, org_id: UUID, events: Sequence[tuple[UUID, str, bytes]]) -> None:
        for event_id, routing_key, body in events:
            await self.add(event_id, org_id, routing_key, body)


class FakeIdempotency(_Part):
    """Keys without expiry or locks: the unit tests run one request at a time."""

    async def claim(self, org_id: UUID, key: str) -> bool:
        return True

    async def find(self, org_id: UUID, key: str) -> KeptAnswer | None:
        return self._state.kept.get((org_id, key))

    async def keep(self, org_id: UUID, key: str, answer: KeptAnswer, hours: float) -> None:
        self._state.kept[(org_id, key)] = answer

    async def prune(self, limit: int) -> int:
        return 0


class _NoDatabase:
    """Where the fake's webhooks would get a connection: the unit tests do not reach webhooks."""

    def connection(self) -> AbstractAsyncContextManager[Conn]:
        raise AssertionError(
            "the unit tests' fake unit of work has no webhooks; test them against PostgreSQL"
        )

    def connection_apart(self) -> AbstractAsyncContextManager[Conn]:
        return self.connection()


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.state = State()
        self.assets = FakeAssets(self)
        self.catalog = FakeCatalog(self)
        self.organisations = FakeOrganisations(self)
        self.projections = FakeProjections(self)
        self.outbox = FakeOutbox(self)
        self.exports = FakeExports(self)
        self.idempotency = FakeIdempotency(self)
        self.webhooks = WebhookRepository(_NoDatabase())
        self.transactions = 0  # how many began, savepoints included

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self.transactions += 1
        saved = copy.deepcopy(self.state)
        try:
            yield
        except BaseException:
            self.state = saved
            raise
