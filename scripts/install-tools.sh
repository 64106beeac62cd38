#!/usr/bin/env bash
# Installs the system tools the end-to-end tests use, when missing: Prometheus and promtool
# (Debian's prometheus), Alertmanager and amtool (prometheus-alertmanager).
# Needs root for apt-get; without it, says what to install and leaves the tests to skip.
set -euo pipefail

packages=()
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
command -v amtool >/dev/null 2>&1 || packages+=(prometheus-alertmanager)
[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing: ${packages[*]} (Debian packages); tests needing them will skip" >&2
  exit 0
fi
echo "installing ${packages[*]} (apt-get)..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
