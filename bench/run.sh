#!/usr/bin/env bash
# berth next to the reference (CNCF distribution 2.8.2, Debian's docker-registry), side by
# side on loopback, same workload, same run: small requests (wrk/ab), large transfers
# (curl, python, skopeo), peak RSS, startup on a big store, garbage collection.
# Prints one table and writes BENCHMARKS.md. Asserts nothing about speed: it fails only when
# a registry does not start or a preflight/correctness check fails. See bench/README.md.
#   usage: bench/run.sh            (knobs in the environment, listed below and in the README)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
export DEBIAN_FRONTEND=noninteractive

# ---------------------------------------------------------------- knobs
# (kept in the environment so the re-exec in a private mount namespace below sees them)
SECS=${BENCH_SECS:-5}                  # seconds per small-request measurement
WARM=${BENCH_WARM:-1}                  # seconds of warm-up before each of them
ROUNDS=${BENCH_ROUNDS:-1}              # small-request measurements per registry and cell
read -r -a MODES <<<"${BENCH_MODES:-open htpasswd tls}"
read -r -a CONNS <<<"${BENCH_CONNS:-16 64}"
THREADS=${BENCH_WRK_THREADS:-2}        # wrk -t (see README: -t2 measured best on 2 cores)
COST=${BENCH_COST:-5}                  # bcrypt cost of the htpasswd entry (htpasswd -B: 5)
TAGS=${BENCH_TAGS:-10000}
REPOS=${BENCH_REPOS:-10000}
BIG_MIB=${BENCH_BIG_MIB:-1024}
CHUNK_MIB=${BENCH_CHUNK_MIB:-8}
LAYERS=${BENCH_LAYERS:-4}
LAYER_MIB=${BENCH_LAYER_MIB:-128}
BIG_ROUNDS=${BENCH_BIG_ROUNDS:-2}
BLOBS=${BENCH_BLOBS:-100000}
STARTUP_ROUNDS=${BENCH_STARTUP_ROUNDS:-3}
MANIFESTS=${BENCH_MANIFESTS:-10000}
GC_REPOS=${BENCH_GC_REPOS:-100}
ORPHANS=${BENCH_ORPHANS:-1000}
GC_ROUNDS=${BENCH_GC_ROUNDS:-2}
ONLY=${BENCH_ONLY:-small,large,startup,gc}
OUT=${BENCH_OUT:-$REPO/BENCHMARKS.md}
BERTH=${BERTH:-$REPO/target/release/berth}
REFERENCE_BIN=${REFERENCE_BIN:-/usr/bin/docker-registry}
export BERTH REFERENCE_BIN

want() { [[ ",$ONLY," == *",$1,"* ]]; }

# The command line as the user gave it (knobs included), for BENCHMARKS.md; computed before
# the re-exec below, which adds E2E_IN_NS.
if [ -z "${BENCH_CMDLINE:-}" ]; then
  BENCH_CMDLINE=$(
    for v in $(compgen -e | sort); do
      [[ $v == BENCH_* || $v == BERTH || $v == REFERENCE_BIN ]] && printf '%s=%q ' "$v" "${!v}"
    done
    printf 'bench/run.sh'
  )
  export BENCH_CMDLINE
fi

