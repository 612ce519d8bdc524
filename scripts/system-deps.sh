#!/usr/bin/env bash
# Install the Debian 12 packages minqing-map needs, only those that are missing.
#
# Usage: scripts/system-deps.sh [demo|test|bench|deploy] [--print]
#   demo  (default) python3 python3-venv npm fonts-noto-cjk fonts-wqy-zenhei, and postgresql-15
#         postgresql-15-postgis-3 for the local database; not when DATABASE_URL is set (in the
#         environment or in .env), because then an existing server is used.
#         (fonts-noto-cjk: Chinese in the browser pages; fonts-wqy-zenhei: the PNG maps and the PDF
#         report, which embeds its TrueType outlines; python3-venv: Debian's python3 cannot
#         `python3 -m venv` without it; pip comes into the venv through it, python3-pip is not needed.)
#   test  demo + chromium chromium-driver (the browser tests of the maps) and poppler-utils (the
#         PDF report's tests render it with pdftoppm and read it with pdftotext and pdffonts).
#   bench test + postgresql-15-pgrouting (local database only) and wrk.
#   deploy demo + nginx (the reverse proxy of docs/DEPLOY.md, config in scripts/nginx-minqing.conf).
#   --print  print the missing packages on one line (empty when none) and exit 0; install nothing.
#
# As root: apt-get update + apt-get install of what is missing. Otherwise: print exactly the
# apt-get command to run and exit 1. A package counts as present when dpkg-query reports it
# installed; npm also when an `npm` command exists (NodeSource's nodejs ships its own npm, which
# conflicts with Debian's). Only bash builtins besides dpkg-query and apt-get, so that the tests
# can run this script with a PATH of stubs.
set -euo pipefail

mode=demo
print_only=0
for arg in "$@"; do
  case "$arg" in
    demo|test|bench|deploy) mode=$arg ;;
    --bench) mode=bench ;;  # the old spelling
    --print) print_only=1 ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "minqing: unknown argument '$arg'; use: system-deps.sh [demo|test|bench|deploy] [--print]" >&2; exit 2 ;;
  esac
done

root_dir=${BASH_SOURCE[0]%/*}/..

external_database() {
  [ -n "${DATABASE_URL:-}" ] && return 0
  [ -r "$root_dir/.env" ] || return 1
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    [[ $line == DATABASE_URL=?* ]] && return 0
  done < "$root_dir/.env"
  return 1
}

installed() {
  local status
  status=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) || return 1
  [ "$status" = installed ]
}

wanted=(python3 python3-venv npm fonts-noto-cjk fonts-wqy-zenhei)
external_database || wanted+=(postgresql-15 postgresql-15-postgis-3)
case "$mode" in
  test)  wanted+=(chromium chromium-driver poppler-utils) ;;
  deploy) wanted+=(nginx) ;;
  bench) wanted+=(chromium chromium-driver poppler-utils wrk)
         external_database || wanted+=(postgresql-15-pgrouting) ;;
esac

need=()
for pkg in "${wanted[@]}"; do
  installed "$pkg" && continue
  [ "$pkg" = npm ] && command -v npm >/dev/null 2>&1 && continue
  need+=("$pkg")
done

if [ "$print_only" -eq 1 ]; then
  echo "${need[*]}"
  exit 0
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$EUID" -eq 0 ]; then
  echo "minqing: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
else
  echo "minqing: these Debian packages are missing. Ask an administrator to run:" >&2
  echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
  if [[ " ${need[*]} " == *" postgresql-15"* ]]; then
    echo "or set DATABASE_URL to an existing PostgreSQL 15 + PostGIS 3 server (then no postgresql packages are needed)." >&2
  fi
  exit 1
fi
