"""Domain errors raised by the service layer and mapped to HTTP by each dialect."""

from dataclasses import dataclass, field


class DomainError(Exception):
    """Base of every error the service layer raises on purpose."""


@dataclass
class NotFound(DomainError):
    """The object does not exist in the caller's organisation."""

    resource: str
    object_id: str

    def __str__(self) -> str:
        return f"{self.resource} {self.object_id!r} was not found."


class AssetNotFound(NotFound):
    """No such asset in the organisation."""

    def __init__(self, object_id: str) -> None:
        super().__init__("Asset", object_id)


@dataclass
class FieldProblem:
    """One invalid field or parameter and why."""

    field: str
    message: str


@dataclass
class InvalidInput(DomainError):
    """Input that is well-formed but not acceptable (an unknown id, a bad template, ...)."""

    problems: list[FieldProblem] = field(default_factory=list)

    @classmethod
    def one(cls, field_name: str, message: str) -> "InvalidInput":
        return cls([FieldProblem(field_name, message)])

    def __str__(self) -> str:
        return "; ".join(f"{p.field}: {p.message}" for p in self.problems)


@dataclass
class Conflict(DomainError):
    """The change would break a rule about other objects (still in use, duplicate, ...)."""

    message: str

    def __str__(self) -> str:
        return self.message


class TagTaken(Exception):
    """An asset tag the organisation already has: a create tries the next counter. Never answered
    as such; a create that cannot find a free tag fails."""

    def __init__(self, asset_tag: str) -> None:
        super().__init__(asset_tag)
        self.asset_tag = asset_tag


class StaleVersion(DomainError):
    """A conditional write (If-Match) found the object at another version than the one it
    names: nothing was changed. Carries the object as it is now, whose ETag the answer gives."""

    def __init__(self, current: object) -> None:
        super().__init__("the object has changed since the version this write names")
        self.current = current
