#!/usr/bin/env bash
# Installs the Debian packages gridgeo needs when they are missing: PostgreSQL with PostGIS,
# and the optional extras named in $GRIDGEO_EXTRA_DEBS (e.g. chromium for browser tests).
# As root it runs apt-get; otherwise it prints the exact sudo line and stops.
set -euo pipefail

need=()
pg_bindir=""
for d in /usr/lib/postgresql/*/bin; do
  [ -x "$d/pg_ctl" ] && pg_bindir="$d"
done
if [ -z "$pg_bindir" ] && ! command -v pg_ctl >/dev/null 2>&1; then
  need+=(postgresql)
fi
if [ -n "$pg_bindir" ]; then
  sharedir=$("$pg_bindir/pg_config" --sharedir 2>/dev/null || true)
  major=$(basename "$(dirname "$pg_bindir")")
  if [ -z "$sharedir" ] || [ ! -f "$sharedir/extension/postgis.control" ]; then
    need+=("postgresql-$major-postgis-3")
  fi
else
  need+=(postgresql-postgis)
fi
if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
  need+=(python3-venv)
fi
for pkg in ${GRIDGEO_EXTRA_DEBS:-}; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done

if [ ${#need[@]} -eq 0 ]; then
  echo "system packages: PostgreSQL + PostGIS present${GRIDGEO_EXTRA_DEBS:+, $GRIDGEO_EXTRA_DEBS present}"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "gridgeo needs these Debian packages: ${need[*]}" >&2
  echo "Run:  sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The Debian postgresql package would start a system cluster; gridgeo runs its own instance,
# so tell invoke-rc.d not to start services during this install.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
[ "$created_policy" -eq 1 ] && rm -f "$policy"
echo "installed: ${need[*]}"
