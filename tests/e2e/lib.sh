# shellcheck shell=bash
# Shared helpers for the berth end-to-end suites. Source it, then call `e2e_init "$@"` first.
#
# Environment:
#   BERTH          berth binary (default: <repo>/target/release/berth)
#   REFERENCE_BIN  reference registry binary (default: /usr/bin/docker-registry)
#   DOCKER_BIN     docker CLI matching the private dockerd (default: /usr/bin/docker)
#   E2E_KEEP=1     keep the temp dir (logs, configs, roots) for debugging
#   E2E_CMD_TIMEOUT  seconds one client command may take (default 300): a hung registry
#                  fails a test instead of hanging the run
#   E2E_VERBOSE=1  show client output on the terminal

set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$E2E_DIR/../.." && pwd)
BERTH=${BERTH:-$REPO_ROOT/target/release/berth}
REFERENCE_BIN=${REFERENCE_BIN:-/usr/bin/docker-registry}
# /usr/local/bin may hold a newer static docker CLI; use the one that ships with dockerd.
DOCKER_BIN=${DOCKER_BIN:-/usr/bin/docker}

OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
OCI_INDEX=application/vnd.oci.image.index.v1+json
V2S2_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
V2S2_LIST=application/vnd.docker.distribution.manifest.list.v2+json
ALL_MANIFESTS="$OCI_MANIFEST, $OCI_INDEX, $V2S2_MANIFEST, $V2S2_LIST"

# Results and started processes live in files under WORK, not in variables, so that
# tests run in subshells (run_test) count and clean up like the main shell.
#   $WORK/results  one line per check: "ok", "FAIL" or "SKIP <reason>"
#   $WORK/pids     processes to stop on exit, one per line, in start order
E2E_DONE=0
WORK=""
E2E_FIXED_DIRS="/run/containers/networks /run/containers /run/docker/plugins /run/docker"
E2E_CMD_TIMEOUT=${E2E_CMD_TIMEOUT:-300}

# ---------------------------------------------------------------- setup and teardown

# e2e_init "$@": private mount namespace, temp dir, exit trap. Call first in every suite.
e2e_init() {
  e2e_private_ns "$@"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-e2e.XXXXXX")
  : >"$WORK/results"
  : >"$WORK/pids"
  # Empty directories podman (netavark) and dockerd create at fixed places whatever their
  # configuration says; removed on exit if they were not there before.
  local d
  for d in $E2E_FIXED_DIRS; do [ -e "$d" ] || echo "$d" >>"$WORK/made-dirs"; done
  trap e2e_exit EXIT
  trap 'exit 130' INT TERM
  # Isolate every containers/image tool (skopeo, podman, buildah) from the machine's config
  # and state: trust policy, auth file, storage.
  printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$WORK/policy.json"
  # podman push fails on a REGISTRY_AUTH_FILE that does not exist: start with no auths.
  export REGISTRY_AUTH_FILE=$WORK/auth.json
  echo '{"auths":{}}' >"$REGISTRY_AUTH_FILE"
  export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
  cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "vfs"
graphroot = "$WORK/containers/storage"
runroot = "$WORK/containers/run"
EOF
  # podman's own state (events log, network configs, tmp) goes to WORK, not /run.
  export CONTAINERS_CONF=$WORK/containers.conf
  cat >"$CONTAINERS_CONF" <<EOF
[engine]
tmp_dir = "$WORK/containers/libpod"
events_logger = "file"
events_logfile_path = "$WORK/containers/events.log"
[network]
network_config_dir = "$WORK/containers/networks"
EOF
  # An empty registries.conf: no search registries, no mirrors, nothing from /etc.
  export CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf
  echo 'unqualified-search-registries = []' >"$CONTAINERS_REGISTRIES_CONF"
  # Containers tools write big temp files under TMPDIR (/var/tmp by default): keep them in
  # WORK so they get removed.
  mkdir -p "$WORK/tmp"
  export TMPDIR=$WORK/tmp
  # Every curl gets a time limit (a flag on the command line still wins).
  export CURL_HOME=$WORK
  printf 'max-time = %s\nconnect-timeout = 10\n' "$E2E_CMD_TIMEOUT" >"$WORK/.curlrc"
}

