#!/usr/bin/env bash
# Authenticated read throughput: the reference (distribution 2.8.2) and berth side by side on
# loopback, with the same htpasswd file (bcrypt cost 10) and equivalent configs, measured
# with ApacheBench for a manifest GET by tag and a blob HEAD, with and without auth.
# Prints numbers only; asserts nothing about speed. See bench/README.md.
#   usage: bench/htpasswd.sh [--reference-only]
# Environment: BERTH, REFERENCE_BIN (as in tests/e2e/lib.sh), BENCH_SECS (seconds per
# measurement, default 5), BENCH_ROUNDS (measurements per registry and request, default 2),
# BENCH_CONC (ab -c, default 16), BENCH_COST (bcrypt cost, default 10), BENCH_MODES ("auth
# open" by default; "open" alone skips auth), BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# lib.sh: free_port, start_registry_config, stop_pid, header_of, sha (no e2e_init: no test
# results, no mount namespace; nothing here uses the containers tools).
source "$BENCH_DIR/../tests/e2e/lib.sh"

REF_ONLY=0
case ${1:-} in
  --reference-only) REF_ONLY=1 ;;
  "") ;;
  *) echo "usage: $0 [--reference-only]" >&2; exit 2 ;;
esac
SECS=${BENCH_SECS:-5}
ROUNDS=${BENCH_ROUNDS:-2}
CONC=${BENCH_CONC:-16}
COST=${BENCH_COST:-10}
read -r -a MODES <<<"${BENCH_MODES:-auth open}"
BUSER=bench
PASS=bench-password
REPO=bench/img

for tool in ab htpasswd curl jq python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install apache2-utils curl jq)" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")
: >"$WORK/pids"
cleanup() {
  local pid
  set +e
  for pid in $(tac "$WORK/pids"); do stop_pid "$pid"; done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export CURL_HOME=$WORK
printf 'max-time = 30\nconnect-timeout = 10\n' >"$WORK/.curlrc"

KINDS=(reference)
[ "$REF_ONLY" = 1 ] || KINDS+=(berth)

htpasswd -nbB -C "$COST" "$BUSER" "$PASS" | sed '/^$/d' >"$WORK/htpasswd"

# ---------------------------------------------------------------- registries

# start KIND MODE: MODE auth (auth.htpasswd) or open; sets URL_<KIND>_<MODE>.
start() {
  local kind=$1 mode=$2 port cfg auth=""
  port=$(free_port)
  cfg=$WORK/$kind-$mode.yml
  [ "$mode" = auth ] && auth="auth:
  htpasswd:
    realm: bench
    path: $WORK/htpasswd"
  cat >"$cfg" <<EOF
version: 0.1
log:
  level: error
http:
  addr: 127.0.0.1:$port
$auth
storage:
  filesystem:
    rootdirectory: $WORK/root-$kind-$mode
EOF
  if ! start_registry_config "$kind" "$cfg" http "$port" >/dev/null; then
    echo "$kind ($mode) did not start; with berth not ready for this config yet, run $0 --reference-only" >&2
    exit 1
  fi
  printf -v "URL_${kind}_$mode" '%s' "$REG_URL"
}

# push URL CURL_AUTH...: one small docker schema2 image (config + one 64 KiB layer) as
# $REPO:v1, with plain monolithic uploads.
push_blob() {
  local url=$1 file=$2 loc digest
  shift 2
  digest=$(sha "$file")
  loc=$(curl -s -D - -o /dev/null -X POST "$@" "$url/v2/$REPO/blobs/uploads/" | header_of /dev/stdin Location)
  [[ $loc == http* ]] || loc=$url$loc
  [[ $loc == *\?* ]] && loc="$loc&digest=$digest" || loc="$loc?digest=$digest"
  curl -sf -o /dev/null -X PUT "$@" -H 'Content-Type: application/octet-stream' \
    --data-binary @"$file" "$loc"
  echo "$digest"
}

make_image() {
  head -c 65536 /dev/urandom | gzip -1 >"$WORK/layer.gz"
  printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
    "sha256:$(gzip -dc "$WORK/layer.gz" | sha256sum | cut -d' ' -f1)" >"$WORK/config.json"
}

push_image() {
  local url=$1 cfg layer
  shift
  cfg=$(push_blob "$url" "$WORK/config.json" "$@")
  layer=$(push_blob "$url" "$WORK/layer.gz" "$@")
  jq -cn --arg c "$cfg" --arg l "$layer" --argjson cs "$(wc -c <"$WORK/config.json")" \
    --argjson ls "$(wc -c <"$WORK/layer.gz")" '{schemaVersion: 2,
      mediaType: "application/vnd.docker.distribution.manifest.v2+json",
      config: {mediaType: "application/vnd.docker.container.image.v1+json", size: $cs, digest: $c},
      layers: [{mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: $ls, digest: $l}]}' \
    >"$WORK/manifest.json"
  curl -sf -o /dev/null -X PUT "$@" -H "Content-Type: $V2S2_MANIFEST" \
    --data-binary @"$WORK/manifest.json" "$url/v2/$REPO/manifests/v1"
  LAYER=$layer
}

