#!/usr/bin/env bash
# Garbage collection on content made by real pushes (skopeo): berth's `garbage-collect`
# checked file by file against its own dry run, against the digests the pushes produced,
# and against the reference's (distribution 2.8.2) collector on the same root.
#   usage: gc.sh     (always collects with berth and compares with the reference: needs
#                    both $BERTH and the reference; a KIND argument is ignored)
#   1. berth root: a tagged multi-arch index (children untagged), single-arch images, two
#      tags overwritten (untagged manifests), a manifest deleted by digest. With the default
#      grace period the fresh content all stays; with --grace=0 the dry run lists exactly
#      the expected manifests and blobs, the real run removes exactly those (blob
#      directories, revision links, tag-history and layer links, nothing else), the totals
#      lines agree, and every tagged image still pulls byte for byte.
#   2. the guides' read-only procedure: new garbage, berth restarted with
#      storage.maintenance.readonly.enabled, `garbage-collect -m` without --grace collects
#      (grace 0 in read-only mode) while the read-only berth serves pulls, during and after.
#   3. a root written by the reference: the reference's own collector on a copy and berth's
#      on the original leave the same blobs/ and _manifests/ (with and without -m; with -m
#      the differences are exactly the reference 2.8.2 bug on untagged index children),
#      then the reference serves the berth-collected root and pulls everything, and its
#      own dry run finds nothing more to delete.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init "$@"

COPY=(sk copy --src-tls-verify=false --dest-tls-verify=false)
V2=docker/registry/v2   # distribution's layout under rootdirectory

# ---------------------------------------------------------------- helpers

# write_config FILE ROOT PORT READONLY: a config.yml with delete enabled, loopback only.
write_config() {
  cat >"$1" <<EOF
version: 0.1
log:
  level: info
http:
  addr: 127.0.0.1:$3
storage:
  filesystem:
    rootdirectory: $2
  delete:
    enabled: true
  maintenance:
    readonly:
      enabled: $4
EOF
}

