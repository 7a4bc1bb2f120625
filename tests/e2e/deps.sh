#!/usr/bin/env bash
# Installs what the end-to-end suites need on a fresh Debian 12 machine.
# Idempotent and non-interactive: safe to run on every CI run.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

PKGS=(
  skopeo podman buildah          # containers/image clients
  docker.io containerd runc      # docker engine + CLI (dockerd from docker.io)
  docker-registry                # the reference: CNCF distribution 2.8.2
  busybox-static                 # the one static binary the test images carry
  curl jq python3 ca-certificates
  python3-yaml                   # image.sh reads the compose files' environments
  python3-cryptography           # token_server.py signs JWTs (token.sh)
  openssl apache2-utils          # test PKI; htpasswd (bcrypt entries) and ab (bench/)
  pebble                         # ACME test CA + pebble-challtestsrv (acme.sh)
  redis-server                   # tests/replicas.rs starts its own, on a free loopback port
  chromium chromium-driver python3-selenium  # headless browser for the web UI (ui.sh)
  uidmap fuse-overlayfs iptables # podman/buildah/dockerd helpers
  crun slirp4netns netavark aardvark-dns containernetworking-plugins
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "deps.sh: installing ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "deps.sh: all packages already installed"
fi

# The Debian package starts a registry service on :5000 when systemd runs; the suites
# start their own on free ports, so a running system instance is only in the way.
# Likewise Redis on :6379.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
  systemctl disable --now redis-server.service >/dev/null 2>&1 || true
fi

# garage, the S3-compatible store the S3 driver's tests run against (tests/support/garage.rs,
# tests/e2e/s3.sh): not packaged by Debian, so built from crates.io (about 14 min on 2 cores)
# into target/tools, where the tests look for it. Skipped when it is there already.
REPO_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GARAGE_ROOT=$REPO_ROOT/target/tools
if [ -x "$GARAGE_ROOT/bin/garage" ]; then
  echo "deps.sh: garage already installed in $GARAGE_ROOT"
else
  echo "deps.sh: installing garage 2.5.0 into $GARAGE_ROOT"
  cargo install garage --version 2.5.0 --locked --root "$GARAGE_ROOT" \
    --no-default-features --features bundled-libs,sqlite
fi
