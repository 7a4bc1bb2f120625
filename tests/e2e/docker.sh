#!/usr/bin/env bash
# docker (a private dockerd) against a registry: load, tag, push, cross-repository mount,
# pull by tag and digest, platform selection from a multi-arch index.
#   usage: docker.sh berth|reference
# Docker treats 127.0.0.0/8 as an insecure registry: plain HTTP needs no daemon config.
# docker recompresses layers on push, so the checks compare the image ID (config digest),
# the rootfs diff_ids and the digest docker printed with what the registry serves.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND=${1:?usage: docker.sh berth|reference}
e2e_init "$@"

LOCAL=e2e/img:amd64

# push_digest LOG: the manifest digest from `docker push` output ("TAG: digest: sha256:… size: N").
push_digest() { grep -oE 'digest: sha256:[0-9a-f]{64}' "$1" | tail -1 | cut -d' ' -f2; }

# check_image NAME REF CONFIG DIFF_IDS ARCH: the local image REF as docker sees it.
check_image() {
  local name=$1 ref=$2 info
  info=$(dk image inspect "$ref" | jq '.[0]')
  check "$name: image ID is the config digest" "$3" "$(jq -r .Id <<<"$info")"
  check "$name: rootfs diff_ids" "$4" "$(jq -c .RootFS.Layers <<<"$info")"
  check "$name: architecture" "$5" "$(jq -r .Architecture <<<"$info")"
}

test_load() {
  section "docker load"
  local archive
  archive=$(make_archive docker-archive "$WORK/img" "$LOCAL")
  check "load: output" "Loaded image: $LOCAL" "$(dk load -i "$archive" | tail -1)"
  check_image "load" "$LOCAL" "$IMG_AMD64_CONFIG" "$IMG_AMD64_DIFF_IDS" amd64
}

# docker push, then what the registry holds: the digest docker printed, the config bytes,
# layers that decompress to the image's diff_ids.
test_push() {
  section "docker tag / push"
  dk tag "$LOCAL" "$REG/e2e/docker:v1"
  quiet dk push "$REG/e2e/docker:v1"
  cp "$WORK/cmd.log" "$WORK/push1.log"
  PUSHED=$(push_digest "$WORK/push1.log")
  echo "$PUSHED" >"$WORK/pushed.digest"   # for the next tests (each runs in a subshell)
  check "push: printed a digest" yes "$([ -n "$PUSHED" ] && echo yes || echo no)"
  verify_manifest "push" e2e/docker v1 "$PUSHED" "$V2S2_MANIFEST"
  local m=$WORK/pushed.json d diff_ids=()
  curl -sf -H "Accept: $V2S2_MANIFEST" "$REG_URL/v2/e2e/docker/manifests/v1" >"$m"
  check "push: size printed by docker is the manifest's" \
    "$(grep -oE 'size: [0-9]+' "$WORK/push1.log" | tail -1)" "size: $(wc -c <"$m")"
  check "push: manifest config is the image ID" "$IMG_AMD64_CONFIG" "$(jq -r .config.digest "$m")"
  blob_get e2e/docker "$IMG_AMD64_CONFIG" "$WORK/config.json" >/dev/null
  check_cmd "push: config bytes equal the source" cmp "$WORK/config.json" "$(oci_blob "$IMG_OCI" "$IMG_AMD64_CONFIG")"
  for d in $(jq -r '.layers[].digest' "$m"); do
    check "push: GET layer ${d:7:12}" 200 "$(blob_get e2e/docker "$d" "$WORK/layer.gz")"
    check "push: layer ${d:7:12} bytes" "$d" "$(sha "$WORK/layer.gz")"
    diff_ids+=("$(gunzip_sha "$WORK/layer.gz")")
  done
  check "push: layers decompress to the diff_ids" "$IMG_AMD64_DIFF_IDS" \
    "$(printf '%s\n' "${diff_ids[@]}" | jq -Rsc 'split("\n")[:-1]')"

  # The same push again: every layer is found with a HEAD, nothing is sent.
  quiet dk push "$REG/e2e/docker:v1"
  check "push again: every layer already exists" 2 "$(grep -c 'Layer already exists' "$WORK/cmd.log" || true)"
  check "push again: same digest" "$PUSHED" "$(push_digest "$WORK/cmd.log")"
}

