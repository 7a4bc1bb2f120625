#!/usr/bin/env bash
# The container image: the repository's Dockerfile built with buildah, pushed into berth,
# pulled back and taken apart; the compose files' environments; the image run with podman.
#   usage: image.sh [berth]
# CI cannot pull docker.io/library/rust, so the Dockerfile's build stage runs on a local
# stand-in (RUST_IMAGE): busybox, the CA bundle, the static berth built on the host with
# the Dockerfile's own cargo command, and a `cargo` that checks it is called that way and
# puts the prebuilt binary where cargo would. Every other step, the final stage whole, is
# the Dockerfile's.
# Environment: BERTH_STATIC, the static binary (default target/x86_64-unknown-linux-gnu/
# release/berth, built here when missing); BERTH, the registry the image is pushed into.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init "$@"

TARGET=x86_64-unknown-linux-gnu
STATIC_FLAGS="-C target-feature=+crt-static"
# The Dockerfile's cargo command, which .ci/run runs on the host too.
CARGO_ARGS="rustc --release --locked --target $TARGET --bin berth -- -C strip=debuginfo"
BERTH_STATIC=${BERTH_STATIC:-$REPO_ROOT/target/$TARGET/release/berth}
IMAGE=localhost/berth:e2e
BUILDER=localhost/berth-e2e-builder:latest
UID_=65532
# Run with podman, this machine needs runc (crun refuses its hybrid cgroup layout),
# cgroupfs and limits below the current ones (no CAP_SYS_RESOURCE to set equal ones).
PODMAN_GLOBAL=(--runtime runc --cgroup-manager cgroupfs)
PODMAN_RUN=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --network host)

# ---------------------------------------------------------------- the binary

static_binary() {
  section "static binary"
  if [ ! -x "$BERTH_STATIC" ]; then
    echo "# building $BERTH_STATIC"
    # shellcheck disable=SC2086 # CARGO_ARGS is a word list
    (cd "$REPO_ROOT" && RUSTFLAGS="$STATIC_FLAGS" quiet cargo $CARGO_ARGS)
  fi
  local out
  out=$(ldd "$BERTH_STATIC" 2>&1 || true)
  check "ldd: no shared libraries" yes \
    "$(grep -qE 'not a dynamic executable|statically linked' <<<"$out" && echo yes || echo "$out")"
  check "no program interpreter (ELF INTERP)" "" "$(readelf -l "$BERTH_STATIC" | grep -i 'interpreter' || true)"
  check "no debug sections (stripped of line tables)" "" "$(readelf -S "$BERTH_STATIC" | grep -oE '\.debug_(info|line)' | sort -u || true)"
}

# ---------------------------------------------------------------- the build

# make_builder: the stand-in for the Dockerfile's RUST_IMAGE, from scratch.
make_builder() {
  local ctr stub=$WORK/cargo
  cat >"$stub" <<EOF
#!/bin/sh
# cargo's stand-in for tests/e2e/image.sh: the host built /prebuilt/berth with this command.
want='$CARGO_ARGS'
if [ "\$*" != "\$want" ] || [ "\${RUSTFLAGS:-}" != "$STATIC_FLAGS" ]; then
  echo "cargo stand-in: the Dockerfile runs RUSTFLAGS='\${RUSTFLAGS:-}' cargo \$*;" \\
    "image.sh built RUSTFLAGS='$STATIC_FLAGS' cargo \$want" >&2
  exit 1
fi
mkdir -p target/$TARGET/release
cp /prebuilt/berth target/$TARGET/release/berth
EOF
  chmod 755 "$stub"
  ctr=$(buildah from scratch)
  quiet buildah copy "$ctr" /bin/busybox /bin/busybox
  quiet buildah run --isolation chroot "$ctr" /bin/busybox --install -s /bin
  quiet buildah copy "$ctr" "$stub" /usr/local/bin/cargo
  quiet buildah copy "$ctr" "$BERTH_STATIC" /prebuilt/berth
  quiet buildah copy "$ctr" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
  quiet buildah config --env PATH=/usr/local/bin:/bin "$ctr"
  quiet buildah commit -q "$ctr" "$BUILDER"
  quiet buildah rm "$ctr"
}

