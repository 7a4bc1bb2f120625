#!/usr/bin/env bash
# berth's client commands against images pushed by skopeo: `berth ls`, `berth tags` and
# `berth image inspect --json` (digests compared with `skopeo inspect --raw`), `berth tag delete`,
# `berth image delete` (by tag and by digest) and `berth repo delete`, then what remains is
# checked with skopeo and curl by digest and bytes; a nested repository (e2e/app/nested under
# e2e/app) and repositories sharing blobs keep everything; `berth garbage-collect` then
# reclaims what only the deleted repository used. A second registry with TLS (a private CA)
# and htpasswd, as the seeds set one up, is cleaned with --cacert and credentials.
#   usage: admin.sh berth   (repo delete is berth's own route: berth only)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND=${1:?usage: admin.sh berth}
e2e_init "$@"

TLS=--tls-verify=false
COPY=(sk copy --src-tls-verify=false --dest-tls-verify=false)

# bt ARGS...: a berth client command against the current registry, no BERTH_* from outside.
bt() { timeout "$E2E_CMD_TIMEOUT" env -u BERTH_USERNAME -u BERTH_PASSWORD "$BERTH" "$@" --registry "$REG_URL"; }

# catalog: the repositories as one line of JSON.
catalog() { curl -sf "$REG_URL/v2/_catalog" | jq -c .repositories; }

# blob_file DIGEST: where the registry root keeps a blob's bytes.
blob_file() { echo "$ROOT/docker/registry/v2/blobs/sha256/${1:7:2}/${1#sha256:}/data"; }

push_fixtures() {
  section "push with skopeo"
  quiet "${COPY[@]}" "dir:$IMG_V2S2" "docker://$REG/e2e/app:v1"
  quiet "${COPY[@]}" "dir:$IMG_V2S2" "docker://$REG/e2e/app:v1-alias"
  quiet "${COPY[@]}" --all "oci:$IMG_OCI:multi" "docker://$REG/e2e/app:multi"
  quiet "${COPY[@]}" "dir:$IMG_V2S2" "docker://$REG/e2e/app/nested:v1"
  quiet "${COPY[@]}" "oci:$IMG_OCI:amd64" "docker://$REG/e2e/other:v1"
  check "pushed: catalog" '["e2e/app","e2e/app/nested","e2e/other"]' "$(catalog)"
  check "pushed: e2e/app tags" '["multi","v1","v1-alias"]' "$(tags_of e2e/app)"
}

# raw_of REF FILE: the manifest skopeo reads for docker://$REG/REF, written to FILE.
raw_of() { sk inspect $TLS --raw "docker://$REG/$1" >"$2"; }

test_ls_tags() {
  section "berth ls and berth tags"
  check "ls: every repository" "e2e/app e2e/app/nested e2e/other" "$(bt ls | xargs)"
  check "ls: pages of one" "e2e/app e2e/app/nested e2e/other" "$(bt ls -n 1 | xargs)"
  check "ls: under a repository" "e2e/app e2e/app/nested" "$(bt ls e2e/app | xargs)"
  check "ls: a namespace" '["e2e/app","e2e/app/nested","e2e/other"]' "$(bt ls e2e/ --json | jq -c .repositories)"
  check "tags: pages of one, as skopeo lists them" \
    "$(sk list-tags $TLS "docker://$REG/e2e/app" | jq -c .Tags)" "$(bt tags e2e/app -n 1 --json | jq -c .tags)"
  check_fails "tags: an unknown repository" bt tags e2e/none
  check_last_output "tags: says NAME_UNKNOWN" '^berth: tags: NAME_UNKNOWN'
}

