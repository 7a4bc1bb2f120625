#!/usr/bin/env bash
# skopeo against a registry: OCI and docker schema2 round trips, multi-arch index with
# --all, platform selection, cross-repository mount, tag listing, manifest deletion.
#   usage: skopeo.sh berth|reference
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND=${1:?usage: skopeo.sh berth|reference}
e2e_init "$@"

TLS=--tls-verify=false
COPY=(sk copy --src-tls-verify=false --dest-tls-verify=false)

# An OCI image in, then back out: the registry must keep manifest and blobs byte-exact.
test_oci_round_trip() {
  section "OCI image round trip"
  quiet "${COPY[@]}" "oci:$IMG_OCI:amd64" "docker://$REG/e2e/oci:v1"
  verify_manifest "oci push" e2e/oci v1 "$IMG_AMD64_MANIFEST" "$OCI_MANIFEST"
  verify_manifest "oci by digest" e2e/oci "$IMG_AMD64_MANIFEST" "$IMG_AMD64_MANIFEST" "$OCI_MANIFEST"
  # shellcheck disable=SC2086
  verify_blobs "oci push" e2e/oci "$IMG_AMD64_CONFIG" $IMG_AMD64_LAYERS
  check "oci: skopeo inspect --raw digest" "$IMG_AMD64_MANIFEST" \
    "sha256:$(sk inspect $TLS --raw "docker://$REG/e2e/oci:v1" | sha256sum | cut -d' ' -f1)"
  check "oci: skopeo inspect sees the layers" "$(echo "$IMG_AMD64_LAYERS" | tr ' ' ,)" \
    "$(sk inspect $TLS "docker://$REG/e2e/oci:v1" | jq -r '.Layers | join(",")')"

  quiet "${COPY[@]}" "docker://$REG/e2e/oci:v1" "oci:$WORK/out-oci:v1"
  verify_oci_copy "oci pull" "$WORK/out-oci" v1 "$IMG_OCI" "$IMG_AMD64_MANIFEST"
}

# A docker schema2 image in and out: same checks with the docker media types.
test_v2s2_round_trip() {
  section "docker schema2 image round trip"
  quiet "${COPY[@]}" "dir:$IMG_V2S2" "docker://$REG/e2e/v2s2:v1"
  verify_manifest "v2s2 push" e2e/v2s2 v1 "$IMG_V2S2_MANIFEST" "$V2S2_MANIFEST"
  # shellcheck disable=SC2086
  verify_blobs "v2s2 push" e2e/v2s2 "$IMG_AMD64_CONFIG" $IMG_AMD64_LAYERS

  quiet "${COPY[@]}" "docker://$REG/e2e/v2s2:v1" "dir:$WORK/out-v2s2"
  verify_dir_copy "v2s2 pull" "$WORK/out-v2s2" "$IMG_V2S2"
}

# The same blobs pushed to another repository: skopeo's blob-info cache (private to this
# run) knows they are in e2e/v2s2, so it asks for a cross-repository mount. The mount must
# succeed (201), after which the blobs are served from the new repository.
test_cross_repo_mount() {
  section "cross-repository mount"
  sk --debug copy --src-tls-verify=false --dest-tls-verify=false \
    "dir:$IMG_V2S2" "docker://$REG/e2e/mounted:v1" >"$WORK/mount.log" 2>&1 ||
    { not_ok "copy to e2e/mounted"; tail -5 "$WORK/mount.log"; return; }
  # skopeo logs "Trying to mount ...?from=e2e%2Fv2s2&mount=..." then "... mount OK" when the
  # registry answers 201; the config blob is always uploaded, never mounted.
  local nlayers
  nlayers=$(wc -w <<<"$IMG_AMD64_LAYERS")
  check "mount: skopeo tried a mount from e2e/v2s2 for each layer" "$nlayers" \
    "$(grep -c 'Trying to mount .*from=e2e%2Fv2s2' "$WORK/mount.log" || true)"
  check "mount: the registry accepted each mount (201)" "$nlayers" \
    "$(grep -c '\.\.\. mount OK' "$WORK/mount.log" || true)"
  verify_manifest "mount" e2e/mounted v1 "$IMG_V2S2_MANIFEST" "$V2S2_MANIFEST"
  # shellcheck disable=SC2086
  verify_blobs "mount" e2e/mounted $IMG_AMD64_LAYERS
}

