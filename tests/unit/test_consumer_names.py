"""The consumers are named once: the topology's queues and the worker's handler table use one enum."""

from services.worker.bootstrap import handlers
from shared.domain.consumers import ConsumerName
from shared.events import ASSET_CHANGE_TYPES, EventType
from shared.settings import Settings
from shared.topology import CONSUMERS, Topology, bindings


def test_every_consumer_has_exactly_one_handler() -> None:
    assert list(handlers(Settings())) == list(ConsumerName)


def test_every_consumer_has_a_queue_and_a_dead_letter_queue_named_after_it() -> None:
    topology = Topology("acme")
    assert CONSUMERS == tuple(ConsumerName)
    assert [topology.queue(c) for c in CONSUMERS] == [
        "acme.lifecycle",
        "acme.depreciation",
        "acme.audit",
        "acme.webhooks",
    ]
    assert [topology.dead_letter_queue(c) for c in CONSUMERS] == [
        "acme.lifecycle.dead",
        "acme.depreciation.dead",
        "acme.audit.dead",
        "acme.webhooks.dead",
    ]


def test_the_webhooks_queue_takes_every_published_type_by_name_and_the_others_the_changes() -> None:
    changes = tuple(t.value for t in ASSET_CHANGE_TYPES)
    for consumer in CONSUMERS:
        if consumer is ConsumerName.WEBHOOKS:
            assert set(bindings(consumer)) == {t.value for t in EventType} - {"webhook.ping"}
        else:
            assert bindings(consumer) == changes
