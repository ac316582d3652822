-- assetflow initial schema: tenants, tokens, catalog, people and the asset table that
-- holds the union of both dialects' asset fields (v1 Uslimato, v2 Revnue).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE organisations (
    id            uuid PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    prefix        text NOT NULL,
    tag_template  text NOT NULL DEFAULT '{PREFIX}-{YYYY}-NNNNNN',
    tag_counter   bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY,
    org_id        uuid NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    name          text NOT NULL,
    token_hash    bytea NOT NULL UNIQUE,
    scopes        text[] NOT NULL,
    expires_at    timestamptz,
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_tokens_org ON api_tokens (org_id);

-- v2 "company": integer ids counted per organisation, the first is 1.
CREATE TABLE companies (
    org_id        uuid NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    number        integer NOT NULL,
    name          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, number)
);

-- Every catalog object has a string id (v1) and an integer number (v2).
CREATE TABLE asset_types (
    id            uuid PRIMARY KEY,
    number        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    org_id        uuid NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    name          text NOT NULL,
    code          text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('physical', 'logical')),
    subcategory   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, code)
);
CREATE INDEX asset_types_org_kind ON asset_types (org_id, kind);

CREATE TABLE manufacturers (
    id            uuid PRIMARY KEY,
    number        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    org_id        uuid NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    name          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);

CREATE TABLE models (
    id              uuid PRIMARY KEY,
    number          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    org_id          uuid NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    manufacturer_id uuid NOT NULL REFERENCES manufacturers(id),
    asset_type_id   uuid REFERENCES asset_types(id),
    name            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX models_org ON models (org_id);
CREATE INDEX models_manufacturer ON models (manufacturer_id);
CREATE INDEX models_asset_type ON models (asset_type_id);

-- The v1 "user" is the v2 "asset_owner".
CREATE TABLE people (
    id            uuid PRIMARY KEY,
    number        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    org_id        uuid NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    name          text NOT NULL,
    email         text,
    phone         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX people_org ON people (org_id);

-- Companion objects of the v2 dialect; their routes come with that dialect.
CREATE TABLE vendors (
    id            uuid PRIMARY KEY,
    number        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    org_id        uuid NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    name          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vendors_org ON vendors (org_id);

CREATE TABLE contracts (
    id            uuid PRIMARY KEY,
    number        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    org_id        uuid NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    contract_number text NOT NULL,
    start_date    date,
    end_date      date,
    vendor_id     uuid REFERENCES vendors(id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contracts_org ON contracts (org_id);

CREATE TABLE business_units (
    id            uuid PRIMARY KEY,
    number        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    org_id        uuid NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    name          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX business_units_org ON business_units (org_id);

CREATE TABLE custom_forms (
    id            uuid PRIMARY KEY,
    number        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    org_id        uuid NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    name          text NOT NULL,
    fields        jsonb NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX custom_forms_org ON custom_forms (org_id);

CREATE TABLE assets (
    id                      uuid PRIMARY KEY,
    number                  bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    org_id                  uuid NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    company_number          integer NOT NULL DEFAULT 1,
    version                 integer NOT NULL DEFAULT 1,
    asset_tag               text NOT NULL,
    name                    text NOT NULL,
    status                  text NOT NULL DEFAULT 'in_stock' CHECK (status IN
                              ('in_stock', 'preparing', 'in_use', 'in_service', 'returned', 'scrapped')),
    asset_type_id           uuid REFERENCES asset_types(id),
    model_id                uuid REFERENCES models(id),
    manufacturer            text,
    model                   text,
    serial_number           text,
    purchase_date           date,
    purchase_price          numeric(14, 2) CHECK (purchase_price >= 0),
    warranty_until          date,
    assigned_to             uuid REFERENCES people(id),
    notes                   text,
    custom_fields           jsonb NOT NULL DEFAULT '{}',
    -- fields of the v2 dialect
    contract_id             uuid REFERENCES contracts(id),
    business_unit_id        uuid REFERENCES business_units(id),
    custom_form_id          uuid REFERENCES custom_forms(id),
    address                 text,
    city                    text,
    country                 text,
    region                  text,
    location_description    text,
    warranty_type           text NOT NULL DEFAULT 'none' CHECK (warranty_type IN
                              ('none', 'oem', 'oem_extended', 'third_party')),
    warranty_provider_id    uuid REFERENCES vendors(id),
    warranty_start_date     date,
    warranty_contact_phone  text,
    warranty_contact_email  text,
    warranty_notes          text,
    support_type            text NOT NULL DEFAULT 'none' CHECK (support_type IN
                              ('none', 'oem', 'oem_extended', 'third_party')),
    support_provider_id     uuid REFERENCES vendors(id),
    attached_supplier_id    uuid REFERENCES vendors(id),
    support_start_date      date,
    support_end_date        date,
    support_contact_phone   text,
    support_contact_email   text,
    support_notes           text,
    end_of_life_date        date,
    end_of_support_date     date,
    service_start_date      date,
    depreciation_schedule   text CHECK (depreciation_schedule IN
                              ('other', '3_year_33_percent', '5_year_20_percent', '10_year_10_percent')),
    estimated_salvage_value numeric(14, 2) CHECK (estimated_salvage_value >= 0),
    financial_notes         text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, asset_tag),
    FOREIGN KEY (org_id, company_number) REFERENCES companies (org_id, number)
);

-- Newest first, alone and under each list filter.
CREATE INDEX assets_org_newest ON assets (org_id, created_at DESC, id DESC);
CREATE INDEX assets_org_status_newest ON assets (org_id, status, created_at DESC, id DESC);
CREATE INDEX assets_org_type_newest ON assets (org_id, asset_type_id, created_at DESC, id DESC);
CREATE INDEX assets_org_type_status_newest
    ON assets (org_id, asset_type_id, status, created_at DESC, id DESC);
-- q: case-insensitive substring of name, asset tag or serial number.
CREATE INDEX assets_search_trgm ON assets USING gin (
    (lower(name || ' ' || asset_tag || ' ' || coalesce(serial_number, ''))) gin_trgm_ops);
CREATE INDEX assets_model ON assets (model_id) WHERE model_id IS NOT NULL;
CREATE INDEX assets_assigned_to ON assets (assigned_to) WHERE assigned_to IS NOT NULL;
CREATE INDEX assets_serial ON assets (org_id, serial_number) WHERE serial_number IS NOT NULL;

-- meta.total without count(*): counts kept by trigger per (organisation, type, status), spread
-- over a few slots per key so that concurrent writers do not queue on one row.
CREATE TABLE asset_counts (
    org_id        uuid NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    asset_type_id uuid,
    status        text NOT NULL,
    slot          smallint NOT NULL,
    n             bigint NOT NULL
);
CREATE UNIQUE INDEX asset_counts_key
    ON asset_counts (org_id, coalesce(asset_type_id, '00000000-0000-0000-0000-000000000000'), status, slot);

CREATE FUNCTION asset_counts_bump(p_org uuid, p_type uuid, p_status text, p_delta integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO asset_counts (org_id, asset_type_id, status, slot, n)
    VALUES (p_org, p_type, p_status, (pg_backend_pid() % 8)::smallint, p_delta)
    ON CONFLICT (org_id, coalesce(asset_type_id, '00000000-0000-0000-0000-000000000000'), status, slot)
    DO UPDATE SET n = asset_counts.n + excluded.n;
$$;

CREATE FUNCTION assets_count_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF TG_OP = 'DELETE' OR OLD.asset_type_id IS DISTINCT FROM NEW.asset_type_id
                OR OLD.status IS DISTINCT FROM NEW.status THEN
            PERFORM asset_counts_bump(OLD.org_id, OLD.asset_type_id, OLD.status, -1);
        END IF;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (OLD.asset_type_id IS DISTINCT FROM NEW.asset_type_id
            OR OLD.status IS DISTINCT FROM NEW.status)) THEN
        PERFORM asset_counts_bump(NEW.org_id, NEW.asset_type_id, NEW.status, 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER assets_count AFTER INSERT OR UPDATE OF asset_type_id, status OR DELETE ON assets
    FOR EACH ROW EXECUTE FUNCTION assets_count_trigger();