# copy --all of the OCI index: the index and both children keep their digests.
test_multi_arch() {
  section "multi-arch index (copy --all)"
  quiet "${COPY[@]}" --all "oci:$IMG_OCI:multi" "docker://$REG/e2e/multi:latest"
  verify_index "multi push" e2e/multi latest

  quiet "${COPY[@]}" --all "docker://$REG/e2e/multi:latest" "oci:$WORK/out-multi:latest"
  check "multi pull: index digest after round trip" "$IMG_INDEX" "$(oci_ref_digest "$WORK/out-multi" latest)"
  check_cmd "multi pull: index bytes equal the source" \
    cmp "$(oci_blob "$WORK/out-multi" "$IMG_INDEX")" "$(oci_blob "$IMG_OCI" "$IMG_INDEX")"
  local d
  for d in "$IMG_AMD64_MANIFEST" "$IMG_ARM64_MANIFEST" "$IMG_AMD64_CONFIG" "$IMG_ARM64_CONFIG" \
    $IMG_AMD64_LAYERS $IMG_ARM64_LAYERS; do
    check_cmd "multi pull: blob ${d:7:12} equals the source" \
      cmp "$(oci_blob "$WORK/out-multi" "$d")" "$(oci_blob "$IMG_OCI" "$d")"
  done
}

# --override-arch arm64 picks the arm64 child out of the index.
test_platform_selection() {
  section "platform selection from the index"
  local arch
  for arch in arm64 amd64; do
    local want_m want_c want_l
    if [ $arch = arm64 ]; then
      want_m=$IMG_ARM64_MANIFEST want_c=$IMG_ARM64_CONFIG want_l=$IMG_ARM64_LAYERS
    else
      want_m=$IMG_AMD64_MANIFEST want_c=$IMG_AMD64_CONFIG want_l=$IMG_AMD64_LAYERS
    fi
    # `inspect` reports the index's digest in .Digest, so check what it resolved to:
    # the architecture, the layers, and the raw config's digest.
    local info
    info=$(sk --override-arch $arch inspect $TLS "docker://$REG/e2e/multi:latest")
    check "inspect --override-arch $arch: Architecture" $arch "$(jq -r .Architecture <<<"$info")"
    check "inspect --override-arch $arch: Layers" "$(echo "$want_l" | tr ' ' ,)" \
      "$(jq -r '.Layers | join(",")' <<<"$info")"
    check "inspect --override-arch $arch: config digest" "$want_c" \
      "sha256:$(sk --override-arch $arch inspect $TLS --config --raw "docker://$REG/e2e/multi:latest" | sha256sum | cut -d' ' -f1)"
    # copy without --all copies only the selected child, unchanged: its digest must match.
    quiet sk --override-arch $arch copy --src-tls-verify=false \
      "docker://$REG/e2e/multi:latest" "oci:$WORK/out-$arch:x"
    check "copy --override-arch $arch: child manifest digest" "$want_m" "$(oci_ref_digest "$WORK/out-$arch" x)"
  done
}

