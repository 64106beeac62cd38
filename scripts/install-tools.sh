#!/usr/bin/env bash
# Installs the system tools the end-to-end tests use, when missing: promtool (Debian's prometheus).
# Needs root for apt-get; without it, prints what to install and leaves the tests to skip.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "promtool missing: install Debian's 'prometheus' package (tests needing it will skip)" >&2
  exit 0
fi
echo "installing promtool (apt-get install prometheus)..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool
