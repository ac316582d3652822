-- The v2 dialect (Revnue's /api/v2/): companies become first-class objects with a string id for
-- v1 beside their per-organisation number, and the v2 list gets indexes for its filters and
-- orderings.

ALTER TABLE companies
    ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- A new company takes the next number of its organisation; the organisation's row is locked so
-- that two concurrent creates cannot take the same one.
CREATE FUNCTION companies_number_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.number IS NULL THEN
        PERFORM 1 FROM organisations WHERE id = NEW.org_id FOR UPDATE;
        SELECT coalesce(max(number), 0) + 1 INTO NEW.number FROM companies WHERE org_id = NEW.org_id;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER companies_number BEFORE INSERT ON companies
    FOR EACH ROW EXECUTE FUNCTION companies_number_trigger();

-- v2 list: filters (company always; name, serial number, manufacturer, custom form) and orderings.
CREATE INDEX assets_org_company_number ON assets (org_id, company_number, number);
CREATE INDEX assets_org_company_created ON assets (org_id, company_number, created_at, number);
CREATE INDEX assets_org_company_updated ON assets (org_id, company_number, updated_at, number);
CREATE INDEX assets_org_company_name ON assets (org_id, company_number, name, number);
CREATE INDEX assets_org_lower_name ON assets (org_id, lower(name));
CREATE INDEX assets_org_lower_manufacturer ON assets (org_id, lower(manufacturer))
    WHERE manufacturer IS NOT NULL;
CREATE INDEX assets_custom_form ON assets (custom_form_id) WHERE custom_form_id IS NOT NULL;
CREATE INDEX assets_contract ON assets (contract_id) WHERE contract_id IS NOT NULL;
CREATE INDEX assets_business_unit ON assets (business_unit_id) WHERE business_unit_id IS NOT NULL;
CREATE INDEX assets_warranty_provider ON assets (warranty_provider_id) WHERE warranty_provider_id IS NOT NULL;
CREATE INDEX assets_support_provider ON assets (support_provider_id) WHERE support_provider_id IS NOT NULL;
CREATE INDEX assets_attached_supplier ON assets (attached_supplier_id) WHERE attached_supplier_id IS NOT NULL;
CREATE INDEX contracts_vendor ON contracts (vendor_id) WHERE vendor_id IS NOT NULL;