# containers/image keeps a blob-info cache (for root: /var/lib/containers/cache, no env var
# moves it) that remembers where blobs were pushed and makes skopeo/podman/buildah try
# cross-repository mounts instead of uploads. Re-run the suite in a private mount namespace
# with a tmpfs over that directory so each suite run starts with an empty cache.
e2e_private_ns() {
  [ "${E2E_IN_NS:-}" = 1 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
     unshare --mount --propagation private true 2>/dev/null; then
    mkdir -p /var/lib/containers/cache
    export E2E_IN_NS=1
    exec unshare --mount --propagation private -- bash -c \
      'mount -t tmpfs e2e-blob-info-cache /var/lib/containers/cache && exec bash "$@"' \
      bash "$0" "$@"
  fi
  echo "WARNING: cannot unshare a mount namespace; the blob-info cache is not hidden" >&2
}

e2e_exit() {
  local rc=$?
  set +e
  trap '' INT TERM   # a second signal must not cut the cleanup short
  [ -n "$WORK" ] && [ -d "$WORK" ] || exit "$rc"
  if [ "$E2E_DONE" != 1 ]; then
    not_ok "suite aborted (exit code $rc) before its end; see output above"
  fi
  local pid
  for pid in $(tac "$WORK/pids"); do stop_pid "$pid"; done
  local passed failed
  passed=$(grep -c '^ok$' "$WORK/results")
  failed=$(grep -c '^FAIL$' "$WORK/results")
  grep '^SKIP ' "$WORK/results" | sed 's/^SKIP /SKIP: /'
  local d
  [ -f "$WORK/made-dirs" ] && while read -r d; do rmdir "$d" 2>/dev/null; done <"$WORK/made-dirs"
  if [ "${E2E_KEEP:-0}" = 1 ]; then
    echo "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ] && exit 0 || exit 1
}

# run_test FN ARGS...: one test in a subshell with errexit on. A failing step (a push that
# errors out, say) ends that test, counted as one failure, and the suite goes on with the
# next test. (Not `( ... ) || ...`: errexit is off inside a || list.)
run_test() {
  local rc
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  set -e
  [ "$rc" = 0 ] || not_ok "$1 aborted (exit code $rc); see output above"
}

# e2e_done: the suite reached its end (anything else is an abort, counted as a failure).
e2e_done() { E2E_DONE=1; }

# stop_pid PID: SIGTERM, wait up to 15 s, then SIGKILL. Only ever our own PIDs.
stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true   # its exit status (143 after SIGTERM) is not ours
  return 0
}

track_pid() { echo "$1" >>"$WORK/pids"; }

forget_pid() {
  local rest
  rest=$(grep -vx "$1" "$WORK/pids" || true)
  printf '%s\n' "$rest" | sed '/^$/d' >"$WORK/pids"
}

# ---------------------------------------------------------------- results

ok() { echo ok >>"$WORK/results"; echo "ok   - $1"; }
not_ok() { echo FAIL >>"$WORK/results"; echo "FAIL - $1"; }

# check NAME EXPECTED ACTUAL: string equality.
check() {
  if [ "$2" == "$3" ]; then
    ok "$1"
  else
    not_ok "$1"
    printf '       expected: %s\n       actual:   %s\n' "$2" "$3"
  fi
}

# check_cmd NAME CMD...: passes when CMD succeeds (for predicates like cmp, grep).
check_cmd() {
  local name=$1
  shift
  if "$@" >"$WORK/check.out" 2>&1; then ok "$name"; else
    not_ok "$name"
    sed 's/^/       /' "$WORK/check.out" | tail -5
  fi
}

# check_fails NAME CMD...: passes when CMD fails.
check_fails() {
  local name=$1
  shift
  if "$@" >"$WORK/check.out" 2>&1; then
    not_ok "$name (command succeeded)"
  else ok "$name"; fi
}

skip() { echo "SKIP $1" >>"$WORK/results"; echo "SKIP - $1"; }

section() { echo "# $*"; }

# quiet CMD...: run a client, output to a log (shown on failure or with E2E_VERBOSE=1).
quiet() {
  local log=$WORK/cmd.log
  if [ "${E2E_VERBOSE:-0}" = 1 ]; then "$@" 2>&1 | tee "$log"; return "${PIPESTATUS[0]}"; fi
  if "$@" >"$log" 2>&1; then return 0; else
    local rc=$?
    echo "  command failed ($rc): $*" >&2
    tail -15 "$log" | sed 's/^/    /' >&2
    return "$rc"
  fi
}

