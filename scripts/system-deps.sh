#!/usr/bin/env bash
# Install the Debian packages minqing-map needs, only those that are missing.
# As root: apt-get update + apt-get install. Otherwise: print exactly what to install and fail.
# Usage: scripts/system-deps.sh [--bench]
set -euo pipefail

need=()
have_file() { [ -e "$1" ]; }
have_file /usr/lib/postgresql/15/bin/postgres                    || need+=(postgresql-15)
have_file /usr/share/postgresql/15/extension/postgis.control     || need+=(postgresql-15-postgis-3)
have_file /usr/bin/chromium                                      || need+=(chromium)
have_file /usr/bin/chromedriver                                  || need+=(chromium-driver)
ls /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc >/dev/null 2>&1 || need+=(fonts-noto-cjk)
command -v npm >/dev/null 2>&1                                   || need+=(npm)
if [ "${1:-}" = "--bench" ]; then
  have_file /usr/share/postgresql/15/extension/pgrouting.control || need+=(postgresql-15-pgrouting)
  command -v wrk >/dev/null 2>&1                                 || need+=(wrk)
fi

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  echo "minqing: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
else
  echo "minqing: these Debian packages are missing. Ask an administrator to run:" >&2
  echo "    sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  echo "or set DATABASE_URL to an existing PostgreSQL 15 + PostGIS 3 server." >&2
  exit 1
fi