test_inspect() {
  section "berth image inspect"
  local raw=$WORK/raw.json out=$WORK/inspect.json
  raw_of e2e/app:v1 "$raw"
  bt image inspect e2e/app:v1 --json >"$out"
  check "inspect v2s2: digest is skopeo's raw manifest's" "$(sha "$raw")" "$(jq -r .digest "$out")"
  check "inspect v2s2: and the pushed one" "$IMG_V2S2_MANIFEST" "$(jq -r .digest "$out")"
  check "inspect v2s2: media type" "$V2S2_MANIFEST" "$(jq -r .mediaType "$out")"
  check "inspect v2s2: size" "$(stat -c %s "$raw")" "$(jq -r .size "$out")"
  check "inspect v2s2: config" "$(jq -c '.config | {digest, size}' "$raw")" "$(jq -c '.config | {digest, size}' "$out")"
  check "inspect v2s2: layers" "$(jq -c '[.layers[] | {digest, size}]' "$raw")" \
    "$(jq -c '[.layers[] | {digest, size}]' "$out")"
  check "inspect v2s2: platform from the config" \
    "$(sk inspect $TLS --config --raw "docker://$REG/e2e/app:v1" | jq -c '{os, architecture}')" \
    "$(jq -c '.platform | {os, architecture}' "$out")"
  check "inspect v2s2: total size" "$(jq '.size + .config.size + ([.layers[].size] | add)' "$out")" \
    "$(jq .totalSize "$out")"
  check "inspect v2s2: no referrers" '[]' "$(jq -c .referrers "$out")"

  raw_of e2e/app:multi "$raw"
  bt image inspect e2e/app:multi --json >"$out"
  check "inspect index: digest is skopeo's raw manifest's" "$IMG_INDEX" "$(jq -r .digest "$out")"
  check "inspect index: and the bytes'" "$(sha "$raw")" "$(jq -r .digest "$out")"
  check "inspect index: media type" "$OCI_INDEX" "$(jq -r .mediaType "$out")"
  check "inspect index: the platforms' digests" "$(jq -cS '[.manifests[] | {digest, platform}]' "$raw")" \
    "$(jq -cS '[.manifests[] | {digest, platform}]' "$out")"
  check "inspect index: amd64 and arm64" "$IMG_AMD64_MANIFEST $IMG_ARM64_MANIFEST" \
    "$(jq -r '[.manifests[].digest] | join(" ")' "$out")"

  bt image inspect "e2e/other@$IMG_AMD64_MANIFEST" --json >"$out"
  check "inspect OCI by digest: digest" "$IMG_AMD64_MANIFEST" "$(jq -r .digest "$out")"
  check "inspect OCI by digest: config" "$IMG_AMD64_CONFIG" "$(jq -r .config.digest "$out")"
  check "inspect OCI by digest: layers" "$IMG_AMD64_LAYERS" "$(jq -r '[.layers[].digest] | join(" ")' "$out")"
  check "inspect OCI by digest: platform" '"linux/amd64"' "$(jq -c '.platform | "\(.os)/\(.architecture)"' "$out")"
  check_fails "inspect: an unknown tag" bt image inspect e2e/app:none
  check_last_output "inspect: says MANIFEST_UNKNOWN" '^berth: image inspect: MANIFEST_UNKNOWN'
}

test_tag_delete() {
  section "berth tag delete"
  local out
  out=$(bt tag delete e2e/app:v1-alias)
  check "tag delete: message" "deleted tag e2e/app:v1-alias; the manifest it pointed at stays, reachable by digest" "$out"
  check "tag delete: tags left" '["multi","v1"]' "$(tags_of e2e/app)"
  check_fails "tag delete: skopeo inspect of the deleted tag fails" sk inspect $TLS --raw "docker://$REG/e2e/app:v1-alias"
  verify_manifest "tag delete: the manifest stays by digest" e2e/app "$IMG_V2S2_MANIFEST" "$IMG_V2S2_MANIFEST" "$V2S2_MANIFEST"
  verify_manifest "tag delete: and by its other tag" e2e/app v1 "$IMG_V2S2_MANIFEST" "$V2S2_MANIFEST"
  check_fails "tag delete: again fails" bt tag delete e2e/app:v1-alias
  check_last_output "tag delete: again says MANIFEST_UNKNOWN" '^berth: tag delete: MANIFEST_UNKNOWN'
}