# ---------------------------------------------------------------- registries

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_http URL SECONDS [PID]: until URL answers 2xx; gives up early if PID died.
wait_http() {
  local url=$1 secs=$2 pid=${3:-} i
  for ((i = 0; i < secs * 10; i++)); do
    curl -sf -o /dev/null --max-time 2 "$url" && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

registry_bin() {
  case $1 in
    berth) echo "$BERTH" ;;
    reference) echo "$REFERENCE_BIN" ;;
    *) echo "unknown registry kind '$1' (berth|reference)" >&2; return 1 ;;
  esac
}

# ---------------------------------------------------------------- S3 (garage)

GARAGE=${GARAGE:-$(command -v garage || echo "$REPO_ROOT/target/tools/bin/garage")}
S3_ACCESS=GK0123456789abcdef01234567
S3_SECRET=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
S3_BUCKET=berth-e2e
GARAGE_PID=

# start_garage: a single-node garage with the bucket, S3 on 127.0.0.1:$S3_PORT; once per
# suite (a second call does nothing).
start_garage() {
  [ -n "$GARAGE_PID" ] && return 0
  local dir=$WORK/garage rpc admin
  mkdir -p "$dir"
  rpc=$(free_port) S3_PORT=$(free_port) admin=$(free_port)
  cat >"$dir/garage.toml" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "3c2f6b1d8e9a7c4b5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.localhost"
[admin]
api_bind_addr = "127.0.0.1:$admin"
admin_token = "e2e-admin-token"
EOF
  chmod 600 "$dir/garage.toml"
  GARAGE_DEFAULT_ACCESS_KEY=$S3_ACCESS GARAGE_DEFAULT_SECRET_KEY=$S3_SECRET \
    GARAGE_DEFAULT_BUCKET=$S3_BUCKET \
    "$GARAGE" -c "$dir/garage.toml" server --single-node --default-bucket >"$dir/log" 2>&1 &
  GARAGE_PID=$!
  track_pid "$GARAGE_PID"
  wait_http "http://127.0.0.1:$admin/health" 30 "$GARAGE_PID" || { tail -20 "$dir/log" >&2; return 1; }
  echo "# garage on 127.0.0.1:$S3_PORT (pid $GARAGE_PID)"
}

# s3_storage_yaml ROOTDIRECTORY: the `s3:` block of a storage section (indented for it) for
# the garage of start_garage, below ROOTDIRECTORY in the bucket.
s3_storage_yaml() {
  cat <<EOF
  s3:
    region: garage
    regionendpoint: http://127.0.0.1:$S3_PORT
    forcepathstyle: true
    bucket: $S3_BUCKET
    accesskey: $S3_ACCESS
    secretkey: $S3_SECRET
    secure: false
    rootdirectory: $1
EOF
}

# storage_yaml KIND ROOTDIR: the storage driver block of start_registry. With
# E2E_STORAGE=s3, berth stores in garage (started beforehand by the suite's first
# start_registry) below ROOTDIR, so the client suites drive the S3 driver as they drive
# the filesystem one; blob reads then redirect the clients to the bucket, as
# distribution's S3 setups do.
storage_yaml() {
  if [ "${E2E_STORAGE:-filesystem}" = s3 ] && [ "$1" = berth ]; then
    s3_storage_yaml "$2"
  else
    printf '  filesystem:\n    rootdirectory: %s\n' "$2"
  fi
}

# verify_pushed_images LABEL OUTDIR: the test images pushed as e2e/oci:v1,v2 (OCI),
# e2e/v2s2:v1 (docker schema2) and e2e/multi:latest (the index) are served byte for byte
# by the registry at $REG, pulled with skopeo into OUTDIR. compat.sh and s3.sh share it.
verify_pushed_images() {
  local p=$1 out=$2
  verify_manifest "$p oci" e2e/oci v1 "$IMG_AMD64_MANIFEST" "$OCI_MANIFEST"
  # shellcheck disable=SC2086
  verify_blobs "$p oci" e2e/oci "$IMG_AMD64_CONFIG" $IMG_AMD64_LAYERS
  quiet sk copy --src-tls-verify=false --dest-tls-verify=false "docker://$REG/e2e/oci:v2" "oci:$out:v2"
  verify_oci_copy "$p oci pull" "$out" v2 "$IMG_OCI" "$IMG_AMD64_MANIFEST"
  verify_manifest "$p v2s2" e2e/v2s2 v1 "$IMG_V2S2_MANIFEST" "$V2S2_MANIFEST"
  quiet sk copy --src-tls-verify=false --dest-tls-verify=false "docker://$REG/e2e/v2s2:v1" "dir:$out-v2s2"
  verify_dir_copy "$p v2s2 pull" "$out-v2s2" "$IMG_V2S2"
  verify_index "$p multi" e2e/multi latest
}

