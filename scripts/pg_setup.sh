#!/usr/bin/env bash
# Start the local PostgreSQL cluster and create the role and database the Meltano
# loader and tests/test_meltano_postgres.py use. Idempotent: safe to run again.
#
# Run as root (a CI machine where the cluster is installed but stopped) or as a user
# with passwordless sudo. Overrides: PG_ROLE, PG_PASSWORD, PG_DATABASE, PG_VERSION.
set -euo pipefail

role="${PG_ROLE:-meltano}"
password="${PG_PASSWORD:-meltano}"
database="${PG_DATABASE:-indigo}"

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        su postgres -c "$*"
    else
        sudo -n -u postgres -- sh -c "$*"
    fi
}
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n -- "$@"; fi
}

command -v pg_lsclusters >/dev/null || {
    echo "pg_setup: PostgreSQL (postgresql-common) is not installed" >&2
    exit 1
}

# The newest installed major version, unless PG_VERSION says otherwise; the
# clusters list is authoritative, the binaries directory a fallback.
version="${PG_VERSION:-$(pg_lsclusters -h | awk '$2 == "main" {print $1}' | sort -n | tail -n 1)}"
if [ -z "$version" ]; then
    version="$(ls /usr/lib/postgresql | sort -n | tail -n 1)"
    [ -n "$version" ] || { echo "pg_setup: no PostgreSQL server found" >&2; exit 1; }
    echo "pg_setup: creating cluster $version/main"
    as_root pg_createcluster "$version" main
fi

port="$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')"
status="$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}')"
if [ "$status" != "online" ]; then
    echo "pg_setup: starting PostgreSQL $version/main on port $port"
    as_root pg_ctlcluster "$version" main start
fi
for _ in $(seq 1 60); do
    pg_isready -q -h localhost -p "$port" && break
    sleep 0.5
done
pg_isready -q -h localhost -p "$port" || {
    echo "pg_setup: PostgreSQL $version/main did not become ready on port $port" >&2
    exit 1
}

# \gexec runs each statement only when the guard query returns it: no errors when
# the role or database already exist. The password is (re)set each time so a reused
# cluster always matches what the tests expect.
as_postgres "psql -p $port -v ON_ERROR_STOP=1 -qAt" <<SQL
SELECT format('CREATE ROLE %I LOGIN', '$role')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', '$role', '$password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$database', '$role')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$database') \gexec
SQL
echo "pg_setup: PostgreSQL $version ready: postgresql://$role:***@localhost:$port/$database"
