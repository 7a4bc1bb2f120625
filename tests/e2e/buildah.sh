#!/usr/bin/env bash
# buildah manifest lists against a registry: create a list, add two architectures, push
# it with --all, and check the index and both children with curl and skopeo.
#   usage: buildah.sh berth|reference
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND=${1:?usage: buildah.sh berth|reference}
e2e_init "$@"

TLS=--tls-verify=false

# index_children REPO REF: "digest arch" per child of the index served under REF.
index_children() {
  curl -sf -H "Accept: $ALL_MANIFESTS" "$REG_URL/v2/$1/manifests/$2" |
    jq -r '.manifests[] | "\(.digest) \(.platform.architecture)"'
}

# A list of the prebuilt OCI test images: buildah keeps the children as they are, so
# the registry must serve exactly the source manifests (and buildah's own index).
test_list_of_oci_images() {
  section "manifest list of the OCI test images, push --all (OCI index)"
  quiet buildah manifest create e2e-oci
  quiet buildah manifest add e2e-oci "oci:$IMG_OCI:amd64"
  quiet buildah manifest add e2e-oci "oci:$IMG_OCI:arm64"
  quiet buildah manifest push --all $TLS --digestfile "$WORK/oci.digest" \
    e2e-oci "docker://$REG/e2e/buildah:oci"
  local digest
  digest=$(cat "$WORK/oci.digest")
  # buildah converts the list to an OCI index because its children are OCI manifests.
  verify_manifest "oci list: index" e2e/buildah oci "$digest" "$OCI_INDEX"
  check "oci list: children (digest arch)" \
    "$IMG_AMD64_MANIFEST amd64 $IMG_ARM64_MANIFEST arm64" "$(index_children e2e/buildah oci | xargs)"
  check "oci list: skopeo inspect --raw digest" "$digest" \
    "sha256:$(sk inspect $TLS --raw "docker://$REG/e2e/buildah:oci" | sha256sum | cut -d' ' -f1)"
  verify_manifest "oci list: amd64 child" e2e/buildah "$IMG_AMD64_MANIFEST" "$IMG_AMD64_MANIFEST" "$OCI_MANIFEST"
  verify_manifest "oci list: arm64 child" e2e/buildah "$IMG_ARM64_MANIFEST" "$IMG_ARM64_MANIFEST" "$OCI_MANIFEST"
  # shellcheck disable=SC2086
  verify_blobs "oci list" e2e/buildah "$IMG_AMD64_CONFIG" $IMG_AMD64_LAYERS "$IMG_ARM64_CONFIG" $IMG_ARM64_LAYERS

  # And back out with skopeo: every child byte-identical to the source.
  quiet sk copy --all --src-tls-verify=false "docker://$REG/e2e/buildah:oci" "oci:$WORK/out:oci"
  check "oci list: index digest copied out" "$digest" "$(oci_ref_digest "$WORK/out" oci)"
  local d
  for d in "$IMG_AMD64_MANIFEST" "$IMG_ARM64_MANIFEST" "$IMG_AMD64_CONFIG" "$IMG_ARM64_CONFIG" \
    $IMG_AMD64_LAYERS $IMG_ARM64_LAYERS; do
    check_cmd "oci list: copied-out blob ${d:7:12} equals the source" \
      cmp "$(oci_blob "$WORK/out" "$d")" "$(oci_blob "$IMG_OCI" "$d")"
  done
}

# build_image ARCH: a from-scratch image built by buildah for ARCH (nothing is run).
build_image() {
  local arch=$1 ctr
  ctr=$(buildah from scratch)
  printf '%s %s\n' "$arch" "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >"$WORK/arch-$arch"
  quiet buildah copy "$ctr" "$WORK/arch-$arch" /etc/e2e-arch
  [ "$arch" = amd64 ] && quiet buildah copy "$ctr" /bin/busybox /bin/busybox
  quiet buildah config --arch "$arch" --os linux --cmd /bin/sh "$ctr"
  quiet buildah commit -q "$ctr" "localhost/e2e/built:$arch"
  quiet buildah rm "$ctr"
}

# A list of images buildah built itself, pushed as a docker manifest list (--format v2s2):
# buildah converts the children to schema2 on the way, so the checks follow the index
# the registry serves down to each child, config and layer.
test_list_of_built_images() {
  section "manifest list of buildah-built images, push --all --format v2s2"
  build_image amd64
  build_image arm64
  local id_amd64 id_arm64
  id_amd64=sha256:$(buildah inspect -t image -f '{{.FromImageID}}' localhost/e2e/built:amd64)
  id_arm64=sha256:$(buildah inspect -t image -f '{{.FromImageID}}' localhost/e2e/built:arm64)
  quiet buildah manifest create e2e-built
  quiet buildah manifest add e2e-built localhost/e2e/built:amd64
  quiet buildah manifest add --arch arm64 --variant v8 e2e-built localhost/e2e/built:arm64
  quiet buildah manifest push --all --format v2s2 $TLS --digestfile "$WORK/built.digest" \
    e2e-built "docker://$REG/e2e/buildah:built"
  local digest
  digest=$(cat "$WORK/built.digest")
  verify_manifest "built list: index" e2e/buildah built "$digest" "$V2S2_LIST"
  check "built list: child architectures" "amd64 arm64" \
    "$(index_children e2e/buildah built | cut -d' ' -f2 | xargs)"

  local child arch id m=$WORK/child.json c=$WORK/child-config.json
  while read -r child arch; do
    [ "$arch" = amd64 ] && id=$id_amd64 || id=$id_arm64
    verify_manifest "built list: $arch child" e2e/buildah "$child" "$child" "$V2S2_MANIFEST"
    curl -sf -H "Accept: $V2S2_MANIFEST" "$REG_URL/v2/e2e/buildah/manifests/$child" >"$m"
    # The image ID is the config digest: it survives the push unchanged.
    check "built list: $arch child config is the local image" "$id" "$(jq -r .config.digest "$m")"
    # shellcheck disable=SC2046
    verify_blobs "built list: $arch" e2e/buildah $(jq -r '.config.digest, .layers[].digest' "$m")
    blob_get e2e/buildah "$id" "$c" >/dev/null
    check "built list: $arch child config architecture" "$arch" "$(jq -r .architecture "$c")"
  done < <(index_children e2e/buildah built)

  # A client picking a platform from that list gets the arm64 image.
  check "built list: skopeo --override-arch arm64 picks the arm64 config" "$id_arm64" \
    "sha256:$(sk --override-arch arm64 inspect $TLS --config --raw "docker://$REG/e2e/buildah:built" | sha256sum | cut -d' ' -f1)"
}

start_registry "$KIND" "$WORK/root"
make_test_images "$WORK/img"
run_test test_list_of_oci_images
run_test test_list_of_built_images
check "tags/list of e2e/buildah" '["built","oci"]' "$(tags_of e2e/buildah | jq -c sort)"

e2e_done
