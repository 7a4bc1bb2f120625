#!/usr/bin/env bash
# On-disk compatibility between berth and the reference (distribution 2.8.2): a storage
# root written by one must be served, byte for byte, by the other, and stay writable.
#   usage: compat.sh          (needs both BERTH and the reference)
#   1. push into the reference, stop it, serve the same root with berth, pull and verify;
#      write one more tag with berth, serve the root with the reference again, verify it.
#   2. the same, the other way round.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init "$@"

TLS=--tls-verify=false
COPY=(sk copy --src-tls-verify=false --dest-tls-verify=false)
REPOS='["e2e/multi","e2e/oci","e2e/v2s2"]'   # the catalog (besides e2e/gone, see below)

# populate: an OCI image under several tags, a docker schema2 image, a multi-arch index,
# and a repository whose only manifest was deleted.
populate() {
  local t
  for t in v1 v2 latest; do
    quiet "${COPY[@]}" "oci:$IMG_OCI:amd64" "docker://$REG/e2e/oci:$t"
  done
  quiet "${COPY[@]}" "dir:$IMG_V2S2" "docker://$REG/e2e/v2s2:v1"
  quiet "${COPY[@]}" --all "oci:$IMG_OCI:multi" "docker://$REG/e2e/multi:latest"
  quiet "${COPY[@]}" "dir:$IMG_V2S2" "docker://$REG/e2e/gone:v1"
  quiet sk delete $TLS "docker://$REG/e2e/gone@$IMG_V2S2_MANIFEST"
}

# verify LABEL: everything populate wrote, as served by the registry now running.
verify() {
  local p=$1 out
  out=$(mktemp -d "$WORK/out.XXXXXX")/layout
  verify_pushed_images "$p" "$out"
  quiet sk --override-arch arm64 copy --src-tls-verify=false "docker://$REG/e2e/multi:latest" "oci:$out:arm64"
  check "$p multi: --override-arch arm64 selects the arm64 child" "$IMG_ARM64_MANIFEST" \
    "$(oci_ref_digest "$out" arm64)"

  check "$p tags/list e2e/oci" '["latest","v1","v2"]' "$(tags_of e2e/oci | jq -c sort)"
  check "$p tags/list e2e/multi" '["latest"]' "$(tags_of e2e/multi | jq -c sort)"
  check "$p deleted manifest stays deleted" 404 "$(http_status GET "$REG_URL/v2/e2e/gone/manifests/v1")"
  check "$p deleted manifest stays deleted (by digest)" 404 \
    "$(http_status GET "$REG_URL/v2/e2e/gone/manifests/$IMG_V2S2_MANIFEST")"
  # The reference keeps a repository in the catalog after its last manifest is deleted;
  # whether it is listed is not part of this check.
  check "$p _catalog" "$REPOS" \
    "$(curl -sf "$REG_URL/v2/_catalog" | jq -c '.repositories | map(select(. != "e2e/gone"))')"
}

# direction FIRST SECOND: FIRST writes, SECOND reads and writes, FIRST reads again.
direction() {
  local first=$1 second=$2 root=$WORK/root-$1-first
  section "written by $first, served by $second"
  make_test_images "$WORK/img-$first"
  start_registry "$first" "$root"
  populate
  stop_registry "$REG_PID"

  start_registry "$second" "$root"
  verify "$first->$second:"
  # Writes on top of the other's data: a new tag and a new repository.
  quiet "${COPY[@]}" "docker://$REG/e2e/oci:v1" "docker://$REG/e2e/oci:added"
  quiet "${COPY[@]}" --all "docker://$REG/e2e/multi:latest" "docker://$REG/e2e/added:latest"
  stop_registry "$REG_PID"

  section "written by $first then $second, served by $first again"
  start_registry "$first" "$root"
  verify_manifest "$first->$second->$first: new tag" e2e/oci added "$IMG_AMD64_MANIFEST" "$OCI_MANIFEST"
  verify_index "$first->$second->$first: new repo" e2e/added latest
  check "$first->$second->$first: tags/list e2e/oci" '["added","latest","v1","v2"]' "$(tags_of e2e/oci | jq -c sort)"
  check "$first->$second->$first: _catalog" '["e2e/added","e2e/multi","e2e/oci","e2e/v2s2"]' \
    "$(curl -sf "$REG_URL/v2/_catalog" | jq -c '.repositories | map(select(. != "e2e/gone"))')"
  stop_registry "$REG_PID"
}

run_test direction reference berth
run_test direction berth reference

e2e_done
