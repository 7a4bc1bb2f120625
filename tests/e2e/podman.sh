#!/usr/bin/env bash
# podman against a registry: login/logout, push (docker schema2 and OCI), pull back, search.
#   usage: podman.sh berth|reference
# podman stores layers uncompressed and recompresses them on push, so layer and manifest
# digests are podman's own: the checks compare the config (the image ID) and the layers'
# uncompressed digests (rootfs diff_ids) with the source image, and the registry's bytes
# with the digests podman reported.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND=${1:?usage: podman.sh berth|reference}
e2e_init "$@"

TLS=--tls-verify=false
LOCAL=localhost/e2e/img:amd64

# podman login/logout on a registry without auth. podman checks credentials with
# GET /v2/: a 200 without a challenge means "no auth needed", so login succeeds and
# stores the credentials as given; logout removes them. (Auth tests come with auth.)
test_login() {
  section "login / logout (registry without auth)"
  local out
  out=$(podman login $TLS -u e2e-user -p e2e-secret "$REG" 2>&1) || true
  check "login: podman reports success" "Login Succeeded!" "$out"
  check "login: credentials stored in the auth file" "$(printf e2e-user:e2e-secret | base64)" \
    "$(jq -r --arg r "$REG" '.auths[$r].auth' "$REGISTRY_AUTH_FILE")"
  check "login: --get-login" e2e-user "$(podman login --get-login "$REG" 2>&1 || true)"
}

test_logout() {
  section "logout"
  check_cmd "logout: succeeds" podman logout "$REG"
  check "logout: credentials removed" null "$(jq -r --arg r "$REG" '.auths[$r]' "$REGISTRY_AUTH_FILE")"
  check_fails "logout: a second logout fails (not logged in)" podman logout "$REG"
}

# check_pushed NAME REPO TAG DIGEST TYPE: what the registry serves for a podman push:
# the manifest podman reported, the source config byte for byte, and layers whose
# uncompressed digests are the source diff_ids.
check_pushed() {
  local name=$1 repo=$2 tag=$3 digest=$4 type=$5 m=$WORK/pushed.json
  verify_manifest "$name" "$repo" "$tag" "$digest" "$type"
  curl -sf -H "Accept: $type" "$REG_URL/v2/$repo/manifests/$tag" >"$m"
  check "$name: manifest config digest is the source config" "$IMG_AMD64_CONFIG" "$(jq -r .config.digest "$m")"
  blob_get "$repo" "$(jq -r .config.digest "$m")" "$WORK/config.json" >/dev/null
  check_cmd "$name: config bytes equal the source" cmp "$WORK/config.json" "$(oci_blob "$IMG_OCI" "$IMG_AMD64_CONFIG")"
  local layers diff_ids=() d
  layers=$(jq -r '.layers[].digest' "$m")
  # shellcheck disable=SC2086
  verify_blobs "$name" "$repo" $layers
  for d in $layers; do
    blob_get "$repo" "$d" "$WORK/layer.gz" >/dev/null
    diff_ids+=("$(gunzip_sha "$WORK/layer.gz")")
  done
  check "$name: uncompressed layers are the source diff_ids" "$IMG_AMD64_DIFF_IDS" \
    "$(printf '%s\n' "${diff_ids[@]}" | jq -Rsc 'split("\n")[:-1]')"
}

# check_local NAME IMAGE DIGEST: the image podman pulled has the source config (ID),
# diff_ids and architecture, and records the manifest digest it pulled.
check_local() {
  local name=$1 image=$2 digest=$3 info
  info=$(podman image inspect "$image" | jq '.[0]')
  check "$name: image ID is the source config digest" "${IMG_AMD64_CONFIG#sha256:}" "$(jq -r .Id <<<"$info")"
  check "$name: rootfs diff_ids" "$IMG_AMD64_DIFF_IDS" "$(jq -c .RootFS.Layers <<<"$info")"
  check "$name: architecture" amd64 "$(jq -r .Architecture <<<"$info")"
  check "$name: manifest digest" "$digest" "$(jq -r .Digest <<<"$info")"
}

# push → rmi → pull, once per manifest format.
test_round_trip() {
  local format=$1 type=$2 repo=e2e/podman tag=$1 digest
  section "push/pull round trip, --format $format"
  load_source
  quiet podman push $TLS --format "$format" --digestfile "$WORK/digest-$format" \
    "$LOCAL" "docker://$REG/$repo:$tag"
  digest=$(cat "$WORK/digest-$format")
  check_pushed "push $format" "$repo" "$tag" "$digest" "$type"

  # Remove every local copy, then pull by tag and by digest.
  quiet podman rmi -f "$LOCAL" "$REG/$repo:$tag" 2>/dev/null || true
  check_fails "push $format: image gone locally before the pull" podman image exists "$REG/$repo:$tag"
  quiet podman pull $TLS "$REG/$repo:$tag"
  check_local "pull $format by tag" "$REG/$repo:$tag" "$digest"
  quiet podman rmi -f "$REG/$repo:$tag"
  quiet podman pull $TLS "$REG/$repo@$digest"
  check_local "pull $format by digest" "$REG/$repo@$digest" "$digest"
}

# load_source: the source image, fresh from its oci-archive, as $LOCAL. (An image pulled as
# schema2 and pushed --format oci would get a rewritten config, so never reuse a pulled one.)
load_source() {
  quiet podman rmi -af
  quiet podman load -i "$ARCHIVE"
  check "load: image ID is the source config digest" "${IMG_AMD64_CONFIG#sha256:}" \
    "$(podman image inspect "$LOCAL" | jq -r '.[0].Id')"
}

# podman search lists repositories from /v2/_catalog and tags from tags/list.
test_search() {
  section "search (catalog and tags)"
  load_source
  quiet podman push $TLS "$LOCAL" "docker://$REG/e2e/other:v1"
  check "search: repositories from the catalog" "$REG/e2e/other $REG/e2e/podman" \
    "$(podman search $TLS --format '{{.Name}}' "$REG/e2e" | LC_ALL=C sort | xargs)"
  check "search --list-tags: tags of e2e/podman" "oci v2s2" \
    "$(podman search $TLS --list-tags --format json "$REG/e2e/podman" | jq -r '.[0].Tags | sort | join(" ")')"
}

start_registry "$KIND" "$WORK/root"
make_test_images "$WORK/img"
# An oci-archive keeps the OCI config bytes; from a docker-archive podman would rewrite the
# config when pushing --format oci (new config digest).
ARCHIVE=$(make_archive oci-archive "$WORK/img" "$LOCAL")

run_test test_login
run_test test_round_trip v2s2 "$V2S2_MANIFEST"
run_test test_round_trip oci "$OCI_MANIFEST"
run_test test_search
run_test test_logout

e2e_done
