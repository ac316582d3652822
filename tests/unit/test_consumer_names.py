"""The consumers are named once: the topology's queues and the worker's handler table use one enum."""

from services.worker.bootstrap import handlers
from shared.domain.consumers import ConsumerName
from shared.settings import Settings
from shared.topology import CONSUMERS, Topology


def test_every_consumer_has_exactly_one_handler() -> None:
    assert list(handlers(Settings())) == list(ConsumerName)


def test_every_consumer_has_a_queue_and_a_dead_letter_queue_named_after_it() -> None:
    topology = Topology("acme")
    assert CONSUMERS == tuple(ConsumerName)
    assert [topology.queue(c) for c in CONSUMERS] == ["acme.lifecycle", "acme.depreciation", "acme.audit"]
    assert [topology.dead_letter_queue(c) for c in CONSUMERS] == [
        "acme.lifecycle.dead",
        "acme.depreciation.dead",
        "acme.audit.dead",
    ]
