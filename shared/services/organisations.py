"""Organisations, API tokens, authentication and the asset-tag template."""

import datetime as dt
import re
from uuid import UUID

from shared.db import Database
from shared.domain.asset_tags import TemplateError, validate_template
from shared.domain.models import ApiToken, Organisation, Principal, Scope
from shared.domain.tokens import hash_token, hashes_match, mint_token
from shared.errors import Conflict, InvalidInput, NotFound
from shared.repositories import organisations as repo

PREFIX_PATTERN = re.compile(r"^[A-Z0-9]{1,10}$")


def default_prefix(name: str) -> str:
    """Up to three letters or digits of the name, upper-cased ('Acme Corp' gives 'ACM')."""
    letters = "".join(c for c in name.upper() if c.isascii() and c.isalnum())
    return letters[:3] or "AST"


async def create_organisation(db: Database, name: str, prefix: str | None = None) -> Organisation:
    """A new organisation, with company 1 and the default tag template."""
    name = name.strip()
    if not name:
        raise InvalidInput.one("name", "must not be empty")
    prefix = prefix or default_prefix(name)
    if not PREFIX_PATTERN.match(prefix):
        raise InvalidInput.one("prefix", "must be 1 to 10 upper-case letters or digits")
    async with db.acquire() as conn, conn.transaction():
        if await repo.find_organisation_by_name(conn, name):
            raise Conflict(f"An organisation named {name!r} already exists.")
        return await repo.insert_organisation(conn, name, prefix)


async def find_organisation(db: Database, name: str) -> Organisation:
    async with db.acquire() as conn:
        org = await repo.find_organisation_by_name(conn, name)
    if org is None:
        raise NotFound("Organisation", name)
    return org


async def existing_organisation(db: Database, preferred: str) -> Organisation | None:
    """The organisation named `preferred` if there is one, else the oldest; None in a new database."""
    async with db.acquire() as conn:
        return await repo.find_organisation_by_name(conn, preferred) or await repo.oldest_organisation(conn)


async def create_token(
    db: Database,
    org_name: str,
    scopes: list[str],
    name: str | None = None,
    expires_at: dt.datetime | None = None,
) -> tuple[ApiToken, str]:
    """Mint a token for an organisation; the plain token is returned once and never stored."""
    known = {s.value for s in Scope}
    unknown = [s for s in scopes if s not in known]
    if not scopes or unknown:
        raise InvalidInput.one("scope", f"give one or more of {sorted(known)}; unknown: {unknown}")
    org = await find_organisation(db, org_name)
    plain = mint_token()
    async with db.acquire() as conn:
        token = await repo.insert_token(
            conn, org.id, name or "token", hash_token(plain), sorted(set(scopes)), expires_at
        )
    return token, plain


async def revoke_token(db: Database, token_or_id: str) -> bool:
    """Revoke a token given by its id or by the plain token itself."""
    async with db.acquire() as conn:
        try:
            return await repo.revoke_token(conn, UUID(token_or_id))
        except ValueError:
            found = await repo.find_live_token(conn, hash_token(token_or_id))
            return found is not None and await repo.revoke_token(conn, found[0].id)


async def list_tokens(db: Database, org_name: str) -> list[ApiToken]:
    org = await find_organisation(db, org_name)
    async with db.acquire() as conn:
        return await repo.list_tokens(conn, org.id)


async def authenticate(db: Database, presented: str) -> Principal | None:
    """The principal behind a live token, or None."""
    digest = hash_token(presented)
    async with db.acquire() as conn:
        found = await repo.find_live_token(conn, digest)
    if found is None:
        return None
    token, stored = found
    if not hashes_match(stored, digest):
        return None
    return Principal(
        token_id=token.id, token_name=token.name, org_id=token.org_id, scopes=frozenset(token.scopes)
    )


async def get_tag_template(db: Database, org_id: UUID) -> str:
    async with db.acquire() as conn:
        return (await repo.get_organisation(conn, org_id)).tag_template


async def set_tag_template(db: Database, org_id: UUID, template: str) -> str:
    try:
        validate_template(template)
    except TemplateError as exc:
        raise InvalidInput.one("template", str(exc)) from exc
    async with db.acquire() as conn:
        await repo.set_tag_template(conn, org_id, template)
    return template
