#!/usr/bin/env bash
# berth as a pull-through cache (`proxy`) in front of an upstream on loopback: berth itself
# and the reference (2.8.2), the reference also behind htpasswd and behind token auth. skopeo and docker pull
# through the proxy (digests and bytes compared with the source images); twelve concurrent
# pulls of an uncached layer reach the upstream as one GET (counted in the upstream's access
# log); pushes to the proxy are refused with 405 UNSUPPORTED; with the upstream stopped,
# everything pulled before still pulls byte for byte.
#   usage: proxy.sh berth|reference   (the KIND is ignored: both upstreams always run)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init "$@"

COPY=(sk copy --src-tls-verify=false --dest-tls-verify=false)

# start_on_directory KIND NAME EXTRA_YAML: KIND storing in $WORK/NAME-PORT, EXTRA_YAML
# appended to its config ($WORK/NAME-PORT.yml); sets what start_registry_config sets.
start_on_directory() {
  local kind=$1 name=$2 port cfg
  port=$(free_port)
  cfg=$WORK/$name-$port.yml
  cat >"$cfg" <<EOF
version: 0.1
log:
  level: info
http:
  addr: 127.0.0.1:$port
storage:
  filesystem:
    rootdirectory: $WORK/$name-$port
$3
EOF
  start_registry_config "$kind" "$cfg" http "$port"
}

# start_upstream KIND [AUTH_YAML]: an upstream registry; sets UP_URL, UP, UP_PID, UP_LOG.
start_upstream() {
  start_on_directory "$1" "upstream-$1" "${2:-}"
  UP_URL=$REG_URL UP=$REG UP_PID=$REG_PID UP_LOG=$REG_LOG
}

# start_proxy REMOTE_URL [PROXY_YAML]: berth as a cache of REMOTE_URL; sets PX, PX_URL, PX_PID.
start_proxy() {
  start_on_directory berth proxy "proxy:
  remoteurl: $1
${2:-}"
  PX=$REG PX_URL=$REG_URL PX_PID=$REG_PID
  wait_http "$PX_URL/v2/" 30 "$PX_PID"
}

# verify_through NAME: the amd64 image and the index pulled through the proxy with skopeo,
# byte for byte against the source layout.
verify_through() {
  local name=$1 out=$WORK/out-$RANDOM
  mkdir -p "$out"
  quiet "${COPY[@]}" "docker://$PX/e2e/app:v1" "oci:$out/oci:v1"
  verify_oci_copy "$name: skopeo pull of e2e/app:v1" "$out/oci" v1 "$IMG_OCI" "$IMG_AMD64_MANIFEST"
  quiet "${COPY[@]}" --all "docker://$PX/e2e/multi:latest" "oci:$out/multi:latest"
  check "$name: skopeo pull --all of the index: digest" "$IMG_INDEX" "$(oci_ref_digest "$out/multi" latest)"
  local d
  for d in "$IMG_ARM64_MANIFEST" "$IMG_ARM64_CONFIG" $IMG_ARM64_LAYERS; do
    check_cmd "$name: index blob ${d:7:12} equals the source" \
      cmp "$(oci_blob "$out/multi" "$d")" "$(oci_blob "$IMG_OCI" "$d")"
  done
  rm -rf "$out"
}

# repo_digest_is IMAGE: "true" when docker's RepoDigests of IMAGE name the amd64 manifest in
# IMAGE's repository (the dockerd's store outlives one proxy: earlier proxies' digests stay).
repo_digest_is() {
  dk image inspect --format '{{json .RepoDigests}}' "$1" |
    jq --arg want "${1%:*}@$IMG_AMD64_MANIFEST" 'index($want) != null'
}

# upstream_gets DIGEST: how many GETs of the blob the upstream's access log shows.
upstream_gets() {
  grep -c "\"GET /v2/[^ ]*/blobs/$1 HTTP" "$UP_LOG" || true
}

# test_proxy KIND: the whole story in front of one upstream.
test_proxy() {
  local kind=$1
  section "proxy in front of $kind"
  start_upstream "$kind"
  quiet "${COPY[@]}" "oci:$IMG_OCI:amd64" "docker://$UP/e2e/app:v1"
  quiet "${COPY[@]}" --all "oci:$IMG_OCI:multi" "docker://$UP/e2e/multi:latest"
  start_proxy "$UP_URL"

  # Twelve clients at once on a layer nobody pulled yet: one GET upstream.
  local layer pids=() i
  layer=$(echo "$IMG_AMD64_LAYERS" | awk '{print $1}')
  for i in $(seq 12); do
    curl -sf -o "$WORK/par-$i" "$PX_URL/v2/e2e/app/blobs/$layer" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || true; done
  local same=0
  for i in $(seq 12); do [ "$(sha "$WORK/par-$i")" = "$layer" ] && same=$((same + 1)); rm -f "$WORK/par-$i"; done
  check "$kind: twelve concurrent pulls of an uncached layer got its bytes" 12 "$same"
  check "$kind: the upstream saw one GET of it" 1 "$(upstream_gets "$layer")"

  verify_through "$kind, upstream up"
  check "$kind: the catalog lists what is cached" '["e2e/app","e2e/multi"]' \
    "$(curl -sf "$PX_URL/v2/_catalog" | jq -c .repositories)"

  if start_dockerd; then
    quiet dk pull "$PX/e2e/app:v1"
    check "$kind: docker pull through the proxy: repo digest" true "$(repo_digest_is "$PX/e2e/app:v1")"
    check "$kind: docker pull: config digest" "$IMG_AMD64_CONFIG" \
      "$(dk image inspect --format '{{.Id}}' "$PX/e2e/app:v1")"
    check_fails "$kind: docker push to the proxy is refused" dk push "$PX/e2e/app:v1"
    check_last_output "$kind: docker says the operation is unsupported" "unsupported|405|not allowed"
    quiet dk rmi "$PX/e2e/app:v1"
  else
    skip "$kind: docker (dockerd did not start)"
  fi

  check_fails "$kind: skopeo push to the proxy is refused" \
    "${COPY[@]}" "oci:$IMG_OCI:amd64" "docker://$PX/e2e/pushed:v1"
  check "$kind: POST of an upload is 405" 405 "$(fetch POST "$PX_URL/v2/e2e/pushed/blobs/uploads/")"
  check "$kind: ... UNSUPPORTED" UNSUPPORTED "$(error_code)"
  check "$kind: DELETE of a manifest is 405" 405 \
    "$(fetch DELETE "$PX_URL/v2/e2e/app/manifests/$IMG_AMD64_MANIFEST")"

  stop_registry "$UP_PID"
  check "$kind: the upstream is down" 000 "$(fetch GET "$UP_URL/v2/")"
  verify_through "$kind, upstream down"
  if [ -n "${DOCKERD_PID:-}" ]; then
    quiet dk pull "$PX/e2e/app:v1"
    check "$kind: docker pull with the upstream down: repo digest" true "$(repo_digest_is "$PX/e2e/app:v1")"
    quiet dk rmi "$PX/e2e/app:v1"
    stop_dockerd
    DOCKERD_PID=
  fi
  stop_registry "$PX_PID"
}