build_image() {
  section "buildah build of the Dockerfile (build stage on a local stand-in)"
  make_builder
  # --format docker: OCI image configs have no HEALTHCHECK, buildah would drop it.
  check_cmd "buildah build succeeds" buildah build --isolation chroot --format docker --pull=never \
    --build-arg "RUST_IMAGE=$BUILDER" -t "$IMAGE" -f "$REPO_ROOT/Dockerfile" "$REPO_ROOT"
  grep -E '^(STEP|COMMIT)' "$WORK/check.out" | sed 's/^/#   /' || true
}

# ---------------------------------------------------------------- push, pull, inspect

push_and_pull() {
  section "push into berth, pull back byte for byte"
  start_registry berth "$WORK/root"
  quiet buildah push --tls-verify=false --digestfile "$WORK/pushed.digest" "$IMAGE" "docker://$REG/berth/berth:1"
  local digest
  digest=$(cat "$WORK/pushed.digest")
  verify_manifest "pushed image" berth/berth 1 "$digest" "$V2S2_MANIFEST"
  quiet sk copy --src-tls-verify=false "docker://$REG/berth/berth:1" "dir:$WORK/pulled"
  check "pulled manifest is the pushed one" "$digest" "$(sha "$WORK/pulled/manifest.json")"
  local d
  for d in $(jq -r '.config.digest, .layers[].digest' "$WORK/pulled/manifest.json"); do
    check "pulled blob ${d:7:12} hashes to its digest" "$d" "$(sha "$WORK/pulled/${d#sha256:}")"
  done
  # shellcheck disable=SC2046
  verify_blobs "served" berth/berth $(jq -r '.config.digest, .layers[].digest' "$WORK/pulled/manifest.json")
  # An OCI copy too: what a containerd or an OCI-only client gets.
  quiet sk copy --src-tls-verify=false "docker://$REG/berth/berth:1" "oci:$WORK/oci:1"
  check "OCI copy has the same layer" "$(jq -r '.layers[0].digest' "$WORK/pulled/manifest.json")" \
    "$(jq -r '.layers[0].digest' "$(oci_blob "$WORK/oci" "$(oci_ref_digest "$WORK/oci" 1)")")"
}

image_config() {
  section "image config (what docker run uses)"
  local c
  c=$WORK/pulled/$(jq -r '.config.digest | ltrimstr("sha256:")' "$WORK/pulled/manifest.json")
  check "Entrypoint" '["/usr/bin/berth"]' "$(jq -c .config.Entrypoint "$c")"
  check "Cmd" '["serve","/etc/distribution/config.yml"]' "$(jq -c .config.Cmd "$c")"
  check "ExposedPorts" '{"5000/tcp":{}}' "$(jq -c .config.ExposedPorts "$c")"
  check "Volumes" '{"/var/lib/registry":{}}' "$(jq -c .config.Volumes "$c")"
  check "User is numeric and not root" "$UID_:$UID_" "$(jq -r .config.User "$c")"
  check "Healthcheck" '["CMD","/usr/bin/berth","healthcheck"]' "$(jq -c .config.Healthcheck.Test "$c")"
  check "PATH ends in /bin (for registry)" yes \
    "$(jq -r '.config.Env[] | select(startswith("PATH=")) | if endswith(":/bin") then "yes" else . end' "$c")"
  check "os/architecture" linux/amd64 "$(jq -r '"\(.os)/\(.architecture)"' "$c")"
  local size
  size=$(jq '[.layers[].size] | add' "$WORK/pulled/manifest.json")
  local binary
  binary=$(gzip -c "$BERTH_STATIC" | wc -c)
  echo "#   compressed image size: $size bytes; binary: $(stat -c %s "$BERTH_STATIC") bytes, $binary gzipped"
  # The binary is most of the image (the S3 client took it past 8 MiB compressed),
  # so the bound follows it: a second copy of it or debug info would show here.
  check "compressed size below the gzipped binary + 2 MiB" yes \
    "$([ "$size" -lt $((binary + (2 << 20))) ] && echo yes || echo "$size")"
}

# ---------------------------------------------------------------- the layer

LAYER_ROOT=""

# The layers unpacked in order into $WORK/rootfs (one with buildah, two with docker's COPY
# per layer); the listing of the last entry of each path in $WORK/listing.
layer_contents() {
  section "layer contents"
  local d listing=$WORK/listing
  mkdir -p "$WORK/rootfs"
  : >"$listing"
  for d in $(jq -r '.layers[].digest | ltrimstr("sha256:")' "$WORK/pulled/manifest.json"); do
    tar -xzf "$WORK/pulled/$d" -C "$WORK/rootfs"
    tar --numeric-owner -tvzf "$WORK/pulled/$d" >>"$listing"
  done
  check "the files, nothing else" \
    "bin/registry etc/distribution/config.yml etc/docker/registry/config.yml etc/ssl/certs/ca-certificates.crt usr/bin/berth" \
    "$(awk '$6 !~ /\/$/ { print $6 }' "$listing" | LC_ALL=C sort -u | xargs)"
  LAYER_ROOT=$WORK/rootfs
  check_cmd "usr/bin/berth is the static binary" cmp "$LAYER_ROOT/usr/bin/berth" "$BERTH_STATIC"
  check "bin/registry -> ../usr/bin/berth" ../usr/bin/berth "$(readlink "$LAYER_ROOT/bin/registry")"
  check "etc/distribution/config.yml -> ../docker/registry/config.yml" ../docker/registry/config.yml \
    "$(readlink "$LAYER_ROOT/etc/distribution/config.yml")"
  check_cmd "etc/docker/registry/config.yml is deploy/image/config.yml" \
    cmp "$LAYER_ROOT/etc/docker/registry/config.yml" "$REPO_ROOT/deploy/image/config.yml"
  check_cmd "CA bundle is the build stage's" \
    cmp "$LAYER_ROOT/etc/ssl/certs/ca-certificates.crt" /etc/ssl/certs/ca-certificates.crt
  check "var/lib/registry owned by $UID_" "drwxr-xr-x $UID_/$UID_" \
    "$(awk '$6 == "var/lib/registry/" { v = $1 " " $2 } END { print v }' "$listing")"
  check "usr/bin/berth root-owned, not writable by the user" "-rwxr-xr-x 0/0" \
    "$(awk '$6 == "usr/bin/berth" { v = $1 " " $2 } END { print v }' "$listing")"
}

# The shipped config is registry:2's: the same effective configuration as the seeds' copy.
shipped_config() {
  section "shipped config.yml = the registry:2 image's"
  local b=$LAYER_ROOT/usr/bin/berth
  check "berth --version from the layer" "$("$BERTH_STATIC" --version)" "$("$b" --version)"
  env -i "$b" config check "$LAYER_ROOT/etc/docker/registry/config.yml" | sed 1d >"$WORK/shipped.txt"
  env -i "$b" config check "$REPO_ROOT/src/config/testdata/seeds/registry-image-config.yml" | sed 1d >"$WORK/seed.txt"
  check_cmd "same effective configuration as registry-image-config.yml" diff "$WORK/seed.txt" "$WORK/shipped.txt"
  check "listens on :5000, stores in /var/lib/registry" ':5000 /var/lib/registry' \
    "$(awk '/^  addr:/ { a = $2 } /rootdirectory:/ { r = $2 } END { print a, r }' "$WORK/shipped.txt" | tr -d '"')"
}

# The binary from the layer serves with the shipped config (moved to loopback and a temp
# root by REGISTRY_* variables, as a container's environment would), takes a push, passes
# its healthcheck, and fails it once stopped.
layer_serves() {
  section "the layer's berth serves with the shipped config"
  local port
  port=$(free_port)
  BERTH=$LAYER_ROOT/usr/bin/berth start_registry_config berth "$LAYER_ROOT/etc/distribution/config.yml" http "$port" \
    REGISTRY_HTTP_ADDR="127.0.0.1:$port" REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY="$WORK/layer-root"
  quiet sk copy --dest-tls-verify=false "dir:$WORK/pulled" "docker://$REG/again/berth:1"
  verify_manifest "layer berth" again/berth 1 "$(sha "$WORK/pulled/manifest.json")" "$V2S2_MANIFEST"
  check "blobs under the temp root" yes \
    "$([ -d "$WORK/layer-root/docker/registry/v2/blobs/sha256" ] && echo yes || echo no)"
  check_cmd "healthcheck (config + env) passes" env -i REGISTRY_HTTP_ADDR="127.0.0.1:$port" \
    "$LAYER_ROOT/usr/bin/berth" healthcheck "$LAYER_ROOT/etc/distribution/config.yml"
  check_cmd "healthcheck --url passes" "$LAYER_ROOT/usr/bin/berth" healthcheck --url "http://127.0.0.1:$port/v2/"
  stop_registry "$REG_PID"
  check_fails "healthcheck fails once it is stopped" env -i REGISTRY_HTTP_ADDR="127.0.0.1:$port" \
    "$LAYER_ROOT/usr/bin/berth" healthcheck "$LAYER_ROOT/etc/distribution/config.yml"
}

# ---------------------------------------------------------------- compose files

# compose_env FILE [NAME=VALUE...]: the registry service's environment, one NAME=VALUE a
# line, with compose's ${VAR:-default} taken from the given values, else the default.
compose_env() {
  local file=$1
  shift
  env -i "$@" python3 - "$file" <<'EOF'
import os, re, sys, yaml
env = yaml.safe_load(open(sys.argv[1]))["services"]["registry"].get("environment") or {}
if isinstance(env, list):
    env = dict(e.split("=", 1) for e in env)
var = re.compile(r"\$\{(\w+):-([^}]*)\}")
sub = lambda m: os.environ.get(m.group(1)) or m.group(2)
for k, v in env.items():
    print(k + "=" + var.sub(sub, str(v)))
EOF
}

# effective FILE KEY.PATH: a value of the configuration `berth config check` printed.
effective() {
  python3 -c 'import json, sys, yaml
v = yaml.safe_load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = (v or {}).get(k)
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

# compose_check FILE WANT_VARS KEY=VALUE... [-- NAME=VALUE...]: `berth config check` of the
# shipped config with FILE's environment (compose's ${VAR:-default} from the NAME=VALUEs
# after --) applies exactly WANT_VARS and gives each KEY (a dotted path) its VALUE.
compose_check() {
  local file=$REPO_ROOT/deploy/compose/$1 want=$2 name=$1 pair
  shift 2
  local -a pairs=() subst=()
  while (($#)) && [ "$1" != -- ]; do pairs+=("$1"); shift; done
  (($#)) && shift && subst=("$@") && name="$name (${subst[*]})"
  mapfile -t vars < <(compose_env "$file" "${subst[@]}")
  local out=$WORK/compose.yml
  if ! env -i "${vars[@]}" "$LAYER_ROOT/usr/bin/berth" config check "$LAYER_ROOT/etc/distribution/config.yml" \
    >"$out" 2>&1; then
    not_ok "$name: config check"
    sed 's/^/       /' "$out" | tail -5
    return
  fi
  check "$name: variables applied" "${want:+# with $want}" "$(grep '^# with ' "$out" || true)"
  for pair in "${pairs[@]}"; do
    check "$name: $pair" "${pair#*=}" "$(effective "$out" "${pair%%=*}")"
  done
}

compose_files() {
  section "deploy/compose/*.yml: the environment against the shipped config"
  local f
  for f in "$REPO_ROOT"/deploy/compose/*.yml; do
    check "$(basename "$f"): port, volume, image" "5000:5000 ./data:/var/lib/registry berth:latest" \
      "$(python3 -c 'import sys, yaml; s = yaml.safe_load(open(sys.argv[1]))["services"]["registry"]
print(s["ports"][0], s["volumes"][0], s["image"])' "$f")"
  done
  compose_check plain.yml "" http.addr=:5000 storage.filesystem.rootdirectory=/var/lib/registry auth=null
  compose_check htpasswd.yml "REGISTRY_AUTH, REGISTRY_AUTH_HTPASSWD_PATH, REGISTRY_AUTH_HTPASSWD_REALM" \
    "auth.htpasswd.realm=Registry Realm" auth.htpasswd.path=/auth/htpasswd http.tls=null
  compose_check tls.yml \
    "REGISTRY_AUTH, REGISTRY_AUTH_HTPASSWD_PATH, REGISTRY_AUTH_HTPASSWD_REALM, REGISTRY_HTTP_TLS_CERTIFICATE, REGISTRY_HTTP_TLS_KEY" \
    http.tls.certificate=/certs/domain.crt http.tls.key=/certs/domain.key auth.htpasswd.path=/auth/htpasswd
  local gc_vars="REGISTRY_STORAGE_DELETE_ENABLED, REGISTRY_STORAGE_MAINTENANCE_READONLY"
  compose_check gc.yml "$gc_vars" storage.delete.enabled=true storage.maintenance.readonly.enabled=false
  compose_check gc.yml "$gc_vars" storage.delete.enabled=true storage.maintenance.readonly.enabled=true \
    -- REGISTRY_READONLY=true
}

# ---------------------------------------------------------------- podman run

pd() { podman "${PODMAN_GLOBAL[@]}" "$@"; }

podman_run() {
  section "podman run of the image"
  # (stderr apart: without systemd podman complains it cannot time the healthchecks.)
  if ! pd run --rm "${PODMAN_RUN[@]}" "$IMAGE" --version >"$WORK/podman.out" 2>"$WORK/podman.err"; then
    skip "podman run: cannot run containers here: $(tail -1 "$WORK/podman.err")"
    return
  fi
  check "podman run IMAGE --version (the entrypoint)" "$("$BERTH_STATIC" --version)" "$(cat "$WORK/podman.out")"
  local port vol=$WORK/volume name=berth-e2e
  port=$(free_port)
  mkdir -p "$vol"
  # What the compose files ask of ./data: owned by the image's user.
  chown "$UID_:$UID_" "$vol"
  # Loopback only: the image's config listens on every interface of the host network.
  quiet pd run -d --name "$name" "${PODMAN_RUN[@]}" -e REGISTRY_HTTP_ADDR="127.0.0.1:$port" \
    -e REGISTRY_STORAGE_DELETE_ENABLED=true -v "$vol:/var/lib/registry" "$IMAGE"
  track_container "$name"
  if ! wait_http "http://127.0.0.1:$port/v2/" 30; then
    not_ok "podman: the container did not answer on 127.0.0.1:$port"
    pd logs "$name" 2>&1 | tail -5 | sed 's/^/       /'
    return
  fi
  local pid
  pid=$(pd inspect -f '{{.State.Pid}}' "$name")
  check "podman: the process runs as $UID_" "$UID_ $UID_ $UID_ $UID_" "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")"
  check_cmd "podman healthcheck run: healthy" pd healthcheck run "$name"
  # A static glibc binary resolves names without NSS modules (files, then DNS).
  check_cmd "podman exec: berth resolves localhost from /etc/hosts" \
    pd exec "$name" berth healthcheck --url "http://localhost:$port/v2/"
  REG=127.0.0.1:$port
  REG_URL=http://$REG
  podman_round_trip "$vol"
  podman_gc "$name" "$vol"
}

# podman_round_trip VOLUME: push the test images into the container, pull them back.
podman_round_trip() {
  make_test_images "$WORK/img"
  quiet sk copy --all --dest-tls-verify=false "oci:$IMG_OCI:multi" "docker://$REG/e2e/img:multi"
  verify_index "podman container" e2e/img multi
  quiet sk copy --all --src-tls-verify=false "docker://$REG/e2e/img:multi" "oci:$WORK/from-container:multi"
  check "podman container: index digest pulled back" "$IMG_INDEX" "$(oci_ref_digest "$WORK/from-container" multi)"
  check "podman container: files on the volume owned by $UID_" "$UID_" \
    "$(stat -c %u "$1/docker/registry/v2/repositories/e2e/img/_manifests")"
}

# podman_gc NAME VOLUME: the seeds' collection, by `podman exec` with the registry:2 commands.
podman_gc() {
  local name=$1 del
  del=$(http_status DELETE "$REG_URL/v2/e2e/img/manifests/$IMG_INDEX")
  check "podman container: DELETE the index (delete enabled by env)" 202 "$del"
  check_cmd "podman exec registry garbage-collect --dry-run" \
    pd exec "$name" registry garbage-collect --dry-run --grace=0s --delete-untagged /etc/docker/registry/config.yml
  check_last_output "dry run: the deleted index's amd64 child is eligible" \
    "^manifest eligible for deletion: .*${IMG_AMD64_MANIFEST#sha256:}"
  check "dry run: the layers are still there" 200 \
    "$(http_status HEAD "$REG_URL/v2/e2e/img/blobs/${IMG_AMD64_LAYERS%% *}")"
  # The seeds' spelling: a path relative to the container's working directory.
  check_cmd "podman exec bin/registry garbage-collect --grace=0s --delete-untagged" \
    pd exec "$name" bin/registry garbage-collect --grace=0s --delete-untagged /etc/docker/registry/config.yml
  # On the volume: the running server may still have the blob in its cache.
  local d hex
  for d in $IMG_AMD64_LAYERS $IMG_ARM64_LAYERS; do
    hex=${d#sha256:}
    check "podman container: layer ${d:7:12} collected from the volume" no \
      "$([ -e "$2/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex" ] && echo yes || echo no)"
  done
  # ... for at most its TTL (1 s) when another process, this one, did the deleting.
  sleep 1.5
  d=${IMG_AMD64_LAYERS%% *}
  check "podman container: layer ${d:7:12} no longer served" 404 "$(http_status HEAD "$REG_URL/v2/e2e/img/blobs/$d")"
}

# podman_configs: a config.yml mounted over either path is the one served (registry:2
# mounts /etc/docker/registry/config.yml, registry:3 /etc/distribution/config.yml).
podman_configs() {
  section "podman: config.yml mounted as for registry:2 and registry:3"
  [ -f "$WORK/container-names" ] || { skip "podman: config mounts (no containers here)"; return; }
  local target port name cfg=$WORK/mounted.yml
  for target in /etc/docker/registry/config.yml /etc/distribution/config.yml; do
    port=$(free_port)
    name=berth-e2e-cfg$port
    printf 'version: 0.1\nhttp:\n  addr: 127.0.0.1:%s\nstorage:\n  filesystem:\n    rootdirectory: /tmp/r\n' \
      "$port" >"$cfg"
    quiet pd run -d --name "$name" "${PODMAN_RUN[@]}" --tmpfs /tmp:rw,mode=1777 -v "$cfg:$target:ro" "$IMAGE"
    track_container "$name"
    check_cmd "mounted at $target: serves on its port" wait_http "http://127.0.0.1:$port/v2/" 30
    check_cmd "mounted at $target: healthcheck follows it" pd healthcheck run "$name"
  done
}

# track_container NAME: removed at the end; its process stopped by the exit trap if the
# suite dies first.
track_container() {
  echo "$1" >>"$WORK/container-names"
  track_pid "$(pd inspect -f '{{.State.Pid}}' "$1")"
}

cleanup_containers() {
  [ -f "$WORK/container-names" ] || return 0
  local name
  while read -r name; do pd rm -f -t 5 "$name" >/dev/null 2>&1 || true; done <"$WORK/container-names"
}

run_test static_binary
run_test build_image
if buildah inspect "$IMAGE" >/dev/null 2>&1; then
  run_test push_and_pull
  run_test image_config
  run_test layer_contents
  LAYER_ROOT=$WORK/rootfs
  run_test shipped_config
  run_test layer_serves
  run_test compose_files
  run_test podman_run
  run_test podman_configs
  cleanup_containers
fi

e2e_done