# start_registry KIND ROOTDIR: writes a config, starts `BIN serve CONFIG`, waits for /v2/.
# Sets REG_PID, REG_PORT, REG (host:port for clients) and REG_URL (http://host:port).
start_registry() {
  local kind=$1 root=$2 bin cfg log
  bin=$(registry_bin "$kind")
  if [ ! -x "$bin" ]; then
    echo "registry binary for '$kind' not found or not executable: $bin" >&2
    [ "$kind" = berth ] && echo "build it (cargo build --release) or set BERTH=/path/to/berth" >&2
    return 1
  fi
  mkdir -p "$root"
  REG_PORT=$(free_port)
  cfg=$WORK/$kind-$REG_PORT.yml
  log=$WORK/$kind-$REG_PORT.log
  if [ "${E2E_STORAGE:-filesystem}" = s3 ] && [ "$kind" = berth ]; then start_garage; fi
  cat >"$cfg" <<EOF
version: 0.1
log:
  level: info
http:
  addr: 127.0.0.1:$REG_PORT
storage:
$(storage_yaml "$kind" "$root")
  delete:
    enabled: true
EOF
  # The reference reads REGISTRY_<SECTION>_<KEY> environment variables as config overrides,
  # so REGISTRY_AUTH_FILE (set above for the containers tools) would break its config:
  # start registries without any REGISTRY_* variable. AWS_CA_BUNDLE (exported in this
  # environment) makes the reference's S3 code panic.
  local -a clean_env=(-u AWS_CA_BUNDLE)
  local v
  for v in $(compgen -e); do [[ $v == REGISTRY_* ]] && clean_env+=(-u "$v"); done
  env "${clean_env[@]}" "$bin" serve "$cfg" >"$log" 2>&1 &
  REG_PID=$!
  track_pid "$REG_PID"
  REG=127.0.0.1:$REG_PORT
  REG_URL=http://$REG
  if ! wait_http "$REG_URL/v2/" 30 "$REG_PID"; then
    echo "$kind registry did not answer on $REG_URL/v2/; log:" >&2
    tail -20 "$log" | sed 's/^/    /' >&2
    return 1
  fi
  echo "# $kind registry on $REG (pid $REG_PID, root $root)"
}

# stop_registry [PID]: default the last started one.
stop_registry() {
  local pid=${1:-$REG_PID}
  stop_pid "$pid"
  forget_pid "$pid"
}

# ---------------------------------------------------------------- registry API via curl

# manifest_get REPO REF OUTFILE: GET the manifest with every Accept type; prints
# "STATUS DIGEST CONTENT_TYPE" (Docker-Content-Digest header, Content-Type header).
manifest_get() {
  local repo=$1 ref=$2 out=$3 hdr=$WORK/hdr.txt status
  status=$(curl -s -o "$out" -D "$hdr" -w '%{http_code}' -H "Accept: $ALL_MANIFESTS" \
    "$REG_URL/v2/$repo/manifests/$ref")
  echo "$status $(header_of "$hdr" Docker-Content-Digest) $(header_of "$hdr" Content-Type)"
}

# header_of FILE NAME: a response header's value (case-insensitive name, no CR).
header_of() {
  awk -v n="$2" -F': ' \
    'tolower($1) == tolower(n) { sub(/\r$/, "", $2); v = $2 } END { print v }' "$1"
}

# http_status METHOD URL: the status code alone.
http_status() {
  local m=(-X "$1")
  # -X HEAD would make curl wait for a body that never comes; -I is a real HEAD.
  [ "$1" = HEAD ] && m=(-I)
  curl -s -o /dev/null -w '%{http_code}' --max-time 30 "${m[@]}" -H "Accept: $ALL_MANIFESTS" "$2"
}

