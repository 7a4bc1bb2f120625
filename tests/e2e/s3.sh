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

GARAGE=${GARAGE:-$(command -v garage || echo "$REPO_ROOT/target/tools/bin/garage")}
TLS=--tls-verify=false
COPY=(sk copy --src-tls-verify=false --dest-tls-verify=false)
ACCESS=GK0123456789abcdef01234567
SECRET=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
BUCKET=berth-e2e

# start_garage: a single-node garage with the bucket, S3 on 127.0.0.1:$S3_PORT.
start_garage() {
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
  GARAGE_DEFAULT_ACCESS_KEY=$ACCESS GARAGE_DEFAULT_SECRET_KEY=$SECRET GARAGE_DEFAULT_BUCKET=$BUCKET \
    "$GARAGE" -c "$dir/garage.toml" server --single-node --default-bucket >"$dir/log" 2>&1 &
  GARAGE_PID=$!
  track_pid "$GARAGE_PID"
  wait_http "http://127.0.0.1:$admin/health" 30 "$GARAGE_PID" || { tail -20 "$dir/log" >&2; return 1; }
  echo "# garage on 127.0.0.1:$S3_PORT (pid $GARAGE_PID)"
}

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
  s3:
    region: garage
    regionendpoint: http://127.0.0.1:$S3_PORT
    forcepathstyle: true
    bucket: $BUCKET
    accesskey: $ACCESS
    secretkey: $SECRET
    secure: false
    rootdirectory: $root
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
  verify_manifest "$p oci" e2e/oci v1 "$IMG_AMD64_MANIFEST" "$OCI_MANIFEST"
  # shellcheck disable=SC2086
  verify_blobs "$p oci" e2e/oci "$IMG_AMD64_CONFIG" $IMG_AMD64_LAYERS
  quiet "${COPY[@]}" "docker://$REG/e2e/oci:v2" "oci:$out:v2"
  verify_oci_copy "$p oci pull" "$out" v2 "$IMG_OCI" "$IMG_AMD64_MANIFEST"
  verify_manifest "$p v2s2" e2e/v2s2 v1 "$IMG_V2S2_MANIFEST" "$V2S2_MANIFEST"
  quiet "${COPY[@]}" "docker://$REG/e2e/v2s2:v1" "dir:$out-v2s2"
  verify_dir_copy "$p v2s2 pull" "$out-v2s2" "$IMG_V2S2"
  verify_index "$p multi" e2e/multi latest
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