# The reference behind htpasswd: the proxy answers its Basic challenge with proxy.username
# and proxy.password; with a wrong password nothing is served.
test_htpasswd_upstream() {
  section "proxy in front of the reference with htpasswd"
  local file=$WORK/htpasswd
  add_htpasswd "$file" 5 puller s3cret
  start_upstream reference "auth:
  htpasswd:
    realm: upstream
    path: $file"
  quiet "${COPY[@]}" --dest-creds puller:s3cret "oci:$IMG_OCI:amd64" "docker://$UP/e2e/app:v1"
  quiet "${COPY[@]}" --all --dest-creds puller:s3cret "oci:$IMG_OCI:multi" "docker://$UP/e2e/multi:latest"
  start_proxy "$UP_URL" "  username: puller
  password: wrong"
  check "htpasswd: a wrong password serves nothing" 404 \
    "$(fetch GET "$PX_URL/v2/e2e/app/manifests/v1")"
  stop_registry "$PX_PID"
  start_proxy "$UP_URL" "  username: puller
  password: s3cret"
  verify_through "htpasswd"
  stop_registry "$PX_PID"
  stop_registry "$UP_PID"
}

# The reference behind Docker token auth (token_server.py, tokens naming their key by kid):
# the proxy gets its tokens with proxy.username and proxy.password, for pull scopes only.
test_token_upstream() {
  section "proxy in front of the reference with token auth"
  local k=$WORK/token py=${TOKEN_PYTHON:-/usr/bin/python3} port
  mkdir -p "$k"
  printf '[x_self]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' >"$k/ext.cnf"
  issue_cert "$k" ec signer "/CN=berth e2e proxy token signer" x_self
  port=$(free_port)
  jq -n --arg k "$k" '{issuer: "e2e-issuer", expires_in: 300, log: "\($k)/requests.log",
      mode_file: "\($k)/mode", modes: {kid: {key: "\($k)/signer.key"}},
      users: {pusher: {password: "push-pw", grants: [{type: "repository", name: "e2e/*", actions: ["pull", "push"]}]},
              puller: {password: "pull-pw", grants: [{type: "repository", name: "e2e/*", actions: ["pull"]}]}}}' \
    >"$k/config.json"
  "$py" "$E2E_DIR/token_server.py" serve --port "$port" --config "$k/config.json" >"$k/server.out" 2>&1 &
  local token_pid=$!
  track_pid "$token_pid"
  wait_port "$port" 10 "$token_pid"
  start_upstream reference "auth:
  token:
    realm: http://127.0.0.1:$port/token
    service: e2e-registry
    issuer: e2e-issuer
    rootcertbundle: $k/signer.pem"
  quiet "${COPY[@]}" --dest-creds pusher:push-pw "oci:$IMG_OCI:amd64" "docker://$UP/e2e/app:v1"
  quiet "${COPY[@]}" --all --dest-creds pusher:push-pw "oci:$IMG_OCI:multi" "docker://$UP/e2e/multi:latest"
  start_proxy "$UP_URL" "  username: puller
  password: wrong"
  check "token: a wrong password serves nothing" 404 "$(fetch GET "$PX_URL/v2/e2e/app/manifests/v1")"
  stop_registry "$PX_PID"
  : >"$k/requests.log"
  start_proxy "$UP_URL" "  username: puller
  password: pull-pw"
  verify_through "token"
  check "token: every token the proxy asked for was puller's, for pull" '[["puller","pull"]]' \
    "$(jq -sc '[.[] | [.user, (.query.scope[] | split(":")[2])]] | unique' "$k/requests.log")"
  stop_registry "$PX_PID"
  stop_registry "$UP_PID"
  stop_pid "$token_pid"
  forget_pid "$token_pid"
}

make_test_images "$WORK/images"
run_test test_proxy berth
run_test test_proxy reference
run_test test_htpasswd_upstream
run_test test_token_upstream
e2e_done