# ---------------------------------------------------------------- tools
# On a clean Debian 12 machine (as root) install what is missing, nothing else.
need=()
command -v "$REFERENCE_BIN" >/dev/null || need+=(docker-registry)
for t in wrk skopeo curl jq openssl python3; do command -v "$t" >/dev/null || need+=("$t"); done
{ command -v htpasswd >/dev/null && command -v ab >/dev/null; } || need+=(apache2-utils)
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "# installing ${need[*]}"
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${need[@]}"
    # The package starts a system registry on :5000 (all addresses) under systemd; the bench
    # starts its own on loopback only.
    if [[ " ${need[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null &&
      [ -d /run/systemd/system ]; then
      systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
    fi
  else
    echo "missing: ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
fi
if [ ! -x "$BERTH" ]; then
  echo "berth binary not found: $BERTH" >&2
  echo "build it first:  (cd $REPO && cargo build --release)   or set BERTH=/path/to/berth" >&2
  exit 1
fi

# lib.sh: free_port, start_registry_config (starts with no REGISTRY_* variables), stop_pid,
# track_pid/forget_pid, header_of, sha, e2e_private_ns. Not e2e_init: no test results here.
# shellcheck source=SCRIPTDIR/../tests/e2e/lib.sh
source "$REPO/tests/e2e/lib.sh"

# skopeo remembers where it pushed blobs in /var/lib/containers/cache and would then try
# cross-repository mounts instead of uploads; lib.sh re-runs this script in a private mount
# namespace with a tmpfs over that directory (as root; otherwise it warns and goes on).
if want large; then e2e_private_ns "$@"; fi

T_START=$EPOCHREALTIME
# The work dir is on disk (/var/tmp by default, not a tmpfs /tmp): the disk figures and the
# registries' roots must be on the same real disk.
WORK=$(mktemp -d "${BENCH_WORKDIR:-/var/tmp}/berth-bench.XXXXXX")
: >"$WORK/pids"
cleanup() {
  local rc=$? pid
  set +e
  trap '' INT TERM
  for pid in $(tac "$WORK/pids"); do stop_pid "$pid"; done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export CURL_HOME=$WORK
printf 'max-time = 600\nconnect-timeout = 10\n' >"$WORK/.curlrc"
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
KINDS=(reference berth)
ACCEPT="Accept: $V2S2_MANIFEST, $OCI_MANIFEST"
BUSER=bench
BPASS=bench-password
AUTH="Authorization: Basic $(printf '%s:%s' "$BUSER" "$BPASS" | base64 -w0)"

die() { echo "FAIL: $*" >&2; exit 1; }
log() { printf '# [%4.0fs] %s\n' "$(awk -v a="$T_START" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" "$*"; }

# record SECTION REQUEST MODE CONNS KIND ROUND UNIT VALUE [EXTRA_JSON]: one measurement.
record() {
  local extra='{}'
  [ -z "${9:-}" ] || extra=$9
  jq -cn --arg s "$1" --arg q "$2" --arg m "$3" --arg c "$4" --arg k "$5" --argjson r "$6" \
    --arg u "$7" --argjson v "$8" --argjson x "$extra" \
    '{section: $s, request: $q, mode: $m, conns: $c, kind: $k, round: $r, unit: $u, value: $v} + $x' \
    >>"$RESULTS"
}
note() { jq -cn --arg n "$*" '{note: $n}' >>"$RESULTS"; echo "# note: $*"; }
# elapsed T0: seconds since T0 (an $EPOCHREALTIME value)
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }'; }

# ---------------------------------------------------------------- registries

# write_config FILE PORT ROOT MODE: the same config for both registries. Both get
# storage.cache.blobdescriptor inmemory, as in the config.yml Debian and upstream ship.
write_config() {
  local file=$1 port=$2 root=$3 mode=$4
  {
    cat <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
http:
  addr: 127.0.0.1:$port
EOF
    if [ "$mode" = tls ]; then
      printf '  tls:\n    certificate: %s\n    key: %s\n' "$WORK/tls.pem" "$WORK/tls.key"
    fi
    if [ "$mode" = htpasswd ]; then
      printf 'auth:\n  htpasswd:\n    realm: bench\n    path: %s\n' "$WORK/htpasswd"
    fi
    cat <<EOF
storage:
  filesystem:
    rootdirectory: $root
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
catalog:
  maxentries: 1000
EOF
  } >"$file"
}

# start_server KIND MODE ROOT: sets URL_<kind> and PID_<kind>.
start_server() {
  local kind=$1 mode=$2 root=$3 port cfg scheme=http
  port=$(free_port)
  cfg=$WORK/$kind-$mode.yml
  write_config "$cfg" "$port" "$root" "$mode"
  [ "$mode" = tls ] && scheme=https
  start_registry_config "$kind" "$cfg" "$scheme" "$port" >/dev/null ||
    die "$kind did not start ($mode)"
  printf -v "URL_$kind" '%s' "$REG_URL"
  printf -v "PID_$kind" '%s' "$REG_PID"
  # the port accepts connections: wait for /v2/ to answer (401 with auth)
  local i code
  for ((i = 0; i < 300; i++)); do
    code=$(curl -sk -o /dev/null -w '%{http_code}' "$REG_URL/v2/" || true)
    [[ $code == 200 || $code == 401 ]] && return 0
    sleep 0.1
  done
  die "$kind ($mode) does not answer /v2/ on $REG_URL"
}

# stop_server KIND MODE: records the peak RSS (VmHWM) just before stopping the process.
stop_server() {
  local kind=$1 mode=$2 var=PID_$1 kb
  kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/${!var}/status" 2>/dev/null || echo 0)
  record rss "peak RSS" "$mode" - "$kind" 1 MiB "$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')"
  stop_pid "${!var}"
  forget_pid "${!var}"
}

# run_env CMD...: a registry command with no REGISTRY_* variables (the reference reads
# them as config overrides) and no AWS_CA_BUNDLE (it makes the reference's S3 code panic).
run_env() {
  local -a clean=(-u AWS_CA_BUNDLE)
  local v
  for v in $(compgen -e); do [[ $v == REGISTRY_* ]] && clean+=(-u "$v"); done
  env "${clean[@]}" "$@"
}

bin_of() { if [ "$1" = berth ]; then echo "$BERTH"; else echo "$REFERENCE_BIN"; fi; }

# ---------------------------------------------------------------- 1. small requests

# Request table: id|label|tool|method|path. wrk 4.1 (Debian) cannot do HEAD (it waits for
# the body the Content-Length announces), so the HEAD rows use ab -i (also keep-alive).
small_requests() {
  cat <<EOF
mget|manifest GET by tag|wrk|GET|/v2/bench/img/manifests/latest
mhead|manifest HEAD by tag|ab|HEAD|/v2/bench/img/manifests/latest
bhead|blob HEAD (layer, $LAYER_SIZE B)|ab|HEAD|/v2/bench/img/blobs/$LAYER
bget|blob GET (config, $CONFIG_SIZE B)|wrk|GET|/v2/bench/img/blobs/$CONFIG
tags|tags/list ($NTAGS tags)|wrk|GET|/v2/bench/img/tags/list
cat1|_catalog first page (no n)|wrk|GET|/v2/_catalog
walk|_catalog walk n=100 (cycled)|wrk|GET|-
EOF
}

# load TOOL METHOD URL CONNS SECS PATHS_FILE OUT: one load run; leaves one JSON line
# {rps, p50_ms, p99_ms, requests, non2xx, errors} in OUT.
load() {
  local tool=$1 method=$2 url=$3 conns=$4 secs=$5 paths=$6 out=$7
  local -a hdr=(-H "$ACCEPT")
  [ "$MODE" = htpasswd ] && hdr+=(-H "$AUTH")
  if [ "$tool" = wrk ]; then
    WRK_METHOD=$method WRK_PATHS=$paths wrk -t "$THREADS" -c "$conns" -d "${secs}s" \
      --timeout 30s --latency -s "$BENCH_DIR/wrk.lua" "${hdr[@]}" "$url" >"$out.raw" 2>&1 || true
    grep '^{' "$out.raw" | tail -1 |
      jq -c '{rps, p50_ms, p99_ms, requests, non2xx, errors: (.connect + .read + .write + .timeout)}' \
        >"$out" || die "wrk gave no result for $url; its output: $(tail -5 "$out.raw")"
  else
    ab -k -r -i -c "$conns" -t "$secs" -n 100000000 -s 30 "${hdr[@]}" "$url" >"$out.raw" 2>&1 || true
    awk '
      /^Requests per second:/ { rps = $4 }
      /^Complete requests:/ { done = $3 }
      /^Failed requests:/ { failed = $3 }
      /^Non-2xx responses:/ { non2xx = $3 }
      /^Keep-Alive requests:/ { ka = $3 }
      /^ +50%/ { p50 = $2 }
      /^ +99%/ { p99 = $2 }
      END { printf "{\"rps\":%s,\"p50_ms\":%s,\"p99_ms\":%s,\"requests\":%d,\"non2xx\":%d,\"errors\":%d,\"not_kept_alive\":%d}\n",
              rps + 0, p50 + 0, p99 + 0, done, non2xx, failed, done - ka }' "$out.raw" >"$out"
    [ "$(jq .requests "$out")" -gt 0 ] || die "ab gave no result for $url; its output: $(tail -5 "$out.raw")"
  fi
}

# quiesce: wait (up to 60 s) until both servers are idle (under 1 CPU tick per 0.2 s), so that
# work left over from the previous measurement does not fall into this one.
quiesce() {
  local i a b
  # shellcheck disable=SC2154 # PID_reference, PID_berth: set by start_server (printf -v)
  ticks() { cat "/proc/$PID_reference/stat" "/proc/$PID_berth/stat" 2>/dev/null | awk '{ s += $14 + $15 } END { print s + 0 }'; }
  a=$(ticks)
  for ((i = 0; i < 300; i++)); do
    sleep 0.2
    b=$(ticks)
    [ $((b - a)) -le 1 ] && return 0
    a=$b
  done
  note "a server was still busy 60 s after a measurement"
}

# curl_mode ARGS...: curl with the mode's credentials and TLS settings.
curl_mode() {
  local -a o=(-s)
  [ "$MODE" = tls ] && o+=(-k)
  [ "$MODE" = htpasswd ] && o+=(-H "$AUTH")
  curl "${o[@]}" "$@"
}

# preflight KIND: every measured request answers 200 with the expected content.
preflight() {
  local kind=$1 var=URL_$1 url got n
  url=${!var}
  got=$(curl_mode -o /dev/null -D - -H "$ACCEPT" "$url/v2/bench/img/manifests/latest" |
    header_of /dev/stdin Docker-Content-Digest)
  [ "$got" = "$MANIFEST" ] || die "$kind ($MODE): manifest GET gave digest '$got', want $MANIFEST"
  got=$(curl_mode -o /dev/null -I -w '%{http_code}' -H "$ACCEPT" "$url/v2/bench/img/manifests/latest")
  [ "$got" = 200 ] || die "$kind ($MODE): manifest HEAD answered $got"
  got=$(curl_mode -o /dev/null -I -w '%{http_code}' "$url/v2/bench/img/blobs/$LAYER")
  [ "$got" = 200 ] || die "$kind ($MODE): blob HEAD answered $got"
  got=$(curl_mode "$url/v2/bench/img/blobs/$CONFIG" | sha256sum | cut -d' ' -f1)
  [ "sha256:$got" = "$CONFIG" ] || die "$kind ($MODE): config blob GET gave other bytes"
  curl_mode -f "$url/v2/bench/img/tags/list" | jq -c .tags >"$WORK/tags-$kind"
  n=$(jq length "$WORK/tags-$kind")
  [ "$n" = "$NTAGS" ] || die "$kind ($MODE): tags/list has $n tags, want $NTAGS"
  curl_mode -f "$url/v2/_catalog" | jq -c .repositories >"$WORK/cat1-$kind"
  if [ ! -f "$WORK/walk-$kind.paths" ]; then
    # First mode: one full walk by one client, following the Link headers; it checks every
    # page, records the page URLs wrk then cycles through, and is timed (the page-by-page
    # cost a client sees; it is the "full walk, one client" row).
    local -a walk_args=("$url" "$WORK/walk-$kind.paths" "$WORK/walk-$kind.pages")
    [ "$MODE" = htpasswd ] && walk_args+=("${AUTH#Authorization: }")
    python3 "$BENCH_DIR/client.py" walk "${walk_args[@]}" >"$WORK/walk-$kind.json" ||
      die "$kind ($MODE): catalog walk failed"
    n=$(jq .repos "$WORK/walk-$kind.json")
    [ "$n" = "$NREPOS" ] || die "$kind ($MODE): the catalog walk gave $n repositories, want $NREPOS"
  else
    # Later modes serve the same store: the first and the last page URL answer as before.
    local p i=0
    for p in "$(head -1 "$WORK/walk-$kind.paths")" "$(tail -1 "$WORK/walk-$kind.paths")"; do
      i=$((i + 1))
      got=$(curl_mode -f "$url$p" | jq -r '.repositories | join(" ")')
      [ "$got" = "$(if [ $i = 1 ]; then head -1 "$WORK/walk-$kind.pages"; else tail -1 "$WORK/walk-$kind.pages"; fi)" ] ||
        die "$kind ($MODE): _catalog page $p differs from the first mode's walk"
    done
  fi
  if [ "$MODE" = htpasswd ]; then
    got=$(curl -s -o /dev/null -w '%{http_code}' "$url/v2/bench/img/manifests/latest")
    [ "$got" = 401 ] || die "$kind ($MODE): a request without credentials answered $got, want 401"
  fi
}

section_small() {
  log "small requests: generating the store ($TAGS tags, $REPOS repositories)"
  # One store, copied once: the reference gets the original, berth the copy. The three modes'
  # server processes reuse their registry's root (the small requests write nothing), since
  # on this kind of disk copying or removing 270 000 files and directories takes minutes.
  python3 "$BENCH_DIR/mkstore.py" small "$WORK/root-reference-small" "$TAGS" "$REPOS" >"$WORK/small.json"
  cp -a "$WORK/root-reference-small" "$WORK/root-berth-small"
  MANIFEST=$(jq -r .manifest "$WORK/small.json")
  CONFIG=$(jq -r .config "$WORK/small.json")
  LAYER=$(jq -r .layer "$WORK/small.json")
  CONFIG_SIZE=$(jq -r .config_size "$WORK/small.json")
  LAYER_SIZE=$(jq -r .layer_size "$WORK/small.json")
  NTAGS=$(jq -r .tags "$WORK/small.json")
  NREPOS=$(jq -r .repos "$WORK/small.json")
  htpasswd -Bbn -C "$COST" "$BUSER" "$BPASS" | sed '/^$/d' >"$WORK/htpasswd"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
    -keyout "$WORK/tls.key" -out "$WORK/tls.pem" 2>/dev/null

  local kind var r conns id label tool method path url paths out
  for MODE in "${MODES[@]}"; do
    case $MODE in open | htpasswd | tls) ;; *) die "BENCH_MODES: unknown mode $MODE" ;; esac
    for kind in "${KINDS[@]}"; do
      start_server "$kind" "$MODE" "$WORK/root-$kind-small"
      preflight "$kind"
    done
    # both registries give the same answers
    # the same set of tags; the order may differ (distribution 2.8 lists them in directory
    # order, unsorted)
    cmp -s <(jq -c sort "$WORK/tags-reference") <(jq -c sort "$WORK/tags-berth") ||
      die "($MODE) tags/list gives other tags on the two registries"
    cmp -s "$WORK/tags-reference" "$WORK/tags-berth" ||
      note "($MODE) tags/list: same tags, in another order (reference: directory order, berth: $(jq -e '. == sort' "$WORK/tags-berth" >/dev/null && echo sorted || echo unsorted))"
    cmp -s "$WORK/cat1-reference" "$WORK/cat1-berth" || die "($MODE) _catalog first page differs"
    cmp -s "$WORK/walk-reference.pages" "$WORK/walk-berth.pages" || die "($MODE) the _catalog pages differ"
    cmp -s "$WORK/walk-reference.paths" "$WORK/walk-berth.paths" ||
      note "($MODE) the _catalog Link URLs differ in form (the pages are the same)"
    CAT1_N=$(jq length "$WORK/cat1-reference")
    PAGES=$(jq .pages "$WORK/walk-reference.json")
    log "$MODE: both registries pass the preflight; measuring"
    while IFS='|' read -r id label tool method path; do
      [ "$id" = cat1 ] && label="_catalog first page (no n: $CAT1_N repos)"
      [ "$id" = walk ] && label="_catalog walk n=100 ($PAGES pages, cycled)"
      for conns in "${CONNS[@]}"; do
        for ((r = 1; r <= ROUNDS; r++)); do
          for kind in "${KINDS[@]}"; do
            var=URL_$kind
            url=${!var}$path paths=""
            if [ "$id" = walk ]; then url=${!var}/v2/_catalog paths=$WORK/walk-$kind.paths; fi
            out=$WORK/load-$id-$MODE-$conns-$kind-$r.json
            quiesce
            load "$tool" "$method" "$url" "$conns" "$WARM" "$paths" "$WORK/warm.json"
            load "$tool" "$method" "$url" "$conns" "$SECS" "$paths" "$out"
            record small "$label" "$MODE" "$conns" "$kind" "$r" rps "$(jq .rps "$out")" "$(cat "$out")"
            if [ "$(jq '.non2xx + .errors + (.not_kept_alive // 0)' "$out")" != 0 ]; then
              note "$label, $MODE, $conns conns, $kind round $r: $(jq -r '"\(.non2xx) status >= 400 (wrk) or non-2xx (ab), \(.errors) socket errors/failed, \(.not_kept_alive // 0) not kept alive, of \(.requests)"' "$out")"
            fi
          done
        done
      done
    done < <(small_requests)
    if [ -z "${WALKED:-}" ]; then
      # the timed walk of the first mode's preflight (see preflight)
      WALKED=1
      for kind in "${KINDS[@]}"; do
        record small "_catalog full walk, one client ($PAGES pages)" "$MODE" 1 "$kind" 1 s \
          "$(jq .seconds "$WORK/walk-$kind.json")"
      done
    fi
    for kind in "${KINDS[@]}"; do stop_server "$kind" "$MODE"; done
  done
  log "small requests: removing the stores"
  rm -rf "$WORK/root-reference-small" "$WORK/root-berth-small"
}

# ---------------------------------------------------------------- 2. large transfers

limits() {
  local sha dd_out
  # single-core SHA-256 (what a registry must do to every pushed byte), 16 KiB blocks
  sha=$(openssl speed -evp sha256 -bytes 16384 -seconds 3 2>/dev/null |
    awk '/^sha256/ { v = $NF; sub(/k$/, "", v); print v * 1000 / 1e6 }')
  # durable disk write on the work dir's disk
  dd_out=$(dd if=/dev/zero of="$WORK/dd.tmp" bs=8M count=128 conv=fdatasync 2>&1)
  rm -f "$WORK/dd.tmp"
  DISK=$(awk '/copied/ { for (i = 1; i <= NF; i++) if ($i ~ /^s,?$/) s = $(i-1); b = $1 } END { printf "%.0f", b / s / 1e6 }' <<<"$dd_out")
  SHA=$(printf '%.0f' "$sha")
  LIMIT=$SHA
  [ "$DISK" -lt "$LIMIT" ] && LIMIT=$DISK
  jq -cn --argjson s "$SHA" --argjson d "$DISK" --argjson l "$LIMIT" \
    '{limits: {sha256_mbs: $s, disk_mbs: $d, lower_mbs: $l}}' >>"$RESULTS"
  log "limits: SHA-256 one core $SHA MB/s, durable disk write $DISK MB/s"
}

# push_mono KIND URL REPO FILE DIGEST: POST, then one PUT ?digest= with the file streamed
# (curl -T); prints the seconds.
push_mono() {
  local kind=$1 url=$2 repo=$3 file=$4 digest=$5 loc t0 code
  t0=$EPOCHREALTIME
  loc=$(curl -s -D - -o /dev/null -X POST "$url/v2/$repo/blobs/uploads/" | header_of /dev/stdin Location)
  [[ $loc == http* ]] || loc=$url$loc
  [[ $loc == *\?* ]] && loc="$loc&digest=$digest" || loc="$loc?digest=$digest"
  code=$(curl -s -D "$WORK/put.hdr" -o /dev/null -w '%{http_code}' -T "$file" \
    -H 'Content-Type: application/octet-stream' "$loc")
  elapsed "$t0"
  [ "$code" = 201 ] || die "$kind: monolithic PUT answered $code"
  [ "$(header_of "$WORK/put.hdr" Docker-Content-Digest)" = "$digest" ] ||
    die "$kind: monolithic PUT gave Docker-Content-Digest '$(header_of "$WORK/put.hdr" Docker-Content-Digest)'"
}

mbs() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / s / 1e6 }'; }

