#!/usr/bin/env bash
# berth on S3 (a garage on loopback), with real clients, and bucket compatibility with the
# reference (distribution 2.8.2 and its s3 driver): a bucket written by one is served, byte
# for byte, by the other, and stays writable.
#   usage: s3.sh          (needs BERTH, the reference and garage: $GARAGE, PATH or
#                          target/tools/bin/garage, installed by deps.sh)
#   1. the reference pushes into the bucket, berth serves it, adds a tag and a repository,
#      the reference serves it all again; 2. the other way round, in a fresh bucket prefix.
#   3. a chunked upload through skopeo of a multi-megabyte layer, pulled back.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init "$@"

TLS=--tls-verify=false
COPY=(sk copy --src-tls-verify=false --dest-tls-verify=false)

# start_on_s3 KIND ROOTDIRECTORY: KIND serving the bucket below ROOTDIRECTORY.
start_on_s3() {
  local kind=$1 root=$2 port cfg
  port=$(free_port)
  cfg=$WORK/$kind-s3-$port.yml
  cat >"$cfg" <<EOF
version: 0.1
log:
  level: info
http:
  addr: 127.0.0.1:$port
  secret: e2e-s3-secret
storage:
$(s3_storage_yaml "$root")
  delete:
    enabled: true
EOF
  start_registry_config "$kind" "$cfg" http "$port"
  wait_http "$REG_URL/v2/" 30 "$REG_PID"
}

populate() {
  local t
  for t in v1 v2; do
    quiet "${COPY[@]}" "oci:$IMG_OCI:amd64" "docker://$REG/e2e/oci:$t"
  done
  quiet "${COPY[@]}" "dir:$IMG_V2S2" "docker://$REG/e2e/v2s2:v1"
  quiet "${COPY[@]}" --all "oci:$IMG_OCI:multi" "docker://$REG/e2e/multi:latest"
}

verify() {
  local p=$1 out
  out=$(mktemp -d "$WORK/out.XXXXXX")/layout
  verify_pushed_images "$p" "$out"
  check "$p tags/list e2e/oci" '["v1","v2"]' "$(tags_of e2e/oci | jq -c sort)"
  check "$p _catalog" '["e2e/multi","e2e/oci","e2e/v2s2"]' "$(curl -sf "$REG_URL/v2/_catalog" | jq -c .repositories)"
}

direction() {
  local first=$1 second=$2 root=/$1-first
  section "bucket written by $first, served by $second"
  make_test_images "$WORK/img-$first"
  start_on_s3 "$first" "$root"
  populate
  stop_registry "$REG_PID"
  start_on_s3 "$second" "$root"
  verify "$first->$second:"
  quiet "${COPY[@]}" "docker://$REG/e2e/oci:v1" "docker://$REG/e2e/oci:added"
  quiet "${COPY[@]}" --all "docker://$REG/e2e/multi:latest" "docker://$REG/e2e/added:latest"
  stop_registry "$REG_PID"
  start_on_s3 "$first" "$root"
  verify_manifest "$first->$second->$first: new tag" e2e/oci added "$IMG_AMD64_MANIFEST" "$OCI_MANIFEST"
  verify_index "$first->$second->$first: new repo" e2e/added latest
  stop_registry "$REG_PID"
}

# big_layer: a 24 MiB layer (skopeo sends it as one stream: multipart parts), pulled back.
big_layer() {
  local src=$WORK/big out=$WORK/big-out
  section "a 24 MiB layer through berth on S3"
  mkdir -p "$src"
  head -c $((24 * 1024 * 1024)) /dev/urandom >"$src/layer"
  python3 - "$src" <<'EOF'
import hashlib, json, os, sys
d = sys.argv[1]
layer = open(os.path.join(d, "layer"), "rb").read()
config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
def put(data):
    h = hashlib.sha256(data).hexdigest()
    open(os.path.join(d, h), "wb").write(data)
    return {"digest": "sha256:" + h, "size": len(data)}
m = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
     "config": dict(put(config), mediaType="application/vnd.docker.container.image.v1+json"),
     "layers": [dict(put(layer), mediaType="application/vnd.docker.image.rootfs.diff.tar.gzip")]}
open(os.path.join(d, "manifest.json"), "w").write(json.dumps(m))
open(os.path.join(d, "version"), "w").write("Directory Transport Version: 1.1\n")
os.remove(os.path.join(d, "layer"))
EOF
  start_on_s3 berth /big
  # --preserve-digests: the layer is random bytes, not gzip, and must go as it is.
  quiet "${COPY[@]}" --preserve-digests "dir:$src" "docker://$REG/e2e/big:v1"
  quiet "${COPY[@]}" --preserve-digests "docker://$REG/e2e/big:v1" "dir:$out"
  verify_dir_copy "24 MiB layer pull" "$out" "$src"
  stop_registry "$REG_PID"
}

if [ ! -x "$GARAGE" ]; then
  skip "no garage binary ($GARAGE): run tests/e2e/deps.sh"
else
  start_garage
  run_test direction reference berth
  run_test direction berth reference
  run_test big_layer
fi

e2e_done