# Several tags: list-tags gives exactly that set; tags/list is in lexical order and
# paginates with n/last.
test_list_tags() {
  section "tag listing"
  local tags=(v2 latest 1.0.0 Z alpha_beta-1 v1 v10) t
  for t in "${tags[@]}"; do
    quiet "${COPY[@]}" "docker://$REG/e2e/v2s2:v1" "docker://$REG/e2e/tags:$t"
  done
  local sorted
  sorted=$(printf '%s\n' "${tags[@]}" | LC_ALL=C sort | jq -Rsc 'split("\n")[:-1]')
  check "list-tags: exact set of tags" "$sorted" \
    "$(sk list-tags $TLS "docker://$REG/e2e/tags" | jq -c '.Tags | sort')"
  check "list-tags: Repository field" "$REG/e2e/tags" \
    "$(sk list-tags $TLS "docker://$REG/e2e/tags" | jq -r .Repository)"
  # OCI distribution spec: tags/list is in lexical order. The reference 2.8.2 returns
  # directory order (fixed in distribution 3.x); berth follows the spec.
  check "tags/list: lexical order (OCI spec; reference 2.8.2 does not sort)" "$sorted" "$(tags_of e2e/tags)"
  # OCI spec: ?n= limits the page and a Link header points to the next; ?last= continues.
  # The reference 2.8.2 ignores n and last.
  local page hdr=$WORK/tags.hdr
  page=$(curl -s -D "$hdr" "$REG_URL/v2/e2e/tags/tags/list?n=3" | jq -c .tags)
  check "tags/list?n=3: first page (OCI spec; reference ignores n)" "$(jq -c '.[:3]' <<<"$sorted")" "$page"
  check "tags/list?n=3: Link rel=next header (OCI spec)" yes \
    "$(grep -qi '^link:.*rel="next"' "$hdr" && echo yes || echo no)"
  page=$(curl -s "$REG_URL/v2/e2e/tags/tags/list?n=3&last=Z" | jq -c .tags)
  check "tags/list?n=3&last=Z: next page (OCI spec; reference ignores last)" \
    "$(jq -c '.[2:5]' <<<"$sorted")" "$page"
}

# Deleting a manifest by digest removes it and every tag on it; other tags stay.
test_delete() {
  section "manifest deletion"
  local m=$IMG_V2S2_MANIFEST
  quiet "${COPY[@]}" "docker://$REG/e2e/v2s2:v1" "docker://$REG/e2e/del:v1"
  quiet "${COPY[@]}" "docker://$REG/e2e/v2s2:v1" "docker://$REG/e2e/del:also"
  quiet "${COPY[@]}" --all "docker://$REG/e2e/multi:latest" "docker://$REG/e2e/del:keep"
  check "delete: tags before" '["also","keep","v1"]' "$(tags_of e2e/del | jq -c sort)"

  quiet sk delete $TLS "docker://$REG/e2e/del@$m"
  check_fails "delete: skopeo inspect of the deleted tag fails" \
    sk inspect $TLS --raw "docker://$REG/e2e/del:v1"
  check "delete: GET manifest by tag" 404 "$(http_status GET "$REG_URL/v2/e2e/del/manifests/v1")"
  check "delete: GET manifest by digest" 404 "$(http_status GET "$REG_URL/v2/e2e/del/manifests/$m")"
  check "delete: HEAD manifest by digest" 404 "$(http_status HEAD "$REG_URL/v2/e2e/del/manifests/$m")"
  local err
  err=$(curl -s -H "Accept: $ALL_MANIFESTS" "$REG_URL/v2/e2e/del/manifests/v1" | jq -r '.errors[0].code' 2>/dev/null || true)
  check "delete: error code for the deleted tag" MANIFEST_UNKNOWN "$err"
  check "delete: list-tags no longer has the deleted tags" '["keep"]' \
    "$(sk list-tags $TLS "docker://$REG/e2e/del" | jq -c '.Tags | sort')"
  # Other repositories holding the same manifest are untouched.
  verify_manifest "delete: other repo keeps it" e2e/v2s2 v1 "$m" "$V2S2_MANIFEST"
  verify_index "delete: the index in the same repo stays" e2e/del keep
  # Deleting again: the manifest is gone, 404.
  check "delete: deleting again" 404 "$(http_status DELETE "$REG_URL/v2/e2e/del/manifests/$m")"
}

start_registry "$KIND" "$WORK/root"

make_test_images "$WORK/img-a"
run_test test_oci_round_trip
# A fresh image set so the schema2 layers are real uploads, not mounts of e2e/oci's blobs.
make_test_images "$WORK/img-b"
run_test test_v2s2_round_trip
run_test test_cross_repo_mount
run_test test_multi_arch
run_test test_platform_selection
run_test test_list_tags
run_test test_delete

e2e_done