# preflight URL CURL_AUTH...: the two measured requests answer 200 with the right digest.
preflight() {
  local url=$1 want got
  shift
  want=$(sha "$WORK/manifest.json")
  got=$(curl -s -o /dev/null -D - "$@" -H "Accept: $V2S2_MANIFEST" "$url/v2/$REPO/manifests/v1" |
    header_of /dev/stdin Docker-Content-Digest)
  [ "$got" = "$want" ] || { echo "preflight: manifest GET on $url gave digest '$got', want $want" >&2; exit 1; }
  got=$(curl -s -o /dev/null -w '%{http_code}' -I "$@" "$url/v2/$REPO/blobs/$LAYER")
  [ "$got" = 200 ] || { echo "preflight: blob HEAD on $url gave $got" >&2; exit 1; }
  if [ $# -gt 0 ]; then
    got=$(curl -s -o /dev/null -w '%{http_code}' "$url/v2/$REPO/manifests/v1")
    [ "$got" = 401 ] || { echo "preflight: $url answers $got without credentials, want 401" >&2; exit 1; }
  fi
}

make_image
for kind in "${KINDS[@]}"; do
  for mode in "${MODES[@]}"; do
    start "$kind" "$mode"
    var=URL_${kind}_$mode
    if [ "$mode" = auth ]; then
      push_image "${!var}" -u "$BUSER:$PASS"
      preflight "${!var}" -u "$BUSER:$PASS"
    else
      push_image "${!var}"
      preflight "${!var}"
    fi
  done
done

# ---------------------------------------------------------------- measurements

# run_ab OUT URL_PATH MODE REQ SECS: one ab run; REQ get (manifest GET) or head (blob HEAD).
run_ab() {
  local out=$1 url=$2 mode=$3 req=$4 secs=$5
  local -a args=(-k -r -c "$CONC" -t "$secs" -n 1000000)
  [ "$mode" = auth ] && args+=(-A "$BUSER:$PASS")
  if [ "$req" = head ]; then
    args+=(-i)
    url=$url/v2/$REPO/blobs/$LAYER
  else
    args+=(-H "Accept: $V2S2_MANIFEST")
    url=$url/v2/$REPO/manifests/v1
  fi
  ab "${args[@]}" "$url" >"$out" 2>&1 || true
}

# ab_field FILE: "rps p50 p99 non2xx failed keepalive complete" from ab's report.
ab_fields() {
  awk '
    /^Requests per second:/ { rps = $4 }
    /^Complete requests:/ { done = $3 }
    /^Failed requests:/ { failed = $3 }
    /^Non-2xx responses:/ { non2xx = $3 }
    /^Keep-Alive requests:/ { ka = $3 }
    /^ +50%/ { p50 = $2 }
    /^ +99%/ { p99 = $2 }
    END { printf "%s %s %s %s %s %s %s\n", rps+0, p50+0, p99+0, non2xx+0, failed+0, ka+0, done+0 }
  ' "$1"
}

ROWS=()
for mode in "${MODES[@]}"; do
  case $mode in
    auth | open) ROWS+=("manifest GET by tag|get|$mode" "blob HEAD|head|$mode") ;;
    *) echo "BENCH_MODES: unknown mode $mode (auth, open)" >&2; exit 2 ;;
  esac
