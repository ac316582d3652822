-- The maintained asset counts gain the company, so that the v2 list (always one company) has an
-- exact `count` without counting rows. The counts are rebuilt from the table.

DROP TRIGGER assets_count ON assets;
DROP FUNCTION assets_count_trigger();
DROP FUNCTION asset_counts_bump(uuid, uuid, text, integer);
DROP INDEX asset_counts_key;

ALTER TABLE asset_counts ADD COLUMN company_number integer NOT NULL DEFAULT 1;
TRUNCATE asset_counts;
INSERT INTO asset_counts (org_id, company_number, asset_type_id, status, slot, n)
    SELECT org_id, company_number, asset_type_id, status, 0, count(*)
    FROM assets GROUP BY org_id, company_number, asset_type_id, status;

CREATE UNIQUE INDEX asset_counts_key ON asset_counts
    (org_id, company_number, coalesce(asset_type_id, '00000000-0000-0000-0000-000000000000'), status, slot);

CREATE FUNCTION asset_counts_bump(p_org uuid, p_company integer, p_type uuid, p_status text, p_delta integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO asset_counts (org_id, company_number, asset_type_id, status, slot, n)
    VALUES (p_org, p_company, p_type, p_status, (pg_backend_pid() % 8)::smallint, p_delta)
    ON CONFLICT (org_id, company_number, coalesce(asset_type_id, '00000000-0000-0000-0000-000000000000'),
                 status, slot)
    DO UPDATE SET n = asset_counts.n + excluded.n;
$$;

CREATE FUNCTION assets_count_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (OLD.asset_type_id IS DISTINCT FROM NEW.asset_type_id
            OR OLD.status IS DISTINCT FROM NEW.status OR OLD.company_number IS DISTINCT FROM NEW.company_number)) THEN
        PERFORM asset_counts_bump(OLD.org_id, OLD.company_number, OLD.asset_type_id, OLD.status, -1);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (OLD.asset_type_id IS DISTINCT FROM NEW.asset_type_id
            OR OLD.status IS DISTINCT FROM NEW.status OR OLD.company_number IS DISTINCT FROM NEW.company_number)) THEN
        PERFORM asset_counts_bump(NEW.org_id, NEW.company_number, NEW.asset_type_id, NEW.status, 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER assets_count AFTER INSERT OR UPDATE OF asset_type_id, status, company_number OR DELETE
    ON assets FOR EACH ROW EXECUTE FUNCTION assets_count_trigger();