test_image_delete() {
  section "berth image delete"
  local out
  out=$(bt image delete e2e/app:v1)
  check "image delete by tag: the digest deleted is the pushed manifest's" \
    "deleted e2e/app@$IMG_V2S2_MANIFEST and every tag pointing at it" "$out"
  check "image delete: GET by digest" 404 "$(http_status GET "$REG_URL/v2/e2e/app/manifests/$IMG_V2S2_MANIFEST")"
  check_fails "image delete: skopeo inspect of the tag fails" sk inspect $TLS --raw "docker://$REG/e2e/app:v1"
  check "image delete: tags left" '["multi"]' "$(tags_of e2e/app)"
  verify_index "image delete: the index in the same repository stays" e2e/app multi
  verify_manifest "image delete: the nested repository keeps it" e2e/app/nested v1 "$IMG_V2S2_MANIFEST" "$V2S2_MANIFEST"

  quiet "${COPY[@]}" "oci:$IMG_OCI:amd64" "docker://$REG/e2e/other:by-digest"
  quiet "${COPY[@]}" "dir:$IMG_V2S2" "docker://$REG/e2e/other:v2s2"
  out=$(bt image delete "e2e/other@$IMG_V2S2_MANIFEST")
  check "image delete by digest: message" "deleted e2e/other@$IMG_V2S2_MANIFEST and every tag pointing at it" "$out"
  check "image delete by digest: tags left" '["by-digest","v1"]' "$(tags_of e2e/other)"
}

test_repo_delete() {
  section "berth repo delete"
  local out
  out=$(bt repo delete e2e/app)
  check "repo delete: message" "deleted repository e2e/app; its blobs stay until \`berth garbage-collect\`" "$out"
  check "repo delete: catalog" '["e2e/app/nested","e2e/other"]' "$(catalog)"
  fetch GET "$REG_URL/v2/e2e/app/tags/list" >/dev/null
  check "repo delete: tags/list" NAME_UNKNOWN "$(error_code)"
  check "repo delete: the index by digest" 404 "$(http_status GET "$REG_URL/v2/e2e/app/manifests/$IMG_INDEX")"
  check "repo delete: a blob of it" 404 "$(http_status GET "$REG_URL/v2/e2e/app/blobs/$IMG_ARM64_CONFIG")"
  check_fails "repo delete: skopeo inspect fails" sk inspect $TLS --raw "docker://$REG/e2e/app:multi"
  verify_manifest "repo delete: nested repository" e2e/app/nested v1 "$IMG_V2S2_MANIFEST" "$V2S2_MANIFEST"
  quiet "${COPY[@]}" "docker://$REG/e2e/app/nested:v1" "dir:$WORK/out-nested"
  verify_dir_copy "repo delete: nested repository pulls byte-identical" "$WORK/out-nested" "$IMG_V2S2"
  verify_manifest "repo delete: repository sharing blobs" e2e/other v1 "$IMG_AMD64_MANIFEST" "$OCI_MANIFEST"
  # shellcheck disable=SC2086
  verify_blobs "repo delete: shared blobs" e2e/other "$IMG_AMD64_CONFIG" $IMG_AMD64_LAYERS
  check_cmd "repo delete: the index's bytes stay until garbage collection" test -f "$(blob_file "$IMG_INDEX")"
  check_fails "repo delete: again fails" bt repo delete e2e/app
  check_last_output "repo delete: again says NAME_UNKNOWN" '^berth: repo delete: NAME_UNKNOWN'
}

test_garbage_collect() {
  section "berth garbage-collect after the deletes"
  stop_registry "$REG_PID"
  # The registry is stopped, so no grace period is needed for what was just pushed.
  # REGISTRY_AUTH_FILE (for the containers tools) would be read as auth.file.
  quiet env -u REGISTRY_AUTH_FILE "$BERTH" garbage-collect --grace=0 "$CONFIG"
  local d
  for d in "$IMG_INDEX" "$IMG_ARM64_MANIFEST" "$IMG_ARM64_CONFIG" $IMG_ARM64_LAYERS; do
    check_fails "gc: ${d:7:12} (only in e2e/app) reclaimed" test -f "$(blob_file "$d")"
  done
  for d in "$IMG_V2S2_MANIFEST" "$IMG_AMD64_MANIFEST" "$IMG_AMD64_CONFIG" $IMG_AMD64_LAYERS; do
    check_cmd "gc: ${d:7:12} (still referenced) kept" test -f "$(blob_file "$d")"
  done
  start_registry berth "$ROOT"
  quiet "${COPY[@]}" "docker://$REG/e2e/other:v1" "oci:$WORK/out-other:v1"
  verify_oci_copy "gc: e2e/other pulls byte-identical" "$WORK/out-other" v1 "$IMG_OCI" "$IMG_AMD64_MANIFEST"
}

