#!/usr/bin/env bash
# One-time (and idempotent) set-up on a fresh Debian machine: system packages, pnpm, the
# workspace's dependencies, and a build. Safe to run again; it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need_apt+=(nats-server)
command -v zstd >/dev/null 2>&1 || need_apt+=(zstd)
# Headless Chromium for the console's browser tests (test/console.test.ts drives /usr/bin/chromium
# with playwright-core, which downloads no browser of its own).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} from Debian"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# promtool (test/observability.test.ts runs `promtool check metrics` on every process's
# /metrics, test/prometheus-rules.test.ts `promtool test rules`) and the prometheus server
# (test/prometheus-e2e.test.ts starts its own) ship in Debian's prometheus package. Its install
# would start the prometheus service through invoke-rc.d; a container has no init system and
# the tests run their own server, so when the machine has no policy-rc.d one that refuses every
# start stands in for the install.
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  echo "setup: installing promtool (Debian package prometheus)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  added_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
  fi
  [ ${#need_apt[@]} -gt 0 ] || $SUDO apt-get update -qq
  installed=""
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null && installed=1
  [ -z "$added_policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d
  [ -n "$installed" ] || { echo "setup: installing prometheus (for promtool) failed" >&2; exit 1; }
fi

# docker-compose (Debian's 1.29) validates deploy/compose/docker-compose.yml without a daemon in
# test/deploy-kit.test.ts (`docker-compose config -q`); openssl makes that test's TLS
# certificate. --no-install-recommends: the compose client only, not the docker.io engine.
need_deploy=()
command -v docker-compose >/dev/null 2>&1 || need_deploy+=(docker-compose)
command -v openssl >/dev/null 2>&1 || need_deploy+=(openssl)
if [ ${#need_deploy[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  for pkg in "${need_deploy[@]}"; do
    if [ -z "$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | grep -v '(none)')" ]; then
      echo "setup: Debian has no package $pkg here; the deploy kit test needs it" >&2
      exit 1
    fi
  done
  echo "setup: installing ${need_deploy[*]} from Debian"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_deploy[@]}" >/dev/null
fi

if ! command -v pnpm >/dev/null 2>&1; then
  echo "setup: installing pnpm"
  npm install -g pnpm@10 >/dev/null 2>&1
fi

# Native addons (zstd-napi) compile against the system's Node headers: no download.
[ -d /usr/include/node ] && export npm_config_nodedir=/usr
pnpm install --frozen-lockfile --reporter=silent
pnpm run --silent build
echo "setup: done"