done
declare -A RPS P50 P99 NOTE
total=$(( ${#ROWS[@]} * ${#KINDS[@]} * (1 + ROUNDS * SECS) ))
echo "# bcrypt cost $COST, ab -k -c $CONC, ${SECS}s x $ROUNDS rounds per registry and request," \
  "1 s warm-up; about ${total}s"
for row in "${ROWS[@]}"; do
  IFS='|' read -r label req mode <<<"$row"
  for kind in "${KINDS[@]}"; do
    var=URL_${kind}_$mode
    run_ab "$WORK/warm.txt" "${!var}" "$mode" "$req" 1
  done
  for ((r = 1; r <= ROUNDS; r++)); do
    for kind in "${KINDS[@]}"; do
      var=URL_${kind}_$mode
      out=$WORK/ab-$kind-$req-$mode-$r.txt
      run_ab "$out" "${!var}" "$mode" "$req" "$SECS"
      read -r rps p50 p99 non2xx failed ka complete <<<"$(ab_fields "$out")"
      key="$label|$mode|$kind"
      RPS[$key]="${RPS[$key]:-} $rps"
      P50[$key]="${P50[$key]:-} $p50"
      P99[$key]="${P99[$key]:-} $p99"
      if [ "$non2xx" != 0 ] || [ "$failed" != 0 ]; then
        NOTE[$key]="${NOTE[$key]:-}; $kind round $r: $non2xx non-2xx, $failed failed of $complete"
      fi
      if [ "$complete" != 0 ] && [ "$ka" -lt "$complete" ]; then
        NOTE[$key]="${NOTE[$key]:-}; $kind round $r: keep-alive $ka of $complete"
      fi
    done
  done
done

# mean of a list of numbers
mean() { tr ' ' '\n' <<<"$1" | awk 'NF { s += $1; n++ } END { if (n) printf "%.0f", s / n; else printf "-" }'; }

echo
printf '%-22s %-5s %12s %12s %12s %12s %8s\n' request auth "ref req/s" "ref p50/p99" "berth req/s" "berth p50/p99" "berth/ref"
for row in "${ROWS[@]}"; do
  IFS='|' read -r label req mode <<<"$row"
  rk="$label|$mode|reference" bk="$label|$mode|berth"
  ref=$(mean "${RPS[$rk]}")
  ref_lat="$(mean "${P50[$rk]}")/$(mean "${P99[$rk]}") ms"
  if [ "$REF_ONLY" = 1 ]; then
    ber=- ber_lat=- ratio=-
  else
    ber=$(mean "${RPS[$bk]}")
    ber_lat="$(mean "${P50[$bk]}")/$(mean "${P99[$bk]}") ms"
    ratio=$(awk -v b="$ber" -v r="$ref" 'BEGIN { if (r > 0) printf "%.2f", b / r; else print "-" }')
  fi
  printf '%-22s %-5s %12s %12s %12s %12s %8s\n' "$label" "$([ "$mode" = auth ] && echo yes || echo no)" \
    "$ref" "$ref_lat" "$ber" "$ber_lat" "$ratio"
done
for key in "${!NOTE[@]}"; do echo "note: $key${NOTE[$key]}"; done
