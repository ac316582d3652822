"""The worker's consumers: each has a queue of its own and applies every asset change once."""

from enum import StrEnum


class ConsumerName(StrEnum):
    """A consumer's name, which is also the last part of its queue's name and its claim of an event."""

    LIFECYCLE = "lifecycle"  # warranty, support and end-of-life status, and the coverage notices
    DEPRECIATION = "depreciation"  # the monthly schedule and the book value
    AUDIT = "audit"  # one audit-log entry per change
    WEBHOOKS = "webhooks"  # one delivery per event and webhook endpoint that takes it