# The seeds' setup: TLS with a private CA, htpasswd. Credentials from stdin or the environment.
test_tls_htpasswd() {
  section "TLS with a private CA and htpasswd"
  make_pki "$WORK/pki"
  add_htpasswd "$WORK/htpasswd" 5 alice 's3cret pw'
  local port cfg
  port=$(free_port)
  cfg=$WORK/tls.yml
  cat >"$cfg" <<EOF
version: 0.1
http:
  addr: 127.0.0.1:$port
  tls:
    certificate: $WORK/pki/chain.pem
    key: $WORK/pki/server.key
auth:
  htpasswd:
    realm: berth e2e
    path: $WORK/htpasswd
storage:
  filesystem:
    rootdirectory: $WORK/tls-root
  delete:
    enabled: true
EOF
  start_registry_config berth "$cfg" https "$port"
  cert_dir "$WORK/certs" "$WORK/pki/ca.pem"
  quiet sk copy --dest-cert-dir "$WORK/certs" --dest-creds "alice:s3cret pw" \
    "oci:$IMG_OCI:amd64" "docker://$REG/e2e/secure:v1"
  local found
  found=$(BERTH_USERNAME=alice BERTH_PASSWORD='s3cret pw' timeout "$E2E_CMD_TIMEOUT" \
    "$BERTH" image inspect e2e/secure:v1 --json --registry "$REG_URL" --cacert "$WORK/pki/ca.pem" | jq -r .digest)
  check "tls: image inspect with BERTH_USERNAME/BERTH_PASSWORD" "$IMG_AMD64_MANIFEST" "$found"
  check "tls: ls with --password-stdin" e2e/secure \
    "$(printf 's3cret pw\n' | bt ls --cacert "$WORK/pki/ca.pem" -u alice --password-stdin)"
  check_fails "tls: without credentials" bt repo delete e2e/secure --cacert "$WORK/pki/ca.pem"
  check_last_output "tls: the registry asked for credentials" 'asks for credentials'
  check_fails "tls: without the CA" env BERTH_USERNAME=alice "BERTH_PASSWORD=s3cret pw" \
    "$BERTH" image delete e2e/secure:v1 --registry "$REG_URL"
  check_last_output "tls: the certificate is refused" 'certificate'
  local out
  out=$(printf 's3cret pw\n' | bt image delete e2e/secure:v1 --cacert "$WORK/pki/ca.pem" -u alice --password-stdin)
  check "tls: image delete with --password-stdin" \
    "deleted e2e/secure@$IMG_AMD64_MANIFEST and every tag pointing at it" "$out"
  check_fails "tls: skopeo inspect of the deleted tag fails" \
    sk inspect --cert-dir "$WORK/certs" --creds "alice:s3cret pw" "docker://$REG/e2e/secure:v1"
  out=$(BERTH_USERNAME=alice BERTH_PASSWORD='s3cret pw' timeout "$E2E_CMD_TIMEOUT" \
    "$BERTH" repo delete e2e/secure --registry "$REG_URL" --cacert "$WORK/pki/ca.pem")
  check "tls: repo delete with BERTH_USERNAME/BERTH_PASSWORD" \
    "deleted repository e2e/secure; its blobs stay until \`berth garbage-collect\`" "$out"
  check "tls: catalog" '[]' \
    "$(curl -sf --cacert "$WORK/pki/ca.pem" -u 'alice:s3cret pw' "$REG_URL/v2/_catalog" | jq -c .repositories)"
  stop_registry "$REG_PID"
}

if [ "$KIND" != berth ]; then
  skip "admin.sh: berth's own commands and route (run it with KIND berth)"
  e2e_done
  exit 0
fi

ROOT=$WORK/root
start_registry berth "$ROOT"
CONFIG=$WORK/berth-$REG_PORT.yml
make_test_images "$WORK/img"
run_test push_fixtures
run_test test_ls_tags
run_test test_inspect
run_test test_tag_delete
run_test test_image_delete
run_test test_repo_delete
run_test test_garbage_collect
run_test test_tls_htpasswd

e2e_done