# blob_get REPO DIGEST OUTFILE: GET a blob (following redirects); prints the status.
blob_get() {
  curl -sL -o "$3" -w '%{http_code}' "$REG_URL/v2/$1/blobs/$2"
}

# sha FILE: "sha256:<hex>" of a file.
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# gunzip_sha FILE: digest of the decompressed bytes (a layer's diff_id).
gunzip_sha() { echo "sha256:$(gzip -dc "$1" | sha256sum | cut -d' ' -f1)"; }

# tags_of REPO: the tags/list "tags" array as one line of JSON (null stays null).
tags_of() { curl -sf "$REG_URL/v2/$1/tags/list" | jq -c '.tags'; }

# ---------------------------------------------------------------- test images

# make_test_images DIR: fresh random images in an OCI layout (see mkimages.py), plus
#   DIR/v2s2    the amd64 image as a docker schema2 image, in a skopeo dir: layout
# and sets IMG_* variables with the expected digests.
# shellcheck disable=SC2034 # the IMG_* variables are for the suites
make_test_images() {
  local dir=$1
  python3 "$E2E_DIR/mkimages.py" "$dir/oci"
  quiet sk copy --format v2s2 \
    "oci:$dir/oci:amd64" "dir:$dir/v2s2"
  IMG_OCI=$dir/oci
  IMG_V2S2=$dir/v2s2
  local j=$dir/oci/images.json
  IMG_AMD64_MANIFEST=$(jq -r .amd64.manifest "$j")
  IMG_AMD64_CONFIG=$(jq -r .amd64.config "$j")
  IMG_AMD64_LAYERS=$(jq -r '.amd64.layers | join(" ")' "$j")
  IMG_AMD64_DIFF_IDS=$(jq -c .amd64.diff_ids "$j")
  IMG_ARM64_MANIFEST=$(jq -r .arm64.manifest "$j")
  IMG_ARM64_CONFIG=$(jq -r .arm64.config "$j")
  IMG_ARM64_LAYERS=$(jq -r '.arm64.layers | join(" ")' "$j")
  IMG_ARM64_DIFF_IDS=$(jq -c .arm64.diff_ids "$j")
  IMG_INDEX=$(jq -r .index "$j")
  IMG_V2S2_MANIFEST=$(sha "$dir/v2s2/manifest.json")
}

# make_archive TRANSPORT DIR NAME:TAG: the amd64 image as a single tar file, TRANSPORT
# docker-archive (what `docker save` writes) or oci-archive; prints the file's path.
make_archive() {
  local file=$2/$1.tar
  quiet sk copy "oci:$IMG_OCI:amd64" "$1:$file:$3"
  echo "$file"
}

# oci_blob LAYOUT DIGEST: path of a blob in an OCI layout.
oci_blob() { echo "$1/blobs/sha256/${2#sha256:}"; }

# ---------------------------------------------------------------- clients

# skopeo with a private trust policy and a temp dir inside WORK. Clients run under
# `timeout` (which runs the binary, not these functions).
sk() { timeout "$E2E_CMD_TIMEOUT" skopeo --policy "$WORK/policy.json" --tmpdir "$WORK/tmp" "$@"; }
podman() { timeout "$E2E_CMD_TIMEOUT" podman "$@"; }
buildah() { timeout "$E2E_CMD_TIMEOUT" buildah "$@"; }

# ---------------------------------------------------------------- docker

# start_dockerd: a private dockerd (own data root, exec root, socket, no networking setup).
# Sets DOCKERD_PID and DOCKER_HOST. Returns 1 (with the reason on stderr) if it cannot start.
start_dockerd() {
  local d=$WORK/dockerd
  mkdir -p "$d/data" "$d/exec"
  # An empty daemon.json so /etc/docker/daemon.json (if any) is not read.
  echo '{}' >"$d/daemon.json"
  # vfs: works on any filesystem without overlay mounts. No iptables/bridge: we only
  # talk to registries on loopback, and the sandbox has no netfilter rights to spare.
  # The daemon starts its own containerd under --exec-root.
  dockerd --config-file "$d/daemon.json" \
    --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none \
    --data-root "$d/data" --exec-root "$d/exec" \
    -H "unix://$d/docker.sock" --pidfile "$d/docker.pid" \
    >"$d/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  track_pid "$DOCKERD_PID"
  export DOCKER_HOST=unix://$d/docker.sock
  # Keep the CLI away from ~/.docker (credentials, contexts).
  export DOCKER_CONFIG=$d/config
  mkdir -p "$DOCKER_CONFIG"
  local i
  for ((i = 0; i < 600; i++)); do
    "$DOCKER_BIN" version >/dev/null 2>&1 && return 0
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "dockerd did not start; last log lines:" >&2
  tail -15 "$d/dockerd.log" | sed 's/^/    /' >&2
  return 1
}

