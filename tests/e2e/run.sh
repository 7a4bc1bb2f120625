#!/usr/bin/env bash
# Runs every end-to-end suite, continues after failures, prints each suite's result and one
# final "N passed, M failed" line; exits non-zero if anything failed.
#   usage: run.sh [berth|reference] [SUITE...]
#     KIND     the registry the client suites run against (default berth)
#     SUITE    any of: skopeo podman buildah docker compat tls_auth token seeds_env gc
#              stream acme admin admin_tools ui image lifecycle proxy (default: all seventeen; stream pushes a
#              2 GiB blob through berth, acme points http.tls.letsencrypt.directoryurl at a
#              loopback pebble, which the reference (2.8.2) has no key for, admin drives
#              berth's own cleanup commands, admin_tools its htpasswd and cert commands
#              (judged by the reference, apache's htpasswd, openssl and skopeo), ui its web
#              UI in headless Chromium, image builds the Dockerfile and pushes the image
#              into berth, lifecycle drives the tag routes, commands and retention, and proxy
#              runs berth as a pull-through cache of berth and of the reference: these
#              eight only run for KIND berth), or the name of
#              another tests/e2e/NAME.sh, which is run with KIND as its argument
#   E2E_STORAGE=s3: berth stores in a garage bucket (tests/e2e/lib.sh, storage_yaml) instead
#   of a directory, for the suites that start it with start_registry (skopeo podman buildah
#   docker: .ci/run runs them so, with s3).
#   compat.sh always runs berth and the reference against each other, and gc.sh always
#   collects with berth and compares with the reference's collector (both need $BERTH).
# E2E_SUITE_TIMEOUT (default 900 s) bounds each suite.
# Install the tools first with tests/e2e/deps.sh; build berth with cargo build --release
# (or set BERTH=/path/to/berth).
set -euo pipefail
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
KIND=${1:-berth}
shift || true
SUITES=("$@")
((${#SUITES[@]})) || SUITES=(skopeo podman buildah docker compat tls_auth token seeds_env gc)
if ((!$#)) && [ "$KIND" = berth ]; then SUITES+=(stream acme admin admin_tools ui image lifecycle proxy); fi

case $KIND in berth | reference) ;; *) echo "usage: run.sh [berth|reference] [SUITE...]" >&2; exit 2 ;; esac

LOGS=$(mktemp -d "${TMPDIR:-/tmp}/berth-e2e-logs.XXXXXX")
trap 'rm -rf "$LOGS"' EXIT

missing=()
for tool in skopeo podman buildah dockerd docker-registry curl jq python3 busybox unshare pebble; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "missing tools: ${missing[*]} (run tests/e2e/deps.sh)" >&2
fi

TOTAL_PASSED=0
TOTAL_FAILED=0
RESULTS=()

# run_suite NAME ARGS...: run one suite, its output prefixed with [NAME] so that only the
# final line of this script is a bare "N passed, M failed".
run_suite() {
  local name=$1 log=$LOGS/$1.log rc line p f
  shift
  echo "=== $name $*"
  set +e
  # A hung suite is stopped (its exit trap still cleans up) and counted as failed.
  timeout --kill-after=60 "${E2E_SUITE_TIMEOUT:-900}" "$E2E_DIR/$name.sh" "$@" 2>&1 |
    tee "$log" | sed -u "s/^/  [$name] /"
  rc=${PIPESTATUS[0]}
  set -e
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1 || true)
  if [ -n "$line" ]; then
    p=${line%% passed*}
    f=${line#*, }
    f=${f%% failed*}
  else
    p=0 f=0
  fi
  # A suite that died without a summary, or exited non-zero with none counted, is a failure.
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
  TOTAL_PASSED=$((TOTAL_PASSED + p))
  TOTAL_FAILED=$((TOTAL_FAILED + f))
  local skips
  skips=$(grep -E '^SKIP: ' "$log" | sed 's/^SKIP: /; skipped: /' | tr -d '\n' || true)
  RESULTS+=("$(printf '%-8s %s passed, %s failed (exit %s)%s' "$name" "$p" "$f" "$rc" "$skips")")
}

start=$SECONDS
for s in "${SUITES[@]}"; do
  case $s in
    compat) run_suite compat ;;
    *)
      if [ -x "$E2E_DIR/$s.sh" ]; then run_suite "$s" "$KIND"; else
        echo "unknown suite $s" >&2
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
      fi
      ;;
  esac
done

echo "=== results against $KIND on ${E2E_STORAGE:-filesystem} ($((SECONDS - start)) s)"
printf '  %s\n' "${RESULTS[@]}"
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
[ "$TOTAL_FAILED" = 0 ]
