"""Conditional writes: the versions of an object that a write sent with If-Match may find."""

from dataclasses import dataclass
from uuid import UUID

from shared.errors import StaleVersion


@dataclass(frozen=True)
class Expected:
    """What a conditional write holds the object against, under the lock of its transaction:
    one of the (id, version) pairs its ETags name, or any version at all (`If-Match: *`)."""

    versions: frozenset[tuple[UUID, int]] = frozenset()
    any_version: bool = False

    def check(self, row_id: UUID, version: int, current: object) -> None:
        """StaleVersion (carrying the object as it is now) unless the object is as expected."""
        if not self.any_version and (row_id, version) not in self.versions:
            raise StaleVersion(current)


def check_expected(expected: Expected | None, row_id: UUID, version: int, current: object) -> None:
    """An unconditional write (`expected` None) always goes ahead."""
    if expected is not None:
        expected.check(row_id, version, current)