# Pushing the image to a second repository: docker knows the layers are in e2e/docker
# and asks for cross-repository mounts; the registry must accept them (201).
test_mount() {
  section "push to a second repository (cross-repository mount)"
  PUSHED=$(cat "$WORK/pushed.digest")
  dk tag "$LOCAL" "$REG/e2e/second:v1"
  quiet dk push "$REG/e2e/second:v1"
  check "mount: 'Mounted from e2e/docker' for each layer" 2 \
    "$(grep -c 'Mounted from e2e/docker' "$WORK/cmd.log" || true)"
  check "mount: same manifest digest" "$PUSHED" "$(push_digest "$WORK/cmd.log")"
  verify_manifest "mount" e2e/second v1 "$PUSHED" "$V2S2_MANIFEST"
  # --all-tags: another tag on the same image.
  dk tag "$LOCAL" "$REG/e2e/second:v2"
  quiet dk push --all-tags "$REG/e2e/second"
  check "push --all-tags: tags/list" '["v1","v2"]' "$(tags_of e2e/second | jq -c sort)"
}

# rmi everything, pull back by tag and by digest: same image ID and diff_ids.
test_pull() {
  section "docker pull"
  PUSHED=$(cat "$WORK/pushed.digest")
  quiet dk rmi "$REG/e2e/docker:v1" "$REG/e2e/second:v1" "$REG/e2e/second:v2" "$LOCAL"
  check_fails "pull: image gone locally before the pull" dk image inspect "$IMG_AMD64_CONFIG"
  quiet dk pull "$REG/e2e/docker:v1"
  check "pull: docker reports the pushed digest" "Digest: $PUSHED" "$(grep -o 'Digest: .*' "$WORK/cmd.log")"
  check_image "pull by tag" "$REG/e2e/docker:v1" "$IMG_AMD64_CONFIG" "$IMG_AMD64_DIFF_IDS" amd64
  check "pull by tag: RepoDigests" "$REG/e2e/docker@$PUSHED" \
    "$(dk image inspect "$REG/e2e/docker:v1" | jq -r '.[0].RepoDigests[0]')"
  quiet dk rmi "$REG/e2e/docker:v1"
  quiet dk pull "$REG/e2e/second@$PUSHED"
  check_image "pull by digest" "$REG/e2e/second@$PUSHED" "$IMG_AMD64_CONFIG" "$IMG_AMD64_DIFF_IDS" amd64
  quiet dk rmi "$REG/e2e/second@$PUSHED"
}

# The OCI multi-arch index (pushed with skopeo): docker picks the child for --platform.
test_platform() {
  section "docker pull --platform from a multi-arch OCI index"
  quiet sk copy --all --dest-tls-verify=false "oci:$IMG_OCI:multi" "docker://$REG/e2e/multi:latest"
  quiet dk pull --platform linux/arm64 "$REG/e2e/multi:latest"
  check "pull --platform linux/arm64: docker reports the index digest" "Digest: $IMG_INDEX" \
    "$(grep -o 'Digest: .*' "$WORK/cmd.log")"
  check_image "pull --platform linux/arm64" "$REG/e2e/multi:latest" "$IMG_ARM64_CONFIG" "$IMG_ARM64_DIFF_IDS" arm64
  check "pull --platform linux/arm64: variant" v8 "$(dk image inspect "$REG/e2e/multi:latest" | jq -r '.[0].Variant')"
  quiet dk rmi "$REG/e2e/multi:latest"

  quiet dk pull --platform linux/amd64 "$REG/e2e/multi:latest"
  check_image "pull --platform linux/amd64" "$REG/e2e/multi:latest" "$IMG_AMD64_CONFIG" "$IMG_AMD64_DIFF_IDS" amd64
  quiet dk rmi "$REG/e2e/multi:latest"

  # A single OCI image manifest by digest (docker must be served the OCI media type).
  quiet dk pull "$REG/e2e/multi@$IMG_ARM64_MANIFEST"
  check_image "pull of the OCI arm64 child by digest" "$REG/e2e/multi@$IMG_ARM64_MANIFEST" \
    "$IMG_ARM64_CONFIG" "$IMG_ARM64_DIFF_IDS" arm64
}

if ! command -v dockerd >/dev/null; then
  skip "docker suite: dockerd is not installed (run tests/e2e/deps.sh)"
  e2e_done
  exit 0
fi
start_registry "$KIND" "$WORK/root"
make_test_images "$WORK/img"
if ! start_dockerd; then
  skip "docker suite: the private dockerd did not start (reason above)"
  e2e_done
  exit 0
fi
run_test test_load
run_test test_push
run_test test_mount
run_test test_pull
run_test test_platform

e2e_done
