#!/usr/bin/env bash
# Installs the real Prometheus peers the tests run against (Debian packages), when we can:
# root with apt-get. Never starts their services: the tests start them on loopback themselves.
set -euo pipefail
# binary -> Debian package
declare -A peers=([prometheus]=prometheus [promtool]=prometheus [prometheus-node-exporter]=prometheus-node-exporter
  [wrk]=wrk [openssl]=openssl [prometheus-pushgateway]=prometheus-pushgateway [victoria-metrics]=victoria-metrics
  [redis-server]=redis-server)
missing=()
for binary in "${!peers[@]}"; do
  command -v "$binary" >/dev/null || missing+=("${peers[$binary]}")
done
# PostgreSQL's server binaries are not on PATH in Debian: they live in /usr/lib/postgresql/<version>/bin.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-peers: cannot install ${missing[*]} (need root and apt-get); tests needing them will skip, or fail under CI=true" >&2
  exit 0
fi
# Keep the packages' own services from starting on install.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
