#!/usr/bin/env bash
# Start the services the scale-out tests use: PostgreSQL (and Redis) from Debian packages, on loopback;
# install the browser the UI tests drive (Debian's Chromium, and CJK fonts so Chinese text renders).
# Installs them with apt when missing (needs root). Prints the environment to export, e.g.:
#   eval "$(sudo scripts/services.sh)"
# Safe to re-run.
set -euo pipefail
log() { echo "$@" >&2; }

need=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
  log "==> apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need[@]}" >&2
fi

# PostgreSQL: the first cluster Debian created; start it and make a test role + database.
ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
[ -d "/etc/postgresql/$ver/main" ] || pg_createcluster "$ver" main >&2
pg_ctlcluster "$ver" main start >&2 2>/dev/null || true
for _ in $(seq 1 30); do
  su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1 && break
  sleep 0.5
done
su postgres -c "psql -qtAc \"select 1 from pg_roles where rolname='coe'\"" | grep -q 1 || \
  su postgres -c "psql -qc \"create role coe login password 'coe' createdb\"" >&2
su postgres -c "psql -qtAc \"select 1 from pg_database where datname='coe_test'\"" | grep -q 1 || \
  su postgres -c "psql -qc 'create database coe_test owner coe'" >&2

# Redis on loopback.
if ! redis-cli -p 6379 ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no >&2
fi
for _ in $(seq 1 20); do redis-cli -p 6379 ping >/dev/null 2>&1 && break; sleep 0.25; done

echo "export COE_TEST_POSTGRES_URL=postgresql://coe:coe@127.0.0.1:5432/coe_test"
echo "export COE_TEST_REDIS_URL=redis://127.0.0.1:6379/0"
echo "export COE_CHROMIUM=$(command -v chromium)"
