"""Organisations, API tokens, authentication and the asset-tag template."""

import datetime as dt
import re
from uuid import UUID

from shared.domain.asset_tags import TemplateError, validate_template
from shared.domain.models import ApiToken, Organisation, Principal, Scope
from shared.domain.tokens import hash_token, hashes_match, mint_token
from shared.domain.versions import Expected, check_expected
from shared.errors import Conflict, InvalidInput, NotFound
from shared.services.unit_of_work import UnitOfWork
from shared.settings import checked_budget

PREFIX_PATTERN = re.compile(r"^[A-Z0-9]{1,10}$")


def default_prefix(name: str) -> str:
    """Up to three letters or digits of the name, upper-cased ('Acme Corp' gives 'ACM')."""
    letters = "".join(c for c in name.upper() if c.isascii() and c.isalnum())
    return letters[:3] or "AST"


async def create_organisation(uow: UnitOfWork, name: str, prefix: str | None = None) -> Organisation:
    """A new organisation, with company 1 and the default tag template."""
    name = name.strip()
    if not name:
        raise InvalidInput.one("name", "must not be empty")
    prefix = prefix or default_prefix(name)
    if not PREFIX_PATTERN.match(prefix):
        raise InvalidInput.one("prefix", "must be 1 to 10 upper-case letters or digits")
    async with uow.transaction():
        if await uow.organisations.find_by_name(name):
            raise Conflict(f"An organisation named {name!r} already exists.")
        return await uow.organisations.insert(name, prefix)


async def find_organisation(uow: UnitOfWork, name: str) -> Organisation:
    org = await uow.organisations.find_by_name(name)
    if org is None:
        raise NotFound("Organisation", name)
    return org


async def existing_organisation(uow: UnitOfWork, preferred: str) -> Organisation | None:
    """The organisation named `preferred` if there is one, else the oldest; None in a new database."""
    return await uow.organisations.find_by_name(preferred) or await uow.organisations.oldest()


async def create_token(
    uow: UnitOfWork,
    org_name: str,
    scopes: list[str],
    name: str | None = None,
    expires_at: dt.datetime | None = None,
    rate_limit_read: str | None = None,
    rate_limit_write: str | None = None,
) -> tuple[ApiToken, str]:
    """Mint a token for an organisation; the plain token is returned once and never stored. Its
    own read and write budgets (such as "100/minute") replace the settings' defaults."""
    known = {s.value for s in Scope}
    unknown = [s for s in scopes if s not in known]
    if not scopes or unknown:
        raise InvalidInput.one("scope", f"give one or more of {sorted(known)}; unknown: {unknown}")
    budgets = {"rate_limit_read": rate_limit_read, "rate_limit_write": rate_limit_write}
    for field, budget in budgets.items():
        if budget is not None:
            try:
                budgets[field] = checked_budget(budget)
            except ValueError as exc:
                raise InvalidInput.one(field, str(exc)) from None
    org = await find_organisation(uow, org_name)
    plain = mint_token()
    token = await uow.organisations.insert_token(
        org.id, name or "token", hash_token(plain), sorted(set(scopes)), expires_at, **budgets
    )
    return token, plain


async def revoke_token(uow: UnitOfWork, token_or_id: str) -> bool:
    """Revoke a token given by its id or by the plain token itself."""
    try:
        token_id = UUID(token_or_id)
    except ValueError:
        found = await uow.organisations.find_live_token(hash_token(token_or_id))
        return found is not None and await uow.organisations.revoke_token(found[0].id)
    return await uow.organisations.revoke_token(token_id)


async def list_tokens(uow: UnitOfWork, org_name: str) -> list[ApiToken]:
    org = await find_organisation(uow, org_name)
    return await uow.organisations.list_tokens(org.id)


async def authenticate(uow: UnitOfWork, presented: str) -> Principal | None:
    """The principal behind a live token, or None."""
    digest = hash_token(presented)
    found = await uow.organisations.find_live_token(digest)
    if found is None:
        return None
    token, stored = found
    if not hashes_match(stored, digest):
        return None
    return Principal(
        token_id=token.id,
        token_name=token.name,
        org_id=token.org_id,
        scopes=frozenset(token.scopes),
        rate_limit_read=token.rate_limit_read,
        rate_limit_write=token.rate_limit_write,
    )


async def get_tag_template(uow: UnitOfWork, org_id: UUID) -> Organisation:
    """The organisation, whose `tag_template` and `tag_template_version` these are."""
    return await uow.organisations.get(org_id)


async def set_tag_template(
    uow: UnitOfWork, org_id: UUID, template: str, expected: Expected | None = None
) -> Organisation:
    """Set the template (its version counts the change); with `expected` (If-Match),
    StaleVersion unless the template is at that version."""
    try:
        validate_template(template)
    except TemplateError as exc:
        raise InvalidInput.one("template", str(exc)) from exc
    async with uow.transaction():
        current = await uow.organisations.lock_tag_template(org_id)
        check_expected(expected, org_id, current.tag_template_version, current)
        await uow.organisations.set_tag_template(org_id, template)
        return await uow.organisations.get(org_id)
