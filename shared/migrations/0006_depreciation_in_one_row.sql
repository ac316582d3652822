-- An asset's monthly schedule moves into its depreciation row: the book value at the end of each
-- month, in order (book_values[1] is the first month's). The other columns of a month follow from
-- it and the row (the month's end from the service start, the accumulated depreciation as cost
-- less book value, the month's depreciation as the fall from the month before), so the worker
-- writes one row per asset rather than one per month (a ten-year schedule was 120 rows).
ALTER TABLE asset_depreciation ADD COLUMN book_values numeric(14, 2)[];

UPDATE asset_depreciation d
SET book_values = (
    SELECT array_agg(p.book_value ORDER BY p.period) FROM depreciation_periods p WHERE p.asset_id = d.asset_id
)
WHERE EXISTS (SELECT 1 FROM depreciation_periods p WHERE p.asset_id = d.asset_id);

DROP TABLE depreciation_periods;
