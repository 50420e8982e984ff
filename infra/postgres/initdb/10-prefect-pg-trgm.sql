-- Prefect's server schema needs pg_trgm (trigram indexes for searching flow and task runs).
-- The entrypoint runs this in POSTGRES_DB (prefect) on the first start of an empty volume.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
