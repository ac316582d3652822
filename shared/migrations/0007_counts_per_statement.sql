-- The maintained asset counts are bumped once per statement rather than once per row. A row
-- trigger bumped the same counter row for every asset an import inserted, leaving one dead
-- version of it per asset in the import's transaction for the next bump to step over: an
-- import slowed down as it went (50,000 rows took several times 5 x 10,000). Statement triggers
-- see the statement's rows as transition tables and add up their changes per key first.

DROP TRIGGER assets_count ON assets;
DROP FUNCTION assets_count_trigger();
DROP FUNCTION asset_counts_bump(uuid, integer, uuid, text, integer);

CREATE FUNCTION assets_counted_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO asset_counts (org_id, company_number, asset_type_id, status, slot, n)
    SELECT org_id, company_number, asset_type_id, status, (pg_backend_pid() % 8)::smallint, count(*)
    FROM inserted GROUP BY org_id, company_number, asset_type_id, status
    ORDER BY org_id, company_number, asset_type_id, status
    ON CONFLICT (org_id, company_number, coalesce(asset_type_id, '00000000-0000-0000-0000-000000000000'),
                 status, slot)
    DO UPDATE SET n = asset_counts.n + excluded.n;
    RETURN NULL;
END;
$$;

CREATE FUNCTION assets_counted_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO asset_counts (org_id, company_number, asset_type_id, status, slot, n)
    SELECT org_id, company_number, asset_type_id, status, (pg_backend_pid() % 8)::smallint, -count(*)
    FROM deleted GROUP BY org_id, company_number, asset_type_id, status
    ORDER BY org_id, company_number, asset_type_id, status
    ON CONFLICT (org_id, company_number, coalesce(asset_type_id, '00000000-0000-0000-0000-000000000000'),
                 status, slot)
    DO UPDATE SET n = asset_counts.n + excluded.n;
    RETURN NULL;
END;
$$;

-- Every UPDATE statement comes here (a trigger with transition tables takes no column list);
-- only keys whose count changes are written, so an update of a name writes nothing.
CREATE FUNCTION assets_counted_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO asset_counts (org_id, company_number, asset_type_id, status, slot, n)
    SELECT org_id, company_number, asset_type_id, status, (pg_backend_pid() % 8)::smallint, sum(delta)
    FROM (
        SELECT org_id, company_number, asset_type_id, status, -1 AS delta FROM before_update
        UNION ALL
        SELECT org_id, company_number, asset_type_id, status, 1 AS delta FROM after_update
    ) AS changes
    GROUP BY org_id, company_number, asset_type_id, status
    HAVING sum(delta) <> 0
    ORDER BY org_id, company_number, asset_type_id, status
    ON CONFLICT (org_id, company_number, coalesce(asset_type_id, '00000000-0000-0000-0000-000000000000'),
                 status, slot)
    DO UPDATE SET n = asset_counts.n + excluded.n;
    RETURN NULL;
END;
$$;

CREATE TRIGGER assets_counted_insert AFTER INSERT ON assets
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION assets_counted_insert();
CREATE TRIGGER assets_counted_delete AFTER DELETE ON assets
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION assets_counted_delete();
CREATE TRIGGER assets_counted_update AFTER UPDATE ON assets
    REFERENCING OLD TABLE AS before_update NEW TABLE AS after_update
    FOR EACH STATEMENT EXECUTE FUNCTION assets_counted_update();