stop_dockerd() {
  stop_pid "$DOCKERD_PID"
  forget_pid "$DOCKERD_PID"
}

dk() { timeout "$E2E_CMD_TIMEOUT" "$DOCKER_BIN" "$@"; }

# ---------------------------------------------------------------- verification helpers

# verify_manifest NAME REPO REF WANT_DIGEST WANT_TYPE: a GET of the manifest answers 200,
# its Docker-Content-Digest header and the sha256 of the body are WANT_DIGEST, and its
# Content-Type is WANT_TYPE.
verify_manifest() {
  local name=$1 repo=$2 ref=$3 want=$4 type=$5 body=$WORK/manifest.body got shown
  read -r -a got <<<"$(manifest_get "$repo" "$ref" "$body")"
  shown=$repo:$ref
  [[ $ref == sha256:* ]] && shown=$repo@${ref:0:19}
  check "$name: GET manifest $shown status" 200 "${got[0]:-}"
  check "$name: Docker-Content-Digest" "$want" "${got[1]:-}"
  check "$name: sha256 of manifest body" "$want" "$(sha "$body")"
  check "$name: Content-Type" "$type" "${got[2]:-}"
}

# verify_blobs NAME REPO DIGEST...: each blob GETs 200 with bytes hashing to its digest.
verify_blobs() {
  local name=$1 repo=$2 d status out=$WORK/blob.body
  shift 2
  for d in "$@"; do
    status=$(blob_get "$repo" "$d" "$out")
    check "$name: GET blob ${d:7:12} status" 200 "$status"
    check "$name: blob ${d:7:12} bytes" "$d" "$(sha "$out")"
  done
}

# oci_ref_digest LAYOUT TAG: manifest digest an OCI layout's index.json gives for TAG.
oci_ref_digest() {
  jq -r --arg t "$2" \
    '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' \
    "$1/index.json"
}

# verify_oci_copy NAME OUT TAG SRC WANT: the image copied out of the registry into the OCI
# layout OUT under TAG has manifest digest WANT, and its manifest, config and layer files
# are byte-identical to those in the source layout SRC.
verify_oci_copy() {
  local name=$1 out=$2 tag=$3 src=$4 want=$5 d
  check "$name: manifest digest after round trip" "$want" "$(oci_ref_digest "$out" "$tag")"
  local m
  m=$(oci_blob "$out" "$want")
  [ -f "$m" ] || { not_ok "$name: manifest blob missing in $out"; return; }
  check_cmd "$name: manifest bytes equal the source" cmp "$m" "$(oci_blob "$src" "$want")"
  for d in $(jq -r '.config.digest, .layers[].digest' "$m"); do
    check_cmd "$name: blob ${d:7:12} bytes equal the source" \
      cmp "$(oci_blob "$out" "$d")" "$(oci_blob "$src" "$d")"
  done
}

# verify_dir_copy NAME OUT SRC: a skopeo dir: copy OUT equals the dir: source SRC, file by
# file (manifest.json and every blob).
verify_dir_copy() {
  local name=$1 out=$2 src=$3 d
  check_cmd "$name: manifest.json bytes equal the source" cmp "$out/manifest.json" "$src/manifest.json"
  for d in $(jq -r '.config.digest, .layers[].digest' "$src/manifest.json"); do
    check_cmd "$name: blob ${d:7:12} bytes equal the source" cmp "$out/${d#sha256:}" "$src/${d#sha256:}"
  done
}

