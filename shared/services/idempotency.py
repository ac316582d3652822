"""Use cases of idempotency keys: hold a key for the length of a write, find the answer it
already has, keep a new one, and prune the expired."""

from uuid import UUID

from shared.domain.idempotency import KeptAnswer
from shared.services.unit_of_work import UnitOfWork

# How many expired keys one prune statement deletes.
PRUNE_BATCH = 5000


async def claim(uow: UnitOfWork, org_id: UUID, key: str) -> bool:
    """Hold the organisation's key until the transaction ends; False while a request holds it."""
    return await uow.idempotency.claim(org_id, key)


async def kept_answer(uow: UnitOfWork, org_id: UUID, key: str) -> KeptAnswer | None:
    return await uow.idempotency.find(org_id, key)


async def keep_answer(uow: UnitOfWork, org_id: UUID, key: str, answer: KeptAnswer, hours: float) -> None:
    await uow.idempotency.keep(org_id, key, answer, hours)


async def prune_expired(uow: UnitOfWork) -> int:
    """Delete every expired key, a batch at a time; how many there were."""
    pruned = 0
    while (deleted := await uow.idempotency.prune(PRUNE_BATCH)) > 0:
        pruned += deleted
    return pruned
