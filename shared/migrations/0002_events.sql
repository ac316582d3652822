-- Events: the transactional outbox the relay publishes from, and the worker's projections
-- (lifecycle, depreciation, audit log) with the bookkeeping that makes consumers idempotent.

CREATE TABLE outbox (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    org_id        uuid NOT NULL,
    routing_key   text NOT NULL,
    body          bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz
);
-- The relay's claim: unsent rows in order. Pruning: sent rows by age.
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Each consumer applies an event once: the event id is recorded in the same transaction.
CREATE TABLE processed_events (
    consumer      text NOT NULL,
    event_id      uuid NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Warranty and support status of each asset, as of `computed_on`.
CREATE TABLE asset_lifecycle (
    asset_id             uuid PRIMARY KEY,
    org_id               uuid NOT NULL,
    version              integer NOT NULL,
    deleted              boolean NOT NULL DEFAULT false,
    asset_tag            text NOT NULL,
    name                 text NOT NULL,
    warranty_end_date    date,
    support_end_date     date,
    end_of_life_date     date,
    warranty_status      text NOT NULL,
    support_status       text NOT NULL,
    warranty_days_left   integer,
    support_days_left    integer,
    computed_on          date NOT NULL,
    -- The end date a notice was last sent for, so that each is sent once per end date.
    warranty_expiring_for date,
    warranty_expired_for  date,
    support_expiring_for  date,
    support_expired_for   date,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX asset_lifecycle_due ON asset_lifecycle (computed_on) WHERE NOT deleted;

-- Straight-line depreciation of each asset; the monthly schedule is in depreciation_periods.
CREATE TABLE asset_depreciation (
    asset_id             uuid PRIMARY KEY,
    org_id               uuid NOT NULL,
    version              integer NOT NULL,
    deleted              boolean NOT NULL DEFAULT false,
    schedule             text,
    original_cost        numeric(14, 2),
    salvage_value        numeric(14, 2),
    service_start_date   date,
    months               integer,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE depreciation_periods (
    asset_id             uuid NOT NULL REFERENCES asset_depreciation(asset_id) ON DELETE CASCADE,
    period               integer NOT NULL,
    period_end           date NOT NULL,
    depreciation         numeric(14, 2) NOT NULL,
    accumulated          numeric(14, 2) NOT NULL,
    book_value           numeric(14, 2) NOT NULL,
    PRIMARY KEY (asset_id, period)
);

-- One entry per change, kept after the asset is deleted.
CREATE TABLE audit_log (
    event_id      uuid PRIMARY KEY,
    org_id        uuid NOT NULL,
    asset_id      uuid NOT NULL,
    action        text NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
    actor_id      text,
    actor_name    text,
    request_id    text,
    version       integer NOT NULL,
    changes       jsonb NOT NULL,
    at            timestamptz NOT NULL
);
CREATE INDEX audit_log_org_at ON audit_log (org_id, at DESC, event_id DESC);
CREATE INDEX audit_log_asset_at ON audit_log (org_id, asset_id, at DESC, event_id DESC);
CREATE INDEX audit_log_actor_at ON audit_log (org_id, actor_id, at DESC, event_id DESC);