# verify_index NAME REPO REF: the multi-arch index of the current test images is served
# under REF with its exact digest and both children are served by digest, byte-exact,
# with their configs and layers.
verify_index() {
  local name=$1 repo=$2 ref=$3
  verify_manifest "$name index" "$repo" "$ref" "$IMG_INDEX" "$OCI_INDEX"
  verify_manifest "$name amd64 child" "$repo" "$IMG_AMD64_MANIFEST" "$IMG_AMD64_MANIFEST" "$OCI_MANIFEST"
  verify_manifest "$name arm64 child" "$repo" "$IMG_ARM64_MANIFEST" "$IMG_ARM64_MANIFEST" "$OCI_MANIFEST"
  # shellcheck disable=SC2086 # word splitting of the layer lists is intended
  verify_blobs "$name blobs" "$repo" "$IMG_AMD64_CONFIG" $IMG_AMD64_LAYERS "$IMG_ARM64_CONFIG" $IMG_ARM64_LAYERS
}

# ---------------------------------------------------------------- registries with their own config
# (TLS, auth, read-only, REGISTRY_* environment overrides)

# wait_port PORT SECONDS [PID [DECOY]]: until 127.0.0.1:PORT accepts TCP connections; gives
# up early if PID died or if 127.0.0.1:DECOY accepts connections instead (returns 2).
wait_port() {
  local port=$1 secs=$2 pid=${3:-} decoy=${4:-} i
  for ((i = 0; i < secs * 10; i++)); do
    (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    if [ -n "$decoy" ] && (: <"/dev/tcp/127.0.0.1/$decoy") 2>/dev/null; then return 2; fi
    sleep 0.1
  done
  return 1
}

# start_registry_config KIND CONFIG SCHEME PORT [NAME=VALUE...]: starts `BIN serve CONFIG`
# with a config the caller wrote, listening on 127.0.0.1:PORT (in the config or in a
# REGISTRY_HTTP_ADDR given here). The environment has the REGISTRY_* variables given as
# NAME=VALUE and no other (see start_registry). Waits until PORT accepts connections, not
# for a 2xx: with auth /v2/ answers 401, with client certificates nothing answers curl alone.
# Sets REG_PID, REG_PORT, REG (127.0.0.1:PORT), REG_URL (SCHEME://127.0.0.1:PORT), REG_LOG.
# With REG_DECOY_PORT set (the config file's http.addr port when the address is meant to
# come from REGISTRY_HTTP_ADDR), fails at once if the registry listens there instead.
start_registry_config() {
  local kind=$1 cfg=$2 scheme=$3 port=$4 bin
  shift 4
  bin=$(registry_bin "$kind")
  if [ ! -x "$bin" ]; then
    echo "registry binary for '$kind' not found or not executable: $bin" >&2
    return 1
  fi
  local -a clean_env=(-u AWS_CA_BUNDLE)
  local v
  for v in $(compgen -e); do [[ $v == REGISTRY_* ]] && clean_env+=(-u "$v"); done
  REG_PORT=$port
  REG_LOG=$(mktemp "$WORK/$kind-$port.XXXX.log")
  env "${clean_env[@]}" "$@" "$bin" serve "$cfg" >"$REG_LOG" 2>&1 &
  REG_PID=$!
  track_pid "$REG_PID"
  REG=127.0.0.1:$port
  REG_URL=$scheme://$REG
  local rc=0
  wait_port "$port" 30 "$REG_PID" "${REG_DECOY_PORT:-}" || rc=$?
  if [ "$rc" = 2 ]; then
    echo "$kind registry ($cfg) listens on the config file's 127.0.0.1:$REG_DECOY_PORT, not on $REG:" \
      "the environment's REGISTRY_HTTP_ADDR was not applied" >&2
    return 1
  elif [ "$rc" != 0 ]; then
    echo "$kind registry ($cfg) did not listen on $REG; log:" >&2
    tail -20 "$REG_LOG" | sed 's/^/    /' >&2
    return 1
  fi
  echo "# $kind registry on $REG_URL (pid $REG_PID, config $(basename "$cfg"))"
}

# issue_cert DIR ec|rsa NAME SUBJECT EXTENSIONS [ISSUER]: DIR/NAME.key and DIR/NAME.pem, signed
# by DIR/ISSUER.pem (self-signed without ISSUER), with the EXTENSIONS section of DIR/ext.cnf.
issue_cert() {
  local d=$1 type=$2 n=$3 subj=$4 ext=$5 issuer=${6:-}
  if [ "$type" = rsa ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/$n.key" 2>/dev/null
  else
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/$n.key" 2>/dev/null
  fi
  openssl req -new -key "$d/$n.key" -subj "$subj" -out "$d/$n.csr"
  if [ -z "$issuer" ]; then
    openssl x509 -req -in "$d/$n.csr" -signkey "$d/$n.key" -days 2 \
      -extfile "$d/ext.cnf" -extensions "$ext" -out "$d/$n.pem" 2>/dev/null
  else
    openssl x509 -req -in "$d/$n.csr" -CA "$d/$issuer.pem" -CAkey "$d/$issuer.key" \
      -set_serial "0x$(openssl rand -hex 8)" -days 2 \
      -extfile "$d/ext.cnf" -extensions "$ext" -out "$d/$n.pem" 2>/dev/null
  fi
  rm -f "$d/$n.csr"
}

# make_pki DIR: a private PKI made with openssl (EC P-256, valid 2 days):
#   ca.pem                root CA (what clients trust)
#   int.pem               intermediate CA, signed by the root
#   server.pem/.key       leaf for IP:127.0.0.1 and DNS:localhost, signed by the intermediate
#   chain.pem             server.pem + int.pem (what the registry serves)
#   client-ca.pem         a second root, for client certificates (http.tls.clientcas)
#   client.pem/.key       client certificate signed by client-ca.pem
#   stranger.pem/.key     client certificate signed by ca.pem: not trusted for clients
make_pki() {
  local d=$1
  mkdir -p "$d"
  cat >"$d/ext.cnf" <<'EOF2'
[x_root]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[x_inter]
basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[x_server]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier=keyid
[x_client]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
authorityKeyIdentifier=keyid
EOF2
  pki_cert() { issue_cert "$d" ec "$@"; }
  pki_cert ca "/CN=berth e2e root CA" x_root
  pki_cert int "/CN=berth e2e intermediate CA" x_inter ca
  pki_cert server "/CN=localhost" x_server int
  cat "$d/server.pem" "$d/int.pem" >"$d/chain.pem"
  pki_cert client-ca "/CN=berth e2e client CA" x_root
  pki_cert client "/CN=e2e-client" x_client client-ca
  pki_cert stranger "/CN=e2e-stranger" x_client ca
  openssl verify -CAfile "$d/ca.pem" -untrusted "$d/int.pem" "$d/server.pem" >/dev/null
  openssl verify -CAfile "$d/client-ca.pem" "$d/client.pem" >/dev/null
}

# cert_dir DIR CA [CLIENT_CERT CLIENT_KEY]: a containers-tools certificate directory
# (--cert-dir): DIR/ca.crt, and DIR/client.cert + DIR/client.key when given.
cert_dir() {
  mkdir -p "$1"
  cp "$2" "$1/ca.crt"
  if [ -n "${3:-}" ]; then
    cp "$3" "$1/client.cert"
    cp "$4" "$1/client.key"
  fi
}

# add_htpasswd FILE COST USER PASSWORD: appends a bcrypt entry (htpasswd -nbB -C COST).
add_htpasswd() {
  htpasswd -nbB -C "$2" "$3" "$4" | sed '/^$/d' >>"$1"
}

# fetch METHOD URL [CURL_ARGS...]: one request with the system curl (no CA, no credentials
# unless given); prints the status (000 when no HTTP answer came) and leaves the response
# headers in $WORK/r.hdr and the body in $WORK/r.body, the curl exit code in $WORK/r.rc.
fetch() {
  local m=$1 url=$2 rc=0
  shift 2
  local mo=(-X "$m")
  [ "$m" = HEAD ] && mo=(-I)
  : >"$WORK/r.hdr"
  : >"$WORK/r.body"
  command curl -s -o "$WORK/r.body" -D "$WORK/r.hdr" -w '%{http_code}' "${mo[@]}" "$@" "$url" || rc=$?
  echo "$rc" >"$WORK/r.rc"
}

# check_last_output NAME ERE: the output of the last check_cmd/check_fails matches ERE
# (case-insensitive); the matching line is shown, for the record of what the client said.
check_last_output() {
  local line
  line=$(grep -iE -m1 "$2" "$WORK/check.out" || true)
  if [ -n "$line" ]; then
    ok "$1"
    echo "#   ${line:0:200}"
  else
    not_ok "$1"
    tail -3 "$WORK/check.out" | sed 's/^/       /'
  fi
}

# error_code: .errors[0].code of the last fetch's body (empty if it is not registry JSON).
error_code() { jq -r '.errors[0].code // empty' "$WORK/r.body" 2>/dev/null || true; }
