#!/bin/bash
# void-farm's lineage database, beside Prefect's in the same PostgreSQL instance: its own role
# and database, so the farm's lineage writers never hold Prefect's credentials.
# Runs on the first start of an empty volume, and only when VOID_FARM_DB_PASSWORD is set.
# The schema itself comes from `void-farm db upgrade` (Alembic), not from here.
set -euo pipefail

if [ -z "${VOID_FARM_DB_PASSWORD:-}" ]; then
    echo "void-farm: VOID_FARM_DB_PASSWORD not set, no lineage database created"
    exit 0
fi
user="${VOID_FARM_DB_USER:-voidfarm}"
database="${VOID_FARM_DB_NAME:-voidfarm}"

# Names and password travel as psql variables (:"x" quotes an identifier, :'x' a literal),
# never spliced into the SQL text.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v user="$user" -v database="$database" -v password="$VOID_FARM_DB_PASSWORD" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"user";
SQL
echo "void-farm: lineage database '$database' (owner '$user') created; run \`void-farm db upgrade\` against it"
