#!/bin/bash
# Run once by the postgres image (docker-entrypoint-initdb.d) on an empty volume: two databases with
# their own owners — "airflow" for Airflow's metadata, "envmon" for incidents, rosters, results.
# Passwords come from the environment (.env), never from this file.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v airflow_pw="$AIRFLOW_DB_PASSWORD" -v envmon_pw="$ENVMON_DB_PASSWORD" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_pw';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE envmon LOGIN PASSWORD :'envmon_pw';
CREATE DATABASE envmon OWNER envmon;
REVOKE ALL ON DATABASE airflow FROM PUBLIC;
REVOKE ALL ON DATABASE envmon FROM PUBLIC;
SQL
