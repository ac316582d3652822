-- A token's own read and write budgets (such as '100/minute'); NULL takes the default of the
-- settings (RATE_LIMIT_READ, RATE_LIMIT_WRITE).
ALTER TABLE api_tokens ADD COLUMN rate_limit_read text, ADD COLUMN rate_limit_write text;
