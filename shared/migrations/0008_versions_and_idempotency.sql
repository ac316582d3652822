-- Every catalog object counts its changes as an asset does, so that its ETag changes with each
-- change and only then, and a write with If-Match can be held against the version it read.
ALTER TABLE asset_types ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE manufacturers ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE models ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE people ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE companies ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE vendors ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE contracts ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE business_units ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE custom_forms ADD COLUMN version integer NOT NULL DEFAULT 1;
-- And the organisation's asset-tag template, an object of its own at /v1/settings/asset-tag.
ALTER TABLE organisations ADD COLUMN tag_template_version integer NOT NULL DEFAULT 1;

-- The answer to the first write sent with an Idempotency-Key, kept per organisation so that a
-- repeat gets it again rather than running again. Written in the write's own transaction.
CREATE TABLE idempotency_keys (
    org_id       uuid NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    key          text NOT NULL,
    method       text NOT NULL,
    path         text NOT NULL,
    fingerprint  bytea NOT NULL,          -- SHA-256 of the method, path, query and body
    status       smallint NOT NULL,
    headers      jsonb NOT NULL,          -- the answer's Content-Type, Location and ETag
    body         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (org_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
