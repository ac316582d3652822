-- Webhooks: the HTTPS endpoints an organisation registered, one delivery per event and endpoint,
-- and every attempt of each delivery (its delivery log).
CREATE TABLE webhook_endpoints (
    id                     uuid PRIMARY KEY,
    org_id                 uuid NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    url                    text NOT NULL,
    events                 text[] NOT NULL,        -- event types and topic patterns (asset.*, asset.#)
    description            text NOT NULL DEFAULT '',
    enabled                boolean NOT NULL DEFAULT true,
    secret                 bytea NOT NULL,         -- the signing secret, a Fernet token (WEBHOOK_SECRET_KEY)
    previous_secret        bytea,                  -- the one before a rotation, which still signs ...
    previous_secret_until  timestamptz,            -- ... until then
    failing_since          timestamptz,            -- the first failed attempt since the last success
    last_delivered_at      timestamptz,            -- the last success
    last_attempt_at        timestamptz,            -- the last attempt, whatever came of it
    disabled_at            timestamptz,
    disabled_reason        text,
    version                integer NOT NULL DEFAULT 1,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id, created_at, id);

-- Written by the worker's webhooks consumer in the transaction that acks the event, so an event
-- is either acked with its deliveries recorded or redelivered; sent by the dispatcher.
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id         text NOT NULL,               -- the CloudEvent's id, sent as webhook-id
    event_type       text NOT NULL,
    body             bytea NOT NULL,              -- the CloudEvent as it went to RabbitMQ
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,                 -- while pending
    leased_until     timestamptz,                 -- claimed by a dispatcher, being sent ...
    lease_id         uuid,                        -- ... under this claim, which alone may settle it
    window_started_at timestamptz,                -- its first attempt (again after a retry on request)
    window_attempts  integer NOT NULL DEFAULT 0,  -- attempts made since then (the retry schedule's place)
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,                 -- delivered or given up
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
-- The dispatcher's claim: each endpoint with pending deliveries (a skip scan), then its soonest.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (endpoint_id, leased_until)
    WHERE leased_until IS NOT NULL;
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at) WHERE status <> 'pending';

CREATE TABLE webhook_attempts (
    delivery_id    uuid NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    n              integer NOT NULL,
    at             timestamptz NOT NULL,
    duration_ms    integer NOT NULL,
    status_code    smallint,                      -- null when no answer came
    error          text,                          -- why it failed, when it did
    response_body  text,                          -- the first KiB of the answer
    PRIMARY KEY (delivery_id, n)
);