skopeo_q() {
  timeout 1800 skopeo --policy "$WORK/policy.json" --tmpdir "$WORK/tmp" "$@" >"$WORK/skopeo.log" 2>&1 ||
    die "skopeo $*: $(tail -5 "$WORK/skopeo.log")"
}

section_large() {
  local kind var r m file digest secs bytes code got i oci md total out
  limits
  for kind in "${KINDS[@]}"; do
    mkdir -p "$WORK/root-$kind-large"
    start_server "$kind" large "$WORK/root-$kind-large"
  done
  bytes=$((BIG_MIB << 20))
  # Each round pushes new random bytes (a registry that already has a blob may skip the
  # work), the same file to both registries.
  for ((r = 1; r <= BIG_ROUNDS; r++)); do
    for m in mono chunked; do
      file=$WORK/big-$m.bin
      log "large: round $r, $m push of $BIG_MIB MiB"
      digest=$(python3 "$BENCH_DIR/mkstore.py" big "$file" "$BIG_MIB")
      for kind in "${KINDS[@]}"; do
        var=URL_$kind
        sync -f "$WORK"   # start each measurement with no write-back pending
        if [ "$m" = mono ]; then
          secs=$(push_mono "$kind" "${!var}" "big/$m$r" "$file" "$digest")
        else
          secs=$(python3 "$BENCH_DIR/client.py" chunked "${!var}" "big/$m$r" "$file" "$digest" "$CHUNK_MIB") ||
            die "$kind: chunked upload failed"
        fi
        record large "blob push, $BIG_MIB MiB, $([ "$m" = mono ] && echo monolithic || echo "chunked ${CHUNK_MIB} MiB PATCHes")" \
          open 1 "$kind" "$r" MB/s "$(mbs "$bytes" "$secs")"
      done
      if [ "$r" = 1 ] && [ "$m" = mono ]; then PULL_DIGEST=$digest; fi
      rm -f "$file"
    done
  done
  sync -f "$WORK"
  # pulls of the round-1 monolithic blob: first one unmeasured pull through sha256
  for kind in "${KINDS[@]}"; do
    var=URL_$kind
    got=$(curl -sf "${!var}/v2/big/mono1/blobs/$PULL_DIGEST" | openssl dgst -sha256 | awk '{ print $NF }')
    [ "sha256:$got" = "$PULL_DIGEST" ] || die "$kind: the pulled blob's bytes hash to sha256:$got"
  done
  for ((r = 1; r <= BIG_ROUNDS; r++)); do
    for kind in "${KINDS[@]}"; do
      var=URL_$kind
      t0=$EPOCHREALTIME
      read -r code got < <(curl -s -D "$WORK/get.hdr" -o /dev/null -w '%{http_code} %{size_download}\n' \
        "${!var}/v2/big/mono1/blobs/$PULL_DIGEST")
      secs=$(elapsed "$t0")
      if [ "$code" != 200 ] || [ "$got" != "$bytes" ]; then die "$kind: blob GET answered $code with $got bytes"; fi
      [ "$(header_of "$WORK/get.hdr" Docker-Content-Digest)" = "$PULL_DIGEST" ] ||
        die "$kind: blob GET gave Docker-Content-Digest '$(header_of "$WORK/get.hdr" Docker-Content-Digest)'"
      record large "blob pull, $BIG_MIB MiB (curl)" open 1 "$kind" "$r" MB/s "$(mbs "$bytes" "$secs")"
    done
  done
  # a multi-layer image with skopeo, new layers each round
  printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$WORK/policy.json"
  mkdir -p "$WORK/tmp"
  for ((r = 1; r <= BIG_ROUNDS; r++)); do
    oci=$WORK/oci
    log "large: round $r, skopeo image of $LAYERS x $LAYER_MIB MiB"
    md=$(python3 "$BENCH_DIR/mkstore.py" oci "$oci" "$LAYERS" "$LAYER_MIB")
    total=$(find "$oci/blobs" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
    sync -f "$WORK"
    for kind in "${KINDS[@]}"; do
      var=URL_$kind
      sync -f "$WORK"
      t0=$EPOCHREALTIME
      REGISTRY_AUTH_FILE=$WORK/none.json skopeo_q copy --preserve-digests --dest-tls-verify=false \
        "oci:$oci:1" "docker://${!var#http://}/multi:$r"
      secs=$(elapsed "$t0")
      record large "skopeo push, $LAYERS x $LAYER_MIB MiB layers" open 1 "$kind" "$r" MiB/s \
        "$(awk -v b="$total" -v s="$secs" 'BEGIN { printf "%.1f", b / s / 1048576 }')"
    done
    for kind in "${KINDS[@]}"; do
      var=URL_$kind
      out=$WORK/pulled-$kind
      sync -f "$WORK"
      t0=$EPOCHREALTIME
      REGISTRY_AUTH_FILE=$WORK/none.json skopeo_q copy --preserve-digests --src-tls-verify=false \
        "docker://${!var#http://}/multi:$r" "dir:$out"
      secs=$(elapsed "$t0")
      [ "$(sha "$out/manifest.json")" = "$md" ] || die "$kind: skopeo pulled another manifest"
      for d in $(jq -r '.config.digest, .layers[].digest' "$out/manifest.json"); do
        cmp -s "$out/${d#sha256:}" "$oci/blobs/sha256/${d#sha256:}" || die "$kind: skopeo pulled other bytes for $d"
      done
      record large "skopeo pull to dir:, $LAYERS x $LAYER_MIB MiB layers" open 1 "$kind" "$r" MiB/s \
        "$(awk -v b="$total" -v s="$secs" 'BEGIN { printf "%.1f", b / s / 1048576 }')"
      rm -rf "$out"
    done
    rm -rf "$oci"
  done
  for kind in "${KINDS[@]}"; do
    stop_server "$kind" large
    rm -rf "$WORK/root-$kind-large"
  done
}

# ---------------------------------------------------------------- 4. startup

section_startup() {
  local r kind root port secs
  log "startup: generating a store of $BLOBS blobs"
  # one copy per registry (the reference gets the original), reused by its rounds
  python3 "$BENCH_DIR/mkstore.py" startup "$WORK/root-startup-reference" "$BLOBS"
  cp -a "$WORK/root-startup-reference" "$WORK/root-startup-berth"
  sync -f "$WORK"
  for ((r = 1; r <= STARTUP_ROUNDS; r++)); do
    for kind in "${KINDS[@]}"; do
      root=$WORK/root-startup-$kind
      port=$(free_port)
      write_config "$WORK/startup.yml" "$port" "$root" open
      secs=$(python3 "$BENCH_DIR/client.py" startup "$(bin_of "$kind")" "$WORK/startup.yml" "$port") ||
        die "$kind did not start on the store of $BLOBS blobs"
      record startup "startup to first 200 on /v2/ ($BLOBS blobs)" open 1 "$kind" "$r" s "$secs"
    done
  done
  log "startup: removing the stores"
  rm -rf "$WORK/root-startup-reference" "$WORK/root-startup-berth"
}

# ---------------------------------------------------------------- 5. garbage collection

section_gc() {
  local per r kind root t0 secs n
  per=$(((MANIFESTS + GC_REPOS - 1) / GC_REPOS))
  log "gc: generating a store of $GC_REPOS x $per manifests, $ORPHANS unreferenced blobs"
  python3 "$BENCH_DIR/mkstore.py" gc "$WORK/store-gc" "$GC_REPOS" "$per" "$ORPHANS" >"$WORK/gc.json"
  for ((r = 1; r <= GC_ROUNDS; r++)); do
    for kind in "${KINDS[@]}"; do
      root=$WORK/root-gc-$kind
      cp -a "$WORK/store-gc" "$root"
      write_config "$WORK/gc.yml" "$(free_port)" "$root" open
      sync -f "$WORK"
      t0=$EPOCHREALTIME
      # Read-only, as the guides run it: berth then has no grace period to honour.
      run_env REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED=true "$(bin_of "$kind")" garbage-collect \
        --delete-untagged "$WORK/gc.yml" >/dev/null 2>"$WORK/gc.err" ||
        die "$kind garbage-collect failed: $(tail -5 "$WORK/gc.err")"
      secs=$(elapsed "$t0")
      record gc "garbage-collect --delete-untagged ($((GC_REPOS * per)) manifests)" open - "$kind" "$r" s "$secs"
      (cd "$root/docker/registry/v2/blobs" && find . -type f | sort) >"$WORK/gc-left-$kind"
      rm -rf "$root"
    done
    cmp -s "$WORK/gc-left-reference" "$WORK/gc-left-berth" ||
      die "gc round $r: the registries left different blob sets: $(diff "$WORK/gc-left-reference" "$WORK/gc-left-berth" | head -5)"
    n=$(wc -l <"$WORK/gc-left-berth")
    [ "$n" = "$(jq .blobs_kept_expected "$WORK/gc.json")" ] ||
      note "gc: both left $n blobs, the store's tagged manifests reference $(jq .blobs_kept_expected "$WORK/gc.json")"
  done
  rm -rf "$WORK/store-gc"
}

# ---------------------------------------------------------------- run

machine_json() {
  local df_line
  df_line=$(findmnt -n -T "$WORK" -o SOURCE,FSTYPE | awk '{ print $1 " (" $2 ")" }')
  jq -n --arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    --arg cores "$(nproc)" \
    --arg ram "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)" \
    --arg kernel "$(uname -srm)" --arg disk "$df_line, work dir ${BENCH_WORKDIR:-/var/tmp}" \
    --arg os "$(. /etc/os-release && echo "$PRETTY_NAME")" \
    --arg ref "$("$REFERENCE_BIN" --version 2>&1 | head -1)" \
    --arg berth "$("$BERTH" --version 2>&1 | head -1)" --arg berth_bin "$BERTH" \
    --arg cmd "$BENCH_CMDLINE" --arg date "$(date -u '+%Y-%m-%d %H:%M UTC')" \
    --arg wrk "$(wrk -v 2>&1 | head -1 | awk '{ print $1, $2 }')" \
    --arg settings "small requests: ${WARM} s warm-up + ${SECS} s, $ROUNDS round(s), wrk -t$THREADS, conns ${CONNS[*]}, bcrypt cost $COST; large: $BIG_ROUNDS rounds; startup: $STARTUP_ROUNDS rounds (median); gc: $GC_ROUNDS rounds (median)" \
    '{cpu: $cpu, cores: $cores, ram: $ram, kernel: $kernel, os: $os, disk: $disk,
      reference: $ref, berth: $berth, berth_bin: $berth_bin, command: $cmd, date: $date,
      wrk: $wrk, settings: $settings}'
}

machine_json >"$WORK/machine.json"
log "reference: $(jq -r .reference "$WORK/machine.json"); berth: $(jq -r .berth "$WORK/machine.json") ($BERTH)"
want small && section_small
want large && section_large
want startup && section_startup
want gc && section_gc
jq --arg w "$(elapsed "$T_START")" '. + {wall_seconds: ($w | tonumber)}' "$WORK/machine.json" >"$WORK/m.json"
python3 "$BENCH_DIR/report.py" "$RESULTS" "$WORK/m.json" "$OUT"
log "done; wrote $OUT"