# serve KIND CONFIG: start a registry on the port its config names.
serve() {
  local port
  port=$(sed -n 's/^  addr: 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$2")
  start_registry_config "$1" "$2" http "$port"
}

# collect KIND LOG ARGS...: `BIN garbage-collect ARGS...` without any REGISTRY_* variable
# (see start_registry); stdout to LOG, stderr to LOG.err; prints the exit code.
collect() {
  local kind=$1 log=$2 bin v rc=0
  shift 2
  bin=$(registry_bin "$kind")
  local -a clean_env=(-u AWS_CA_BUNDLE)
  for v in $(compgen -e); do [[ $v == REGISTRY_* ]] && clean_env+=(-u "$v"); done
  env "${clean_env[@]}" "$bin" garbage-collect "$@" >"$log" 2>"$log.err" || rc=$?
  if [ "$rc" != 0 ]; then tail -3 "$log.err" | sed 's/^/       /' >&2; fi
  echo "$rc"
}

# The parts of a collection's output:
#   totals LOG      "N blobs marked, M blobs and K manifests eligible for deletion"
#   elig_manifests  "repo@digest" per line. berth prints "manifest eligible for deletion:
#                   repo@digest"; distribution 2.8.2 prints the digest alone, after a line
#                   with the bare repository name.
#   elig_blobs      the "blob eligible for deletion:" digests
#   young LOG       the "N unreferenced items are younger than the grace period" line
totals() { grep -E '^[0-9]+ blobs marked, [0-9]+ blobs and [0-9]+ manifests eligible for deletion$' "$1" || true; }
elig_manifests() {
  awk '/^[^ :]+$/ { repo = $0 }
       /^manifest eligible for deletion: / { d = $NF; if (d !~ /@/) d = repo "@" d; print d }' "$1" |
    LC_ALL=C sort -u
}
elig_blobs() { sed -n 's/^blob eligible for deletion: //p' "$1" | LC_ALL=C sort -u; }
young() { grep -E '^[0-9]+ unreferenced items are younger than the grace period and stay$' "$1" || true; }

# snapshot ROOT OUT: every file under the registry's root, relative to docker/registry/v2.
snapshot() {
  (cd "$1/$V2" && find . -type f | sed 's|^\./||' | LC_ALL=C sort) >"$2"
}
# From a snapshot: stored blobs (digests), revision links and layer links (repo@digest),
# files under _manifests/.
blobs_of() { sed -nE 's|^blobs/sha256/../([0-9a-f]{64})/data$|sha256:\1|p' "$1" | LC_ALL=C sort; }
revisions_of() {
  sed -nE 's|^repositories/(.+)/_manifests/revisions/sha256/([0-9a-f]{64})/link$|\1@sha256:\2|p' "$1" | LC_ALL=C sort
}
layers_of() { sed -nE 's|^repositories/(.+)/_layers/sha256/([0-9a-f]{64})/link$|\1@sha256:\2|p' "$1" | LC_ALL=C sort; }
manifest_files_of() { grep -E '^repositories/.+/_manifests/' "$1" | LC_ALL=C sort || true; }

# lines_minus A B: lines of file A not in file B.
lines_minus() { LC_ALL=C comm -23 <(LC_ALL=C sort -u "$1") <(LC_ALL=C sort -u "$2"); }

# check_set NAME EXPECTED_FILE ACTUAL_FILE: the two files hold the same set of lines.
check_set() {
  local name=$1 e=$WORK/set.expected a=$WORK/set.actual
  LC_ALL=C sort -u "$2" | sed '/^$/d' >"$e"
  LC_ALL=C sort -u "$3" | sed '/^$/d' >"$a"
  if cmp -s "$e" "$a"; then
    ok "$name ($(wc -l <"$e") items)"
  else
    not_ok "$name"
    LC_ALL=C comm -23 "$e" "$a" | head -8 | sed 's/^/       missing: /'
    LC_ALL=C comm -13 "$e" "$a" | head -8 | sed 's/^/       extra:   /'
  fi
}

# Test image sets (digests from each set's images.json, see mkimages.py).
#   A  the multi-arch index (tagged), its amd64 child also tagged elsewhere (OCI and docker
#      schema2); its arm64 child only untagged outside the index
#   B  amd64 pushed to a tag then replaced by arm64: amd64 B becomes untagged garbage
#   C  amd64 pushed then deleted by digest
#   D  the same as B, pushed later (for the read-only collection)
img() { jq -r "$2" "$1/oci/images.json"; }
# image_blobs SET ARCH: the manifest, config and layer digests of one image.
image_blobs() { jq -r --arg a "$2" '.[$a] | .manifest, .config, .layers[]' "$1/oci/images.json"; }
# image_own_blobs SET ARCH: the config and layers.
image_own_blobs() { jq -r --arg a "$2" '.[$a] | .config, .layers[]' "$1/oci/images.json"; }

# populate: the content every section starts from, pushed with skopeo into $REG; the
# deletion as the user guides do it (HEAD with the Accept header for the digest, DELETE).
populate() {
  quiet "${COPY[@]}" --all "oci:$IMG_OCI:multi" "docker://$REG/e2e/multi:latest"
  quiet "${COPY[@]}" "oci:$IMG_OCI:amd64" "docker://$REG/e2e/app:v1"
  quiet "${COPY[@]}" "dir:$IMG_V2S2" "docker://$REG/e2e/app:v2s2"
  # app:old first names the arm64 child of the index, then amd64: arm64 A becomes an
  # untagged manifest of e2e/app whose blobs the index in e2e/multi still needs.
  quiet "${COPY[@]}" "oci:$IMG_OCI:arm64" "docker://$REG/e2e/app:old"
  quiet "${COPY[@]}" "oci:$IMG_OCI:amd64" "docker://$REG/e2e/app:old"
  quiet "${COPY[@]}" "oci:$SET_B/oci:amd64" "docker://$REG/e2e/app:stable"
  quiet "${COPY[@]}" "oci:$SET_B/oci:arm64" "docker://$REG/e2e/app:stable"
  quiet "${COPY[@]}" "oci:$SET_C/oci:amd64" "docker://$REG/e2e/gone:v1"
  local s d
  s=$(fetch HEAD "$REG_URL/v2/e2e/gone/manifests/v1" -H "Accept: $OCI_MANIFEST")
  d=$(header_of "$WORK/r.hdr" Docker-Content-Digest)
  check "populate: HEAD e2e/gone:v1" 200 "$s"
  check "populate: HEAD e2e/gone:v1 gives the pushed digest" "$(img "$SET_C" .amd64.manifest)" "$d"
  s=$(fetch DELETE "$REG_URL/v2/e2e/gone/manifests/$d")
  check "populate: DELETE e2e/gone@digest" 202 "$s"
  check "populate: e2e/app tags" '["old","stable","v1","v2s2"]' "$(tags_of e2e/app | jq -c sort)"
  local got
  read -r -a got <<<"$(manifest_get e2e/app old "$WORK/manifest.body")"
  check "populate: e2e/app:old is now amd64 A" "$IMG_AMD64_MANIFEST" "${got[1]:-}"
  check "populate: e2e/app still holds arm64 A, untagged" 200 \
    "$(http_status GET "$REG_URL/v2/e2e/app/manifests/$IMG_ARM64_MANIFEST")"
}

# expected_garbage DIR: what berth's `garbage-collect -m` must find in a populated root:
#   DIR/manifests  untagged manifests: e2e/app@amd64 B. Not the index's children in
#                  e2e/multi, and not e2e/app@arm64 A either: untagged in e2e/app, but its
#                  digest is a child of the tagged index (berth, like distribution 3's
#                  unmarkReferencedManifest, spares every manifest whose digest was marked;
#                  distribution 2.8.2 removes it, and the children too, see section 3)
#   DIR/blobs      blobs nothing tagged reaches: amd64 B and amd64 C (manifest, config,
#                  layers); arm64 A's manifest and blobs stay, the index needs them
#   DIR/blobs-all  without -m: only those of the deleted manifest (amd64 C)
expected_garbage() {
  mkdir -p "$1"
  echo "e2e/app@$(img "$SET_B" .amd64.manifest)" >"$1/manifests"
  { image_blobs "$SET_B" amd64; image_blobs "$SET_C" amd64; } >"$1/blobs"
  image_blobs "$SET_C" amd64 >"$1/blobs-all"
}

# verify_all LABEL: every tagged image of populate, pulled with skopeo and compared byte for
# byte with its source, and the collected manifests and blobs no longer served.
verify_all() {
  local p=$1 out d
  out=$(mktemp -d "$WORK/out.XXXXXX")
  verify_index "$p e2e/multi:latest" e2e/multi latest
  quiet "${COPY[@]}" --all "docker://$REG/e2e/multi:latest" "oci:$out/multi:latest"
  check "$p skopeo copy --all e2e/multi:latest: index digest" "$IMG_INDEX" "$(oci_ref_digest "$out/multi" latest)"
  # shellcheck disable=SC2086 # word splitting of the layer lists is intended
  for d in "$IMG_INDEX" "$IMG_AMD64_MANIFEST" "$IMG_ARM64_MANIFEST" "$IMG_AMD64_CONFIG" \
    "$IMG_ARM64_CONFIG" $IMG_AMD64_LAYERS $IMG_ARM64_LAYERS; do
    check_cmd "$p e2e/multi pull: ${d:7:12} bytes equal the source" \
      cmp "$(oci_blob "$out/multi" "$d")" "$(oci_blob "$IMG_OCI" "$d")"
  done
  quiet "${COPY[@]}" "docker://$REG/e2e/app:v1" "oci:$out/v1:v1"
  verify_oci_copy "$p e2e/app:v1" "$out/v1" v1 "$IMG_OCI" "$IMG_AMD64_MANIFEST"
  quiet "${COPY[@]}" "docker://$REG/e2e/app:old" "oci:$out/old:old"
  verify_oci_copy "$p e2e/app:old" "$out/old" old "$IMG_OCI" "$IMG_AMD64_MANIFEST"
  verify_manifest "$p e2e/app:v2s2" e2e/app v2s2 "$IMG_V2S2_MANIFEST" "$V2S2_MANIFEST"
  quiet "${COPY[@]}" "docker://$REG/e2e/app:v2s2" "dir:$out/v2s2"
  verify_dir_copy "$p e2e/app:v2s2" "$out/v2s2" "$IMG_V2S2"
  quiet "${COPY[@]}" "docker://$REG/e2e/app:stable" "oci:$out/stable:stable"
  verify_oci_copy "$p e2e/app:stable" "$out/stable" stable "$SET_B/oci" "$(img "$SET_B" .arm64.manifest)"

  check "$p untagged e2e/app@arm64 A stays (a child of the tagged index in e2e/multi)" 200 \
    "$(http_status GET "$REG_URL/v2/e2e/app/manifests/$IMG_ARM64_MANIFEST")"
  check "$p untagged e2e/app@amd64 B is gone" 404 \
    "$(http_status GET "$REG_URL/v2/e2e/app/manifests/$(img "$SET_B" .amd64.manifest)")"
  d=$(img "$SET_B" '.amd64.layers[1]')
  check "$p amd64 B's layer ${d:7:12} is gone" 404 "$(blob_get e2e/app "$d" "$WORK/blob.body")"
  d=$(img "$SET_C" '.amd64.layers[1]')
  check "$p deleted amd64 C's layer ${d:7:12} is gone" 404 "$(blob_get e2e/gone "$d" "$WORK/blob.body")"
  d=$(img "$SET_C" .amd64.config)
  check "$p deleted amd64 C's config is gone" 404 "$(blob_get e2e/gone "$d" "$WORK/blob.body")"
}

# ---------------------------------------------------------------- 1. berth

test_berth_gc() {
  section "1. berth: collection of content pushed with skopeo"
  local root=$WORK/root1 cfg=$WORK/gc1.yml g=$WORK/gc1 rc
  mkdir -p "$g"
  write_config "$cfg" "$root" "$(free_port)" false
  serve berth "$cfg"
  populate
  stop_registry "$REG_PID"
  expected_garbage "$g/expected"
  snapshot "$root" "$g/s0"
  check "the root holds every expected garbage blob before collection" "" \
    "$(lines_minus "$g/expected/blobs" <(blobs_of "$g/s0"))"

  # The default grace period (1h, config not read-only): everything was written seconds
  # ago, so nothing goes, and the output says why.
  rc=$(collect berth "$g/default.log" -m "$cfg")
  check "garbage-collect -m (default grace): exit code" 0 "$rc"
  snapshot "$root" "$g/s1"
  check_set "garbage-collect -m (default grace): every file stays" "$g/s0" "$g/s1"
  check "garbage-collect -m (default grace): says unreferenced content is younger than the grace" \
    yes "$([ -n "$(young "$g/default.log")" ] && echo yes || echo no)"
  echo "#   $(young "$g/default.log")"
  check "garbage-collect -m (default grace): no manifest eligible" "" "$(elig_manifests "$g/default.log")"

  # Without -m: only what the deleted manifest left.
  rc=$(collect berth "$g/dry-all.log" --dry-run --grace=0 "$cfg")
  check "garbage-collect --dry-run --grace=0: exit code" 0 "$rc"
  check "garbage-collect --dry-run --grace=0: totals line" \
    "$(($(blobs_of "$g/s0" | wc -l) - 4)) blobs marked, 4 blobs and 0 manifests eligible for deletion" \
    "$(totals "$g/dry-all.log")"
  check "garbage-collect --dry-run --grace=0: no manifest eligible" "" "$(elig_manifests "$g/dry-all.log")"

  # The dry run of -m: exactly the expected manifests; nothing deleted.
  rc=$(collect berth "$g/dry.log" -m --dry-run --grace=0 "$cfg")
  check "garbage-collect -m --dry-run --grace=0: exit code" 0 "$rc"
  elig_manifests "$g/dry.log" >"$g/dry.manifests"
  check "dry run: no child of the tagged index is listed as eligible" "" \
    "$(grep -E "^e2e/multi@|@($IMG_AMD64_MANIFEST|$IMG_ARM64_MANIFEST)$" "$g/dry.manifests" | tr '\n' ' ' || true)"
  local nblobs want_totals
  nblobs=$(blobs_of "$g/s0" | wc -l)
  want_totals="$((nblobs - 8)) blobs marked, 8 blobs and 1 manifests eligible for deletion"
  check "dry run: totals line" "$want_totals" "$(totals "$g/dry.log")"
  # berth's dry run lists no blobs (distribution's prints "blob eligible for deletion"
  # in dry runs too): when it does, they must be the expected ones.
  elig_blobs "$g/dry.log" >"$g/dry.blobs"
  if [ -s "$g/dry.blobs" ]; then
    check_set "dry run: 'blob eligible for deletion' lines" "$g/expected/blobs" "$g/dry.blobs"
  else
    echo "#   the dry run lists no blobs; the real run's list is checked against the expected digests"
  fi
  snapshot "$root" "$g/s2"
  check_set "dry run: every file stays" "$g/s0" "$g/s2"

  # The real run.
  rc=$(collect berth "$g/real.log" -m --grace=0 "$cfg")
  check "garbage-collect -m --grace=0: exit code" 0 "$rc"
  snapshot "$root" "$g/s3"
  check "real run: totals line equals the dry run's" "$(totals "$g/dry.log")" "$(totals "$g/real.log")"
  elig_manifests "$g/real.log" >"$g/real.manifests"
  check_set "real run: eligible manifests equal the dry run's" "$g/dry.manifests" "$g/real.manifests"
  elig_blobs "$g/real.log" >"$g/real.blobs"
  check_set "real run: 'blob eligible for deletion' lines are the expected blobs" "$g/expected/blobs" "$g/real.blobs"
  check "real run: nothing spared as young (--grace=0)" "" "$(young "$g/real.log")"
  lines_minus <(blobs_of "$g/s2") <(blobs_of "$g/s3") >"$g/removed.blobs"
  check_set "real run: blob directories removed = the eligible blobs" "$g/real.blobs" "$g/removed.blobs"
  check "real run: blobs removed = the totals line's count" \
    "$(sed -nE 's/^.* marked, ([0-9]+) blobs and .*$/\1/p' <<<"$(totals "$g/dry.log")")" "$(wc -l <"$g/removed.blobs")"
  lines_minus <(revisions_of "$g/s2") <(revisions_of "$g/s3") >"$g/removed.revisions"
  check_set "real run: revision links removed = the untagged manifests" \
    "$g/expected/manifests" "$g/removed.revisions"
  check_set "real run: revision links removed = the dry run's eligible manifests" \
    "$g/dry.manifests" "$g/removed.revisions"
  check "real run: blobs marked = blobs left" \
    "$(sed -nE 's/^([0-9]+) blobs marked.*$/\1/p' <<<"$(totals "$g/real.log")")" "$(blobs_of "$g/s3" | wc -l)"
  check "real run: the index's children keep their revision links in e2e/multi" 2 \
    "$(revisions_of "$g/s3" | grep -cxE "e2e/multi@($IMG_AMD64_MANIFEST|$IMG_ARM64_MANIFEST)" || true)"
  check "real run: e2e/app@arm64 A keeps its revision link (its digest is the index's child)" 1 \
    "$(revisions_of "$g/s3" | grep -cxE "e2e/app@$IMG_ARM64_MANIFEST" || true)"
  check "real run: no file appeared" "" "$(lines_minus "$g/s3" "$g/s2")"
  # Every removed file is the data of an eligible blob, the revision link or a tag-history
  # link (and berth's history file beside it) of an eligible manifest, or a layer link to
  # an eligible blob.
  local allowed=$g/allowed d r
  {
    while read -r d; do echo "blobs/sha256/${d:7:2}/${d#sha256:}/data"; done <"$g/expected/blobs"
    while read -r r; do
      echo "repositories/${r%@*}/_manifests/revisions/sha256/${r#*@sha256:}/link"
      grep -E "^repositories/${r%@*}/_manifests/tags/[^/]+/index/sha256/${r#*@sha256:}/(link|history)$" "$g/s2" || true
    done <"$g/expected/manifests"
    grep -E "^repositories/.+/_layers/sha256/[0-9a-f]{64}/link$" "$g/s2" |
      grep -F -f <(sed 's/^sha256://' "$g/expected/blobs") || true
  } >"$allowed"
  check_set "real run: files removed = blob data, revision, tag-history and layer links of the eligible" \
    "$allowed" <(lines_minus "$g/s2" "$g/s3")
  check "real run: the tag history of e2e/app:stable lost amd64 B" "" \
    "$(grep -E "^repositories/e2e/app/_manifests/tags/stable/index/sha256/$(img "$SET_B" .amd64.manifest | cut -c8-)/link$" "$g/s3" || true)"

  # A second run finds nothing.
  rc=$(collect berth "$g/again.log" -m --dry-run --grace=0 "$cfg")
  check "second dry run: nothing more eligible" \
    "$(blobs_of "$g/s3" | wc -l) blobs marked, 0 blobs and 0 manifests eligible for deletion" "$(totals "$g/again.log")"

  serve berth "$cfg"
  verify_all "1. berth after collection:"
  check "1. berth after collection: e2e/app tags" '["old","stable","v1","v2s2"]' "$(tags_of e2e/app | jq -c sort)"
  stop_registry "$REG_PID"
}

# ---------------------------------------------------------------- 2. read-only procedure

# puller STOPFILE LOG: GETs the index and the biggest layer of A until STOPFILE exists
# (and at least 3 times), one line per request: "STATUS DIGEST-OF-BODY".
puller() {
  local stop=$1 log=$2 n=0 body big
  body=$(mktemp "$WORK/pull.XXXXXX")
  big=$(img "$SET_A" '.amd64.layers[1]')
  while [ ! -e "$stop" ] || [ "$n" -lt 3 ]; do
    echo "$(curl -s -o "$body" -w '%{http_code}' -H "Accept: $ALL_MANIFESTS" \
      "$REG_URL/v2/e2e/multi/manifests/latest") $(sha "$body") index" >>"$log"
    echo "$(curl -s -o "$body" -w '%{http_code}' "$REG_URL/v2/e2e/app/blobs/$big") $(sha "$body") layer" >>"$log"
    n=$((n + 1))
  done
}

test_readonly_gc() {
  section "2. the guides' procedure: read-only berth, garbage-collect -m without --grace"
  local root=$WORK/root1 cfg=$WORK/gc1.yml ro=$WORK/gc1-ro.yml g=$WORK/gc2 rc s
  mkdir -p "$g/expected"
  # New garbage in the collected root: app:next = amd64 D, then arm64 D.
  serve berth "$cfg"
  quiet "${COPY[@]}" "oci:$SET_D/oci:amd64" "docker://$REG/e2e/app:next"
  quiet "${COPY[@]}" "oci:$SET_D/oci:arm64" "docker://$REG/e2e/app:next"
  stop_registry "$REG_PID"
  echo "e2e/app@$(img "$SET_D" .amd64.manifest)" >"$g/expected/manifests"
  image_blobs "$SET_D" amd64 >"$g/expected/blobs"

  write_config "$ro" "$root" "$(free_port)" true
  serve berth "$ro"
  s=$(fetch POST "$REG_URL/v2/e2e/app/blobs/uploads/")
  check "read-only: a push is refused (POST upload)" 405 "$s"
  snapshot "$root" "$g/s0"

  local stop=$WORK/stop-puller plog=$WORK/puller.log pid
  rm -f "$stop" "$plog"
  puller "$stop" "$plog" &
  pid=$!
  track_pid "$pid"
  wait_file_lines "$plog" 2
  rc=$(collect berth "$g/gc.log" -m "$ro")
  touch "$stop"
  wait "$pid" || true
  forget_pid "$pid"
  check "garbage-collect -m on the read-only config: exit code" 0 "$rc"
  snapshot "$root" "$g/s1"
  check "read-only config: grace 0, nothing spared as young" "" "$(young "$g/gc.log")"
  elig_manifests "$g/gc.log" >"$g/manifests"
  check_set "read-only config: 'manifest eligible for deletion' lines = the untagged manifest" \
    "$g/expected/manifests" "$g/manifests"
  check "read-only config: totals line" \
    "$(($(blobs_of "$g/s0" | wc -l) - 4)) blobs marked, 4 blobs and 1 manifests eligible for deletion" \
    "$(totals "$g/gc.log")"
  lines_minus <(blobs_of "$g/s0") <(blobs_of "$g/s1") >"$g/removed.blobs"
  check_set "read-only config: blob directories removed = amd64 D's" "$g/expected/blobs" "$g/removed.blobs"
  lines_minus <(revisions_of "$g/s0") <(revisions_of "$g/s1") >"$g/removed.revisions"
  check_set "read-only config: revision links removed" "$g/expected/manifests" "$g/removed.revisions"

  # The pulls that ran across the collection all got the right bytes.
  local n bad
  n=$(wc -l <"$plog")
  bad=$(grep -vxE "200 ($IMG_INDEX index|$(img "$SET_A" '.amd64.layers[1]') layer)" "$plog" | head -3 || true)
  check "read-only berth served pulls during the collection ($n requests): all 200 with the right bytes" "" "$bad"

  verify_all "2. read-only berth after collection:"
  quiet "${COPY[@]}" "docker://$REG/e2e/app:next" "oci:$g/next:next"
  verify_oci_copy "2. read-only berth after collection: e2e/app:next" "$g/next" next "$SET_D/oci" \
    "$(img "$SET_D" .arm64.manifest)"
  check "2. read-only berth after collection: untagged e2e/app@amd64 D is gone" 404 \
    "$(http_status GET "$REG_URL/v2/e2e/app/manifests/$(img "$SET_D" .amd64.manifest)")"
  check "2. read-only berth after collection: amd64 D's layer is gone" 404 \
    "$(blob_get e2e/app "$(img "$SET_D" '.amd64.layers[1]')" "$WORK/blob.body")"
  stop_registry "$REG_PID"
}

# wait_file_lines FILE N: until FILE has N lines (at most 30 s).
wait_file_lines() {
  local i
  for ((i = 0; i < 300; i++)); do
    [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- 3. reference root

test_reference_root() {
  section "3. a root written by the reference: berth's collection vs the reference's"
  local root=$WORK/root3 g=$WORK/gc3 rc k
  mkdir -p "$g"
  write_config "$g/ref.yml" "$root" "$(free_port)" false
  serve reference "$g/ref.yml"
  populate
  stop_registry "$REG_PID"
  expected_garbage "$g/expected"
  snapshot "$root" "$g/s0"
  # Four copies: the reference's and berth's collector, each with and without -m.
  for k in ref-m ref-all berth-all; do
    cp -a "$root" "$root-$k"
    write_config "$g/$k.yml" "$root-$k" "$(free_port)" false
  done
  rc=$(collect reference "$g/ref-m.log" --delete-untagged "$g/ref-m.yml")
  check "reference garbage-collect --delete-untagged: exit code" 0 "$rc"
  rc=$(collect reference "$g/ref-all.log" "$g/ref-all.yml")
  check "reference garbage-collect: exit code" 0 "$rc"
  rc=$(collect berth "$g/berth-m.log" -m --grace=0 "$g/ref.yml")
  check "berth garbage-collect -m --grace=0 (reference's root): exit code" 0 "$rc"
  rc=$(collect berth "$g/berth-all.log" --grace=0 "$g/berth-all.yml")
  check "berth garbage-collect --grace=0 (reference's root): exit code" 0 "$rc"
  snapshot "$root" "$g/berth-m"
  for k in ref-m ref-all berth-all; do snapshot "$root-$k" "$g/$k"; done

  # Without -m the two collectors agree exactly. The manifest deleted through the API is
  # the delicate part: the reference deletes only its revision's `link` file and leaves
  # the empty directory _manifests/revisions/sha256/<hex>/ behind; that is no revision.
  check_set "without -m: the reference removed the deleted manifest's blobs" "$g/expected/blobs-all" \
    <(lines_minus <(blobs_of "$g/s0") <(blobs_of "$g/ref-all"))
  check_set "without -m: berth's blobs/ = the reference's (the deleted manifest's blobs go)" \
    <(grep '^blobs/' "$g/ref-all") <(grep '^blobs/' "$g/berth-all")
  check_set "without -m: the same _manifests/ files" <(manifest_files_of "$g/ref-all") <(manifest_files_of "$g/berth-all")
  check "without -m: the same totals line" "$(totals "$g/ref-all.log")" "$(totals "$g/berth-all.log")"

  # With -m, distribution 2.8.2 treats the untagged children of a tagged index as untagged
  # manifests: it removes their revision links and the blobs only they reference (so the
  # reference's own collection breaks e2e/multi's arm64 image; distribution 3 spares every
  # manifest whose digest was marked). berth keeps them, and e2e/app@arm64 A (same digest
  # as the arm64 child) with its tag-history entry. Everything else must be the same.
  local child_blobs=$g/child-only arm=${IMG_ARM64_MANIFEST#sha256:}
  image_own_blobs "$SET_A" arm64 >"$child_blobs"
  check_set "with -m: berth's blobs = the reference's + the blobs only the index's arm64 child references" \
    <(cat <(blobs_of "$g/ref-m") "$child_blobs") <(blobs_of "$g/berth-m")
  check_set "with -m: berth's _manifests = the reference's + the links of the index's children and of e2e/app@arm64 A" \
    <(manifest_files_of "$g/ref-m"
      printf 'repositories/e2e/multi/_manifests/revisions/sha256/%s/link\n' "${IMG_AMD64_MANIFEST#sha256:}" "$arm"
      grep -E "^repositories/e2e/app/_manifests/(revisions|tags/[^/]+/index)/sha256/$arm/link$" "$g/s0") \
    <(manifest_files_of "$g/berth-m")
  check_set "with -m: berth's 'manifest eligible for deletion' lines = the untagged manifests" \
    "$g/expected/manifests" <(elig_manifests "$g/berth-m.log")
  check_set "with -m: the reference's eligible manifests = berth's + e2e/app@arm64 A + the index's two children" \
    <(cat "$g/expected/manifests"; echo "e2e/app@$IMG_ARM64_MANIFEST"
      echo "e2e/multi@$IMG_AMD64_MANIFEST"; echo "e2e/multi@$IMG_ARM64_MANIFEST") \
    <(elig_manifests "$g/ref-m.log")
  check_set "with -m: berth removed exactly the expected blobs" "$g/expected/blobs" \
    <(lines_minus <(blobs_of "$g/s0") <(blobs_of "$g/berth-m"))
  check_set "with -m: berth's 'blob eligible for deletion' lines = the blob directories it removed" \
    <(lines_minus <(blobs_of "$g/s0") <(blobs_of "$g/berth-m")) <(elig_blobs "$g/berth-m.log")

  # Layer links: the reference leaves them (dangling when their blob goes); berth removes
  # those of the blobs it collects, and only those.
  check_set "the reference leaves every layer link" <(layers_of "$g/s0") <(layers_of "$g/ref-m")
  local k2
  for k2 in berth-m berth-all; do
    check_set "berth ($k2) keeps exactly the layer links whose blob stays" \
      <(layers_of "$g/s0" | while IFS=@ read -r repo d; do
          blobs_of "$g/$k2" | grep -qx "$d" && echo "$repo@$d"; done) \
      <(layers_of "$g/$k2")
  done

  # berth finds nothing more to collect on the reference's results.
  rc=$(collect berth "$g/berth-on-ref-all.log" --dry-run --grace=0 "$g/ref-all.yml")
  check "berth --dry-run on the reference-collected root: nothing eligible" \
    "0 blobs and 0 manifests" "$(totals "$g/berth-on-ref-all.log" | sed -nE 's/^.* marked, (.*) eligible for deletion$/\1/p')"
  rc=$(collect berth "$g/berth-on-ref-m.log" -m --dry-run --grace=0 "$g/ref-m.yml")
  check "berth -m --dry-run on the reference's -m root: nothing eligible" \
    "0 blobs and 0 manifests" "$(totals "$g/berth-on-ref-m.log" | sed -nE 's/^.* marked, (.*) eligible for deletion$/\1/p')"

  # The reference serves the berth-collected root: everything tagged pulls, byte for byte.
  serve reference "$g/ref.yml"
  verify_all "3. reference serving berth's -m collection:"
  check "3. reference serving berth's -m collection: e2e/app tags" '["old","stable","v1","v2s2"]' \
    "$(tags_of e2e/app | jq -c sort)"
  stop_registry "$REG_PID"

  # And the reference's own dry run finds nothing more to delete (without -m; with -m only
  # what its index-children bug above would take).
  rc=$(collect reference "$g/ref-after.log" --dry-run "$g/ref.yml")
  check "reference --dry-run on berth's collection: exit code" 0 "$rc"
  check "reference --dry-run on berth's collection: 0 blobs and 0 manifests eligible" \
    "$(blobs_of "$g/berth-m" | wc -l) blobs marked, 0 blobs and 0 manifests eligible for deletion" \
    "$(totals "$g/ref-after.log")"
  rc=$(collect reference "$g/ref-after-m.log" --dry-run --delete-untagged "$g/ref.yml")
  check_set "reference --dry-run --delete-untagged on berth's collection: only the index children's own blobs (its bug)" \
    "$child_blobs" <(elig_blobs "$g/ref-after-m.log")
  check_set "reference --dry-run --delete-untagged on berth's collection: only the index's children (and e2e/app@arm64 A) as manifests" \
    <(echo "e2e/multi@$IMG_AMD64_MANIFEST"; echo "e2e/multi@$IMG_ARM64_MANIFEST"; echo "e2e/app@$IMG_ARM64_MANIFEST") \
    <(elig_manifests "$g/ref-after-m.log")
  snapshot "$root" "$g/berth-m-after"
  check_set "the reference's dry runs deleted nothing" "$g/berth-m" "$g/berth-m-after"
}

# ---------------------------------------------------------------- main

for kind in berth reference; do
  bin=$(registry_bin "$kind")
  [ -x "$bin" ] || { echo "registry binary for '$kind' not found or not executable: $bin" >&2; exit 1; }
done
make_test_images "$WORK/img-a"
for s in b c d; do python3 "$E2E_DIR/mkimages.py" "$WORK/img-$s/oci"; done
SET_A=$WORK/img-a SET_B=$WORK/img-b SET_C=$WORK/img-c SET_D=$WORK/img-d

run_test test_berth_gc
run_test test_readonly_gc
run_test test_reference_root

e2e_done
