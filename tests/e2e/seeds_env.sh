#!/usr/bin/env bash
# The users' guides (shared/seeds) configure the registry with docker-compose `environment:`
# blocks: REGISTRY_<SECTION>_<KEY> variables that override config.yml. Each guide's
# variables are applied here as real environment variables on top of a minimal config.yml
# (version + storage.filesystem.rootdirectory), with paths rewritten to temp files and the
# address to a free loopback port, and the flow the guide describes is run with docker,
# skopeo and curl.
#   usage: seeds_env.sh berth|reference
#   seed 001  REGISTRY_AUTH=htpasswd, _HTPASSWD_REALM=Registry Realm, _HTPASSWD_PATH,
#             REGISTRY_HTTP_ADDR, REGISTRY_HTTP_TLS_CERTIFICATE/_KEY; its own self-signed
#             certificate (CN=localhost, SAN DNS:localhost), docker login/push/pull on
#             localhost:PORT, curl with user:password in the URL
#   seed 002  the same variables (htpasswd with several users), its config.yml (delete on,
#             read-only off), a beta/latest/archive tag rotation, a delete, then read-only on
#             for garbage collection, collection, and read-only off again
#   seed 004  REGISTRY_STORAGE_DELETE_ENABLED: 'true': push, catalog, tags, HEAD the manifest
#             for Docker-Content-Digest, DELETE by digest, tags null, catalog unchanged
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND=${1:?usage: seeds_env.sh berth|reference}
e2e_init "$@"

# minimal_config FILE ROOT: what every seed's environment is applied on top of: version and
# storage, and an http.addr on another free loopback port (REG_DECOY_PORT) that the
# environment's REGISTRY_HTTP_ADDR must override. Without it a registry that ignored the
# environment would listen on distribution's default :5000, every interface.
minimal_config() {
  REG_DECOY_PORT=$(free_port)
  cat >"$1" <<EOF
version: 0.1
http:
  addr: 127.0.0.1:$REG_DECOY_PORT
storage:
  filesystem:
    rootdirectory: $2
EOF
}

push_digest() { grep -oE 'digest: sha256:[0-9a-f]{64}' "$1" | tail -1 | cut -d' ' -f2; }

# ---------------------------------------------------------------- seed 001

test_seed001() {
  section "seed 001: htpasswd + TLS from the environment, docker on localhost:PORT"
  local t=$WORK/seed001 port s out
  mkdir -p "$t/auth" "$t/cert"
  # The guide's command for its self-signed certificate (minus its broken `# -days` line).
  openssl req -x509 -nodes -sha256 -days 2 -newkey rsa:2048 \
    -out "$t/cert/ca.crt" -keyout "$t/cert/ca.key" -subj '/CN=localhost' -extensions EXT \
    -config <(printf "[dn]\nCN=localhost\n[req]\ndistinguished_name = dn\n[EXT]\nsubjectAltName=DNS:localhost\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth") \
    2>/dev/null
  htpasswd -Bbn seeduser 'seed-pass' >"$t/auth/htpasswd"
  minimal_config "$t/config.yml" "$t/data"
  port=$(free_port)
  start_registry_config "$KIND" "$t/config.yml" https "$port" \
    REGISTRY_AUTH=htpasswd \
    "REGISTRY_AUTH_HTPASSWD_REALM=Registry Realm" \
    "REGISTRY_AUTH_HTPASSWD_PATH=$t/auth/htpasswd" \
    "REGISTRY_HTTP_ADDR=127.0.0.1:$port" \
    "REGISTRY_HTTP_TLS_CERTIFICATE=$t/cert/ca.crt" \
    "REGISTRY_HTTP_TLS_KEY=$t/cert/ca.key"
  local host=localhost:$port ca=(--cacert "$t/cert/ca.crt")

  s=$(fetch GET "https://$host/v2/" "${ca[@]}")
  check "TLS served with the seed's certificate: /v2/ answers" 401 "$s"
  check "login required: WWW-Authenticate" 'Basic realm="Registry Realm"' "$(header_of "$WORK/r.hdr" WWW-Authenticate)"
  check "login required: error code" UNAUTHORIZED "$(error_code)"
  s=$(fetch GET "https://$host/v2/" "${ca[@]}" -u seeduser:wrong)
  check "wrong password: 401" 401 "$s"
  s=$(fetch GET "https://$host/v2/" "${ca[@]}" -u seeduser:seed-pass)
  check "right password: 200" 200 "$s"
  openssl s_client -connect "127.0.0.1:$port" -servername localhost </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256 >"$WORK/served.fp" || true
  check "the served certificate is the seed's" \
    "$(openssl x509 -in "$t/cert/ca.crt" -noout -fingerprint -sha256)" "$(cat "$WORK/served.fp")"
  s=$(fetch GET "http://$host/v2/" -u seeduser:seed-pass)
  check "plain HTTP: no registry answer" "" "$(header_of "$WORK/r.hdr" Docker-Distribution-Api-Version)"

  # 2.1-2.4: docker login, tag, push, pull.
  out=$(dk login -u seeduser -p seed-pass "$host" 2>&1) || true
  check "docker login -u -p localhost:PORT" "Login Succeeded" "$(tail -1 <<<"$out")"
  dk tag e2e/img:amd64 "$host/go-demo:1.0"
  quiet dk push "$host/go-demo:1.0"
  local pushed
  pushed=$(push_digest "$WORK/cmd.log")
  check "docker push: printed a digest" yes "$([ -n "$pushed" ] && echo yes || echo no)"
  quiet dk rmi "$host/go-demo:1.0"
  quiet dk pull "$host/go-demo:1.0"
  check "docker pull: digest" "Digest: $pushed" "$(grep -o 'Digest: .*' "$WORK/cmd.log")"
  check "docker pull: image ID" "$IMG_AMD64_CONFIG" "$(dk image inspect "$host/go-demo:1.0" | jq -r '.[0].Id')"
  quiet dk rmi "$host/go-demo:1.0"

  # 2.5: curl -f with the credentials in the URL.
  check "curl -f https://user:pass@host/v2/_catalog" '{"repositories":["go-demo"]}' \
    "$(command curl -sf "${ca[@]}" "https://seeduser:seed-pass@$host/v2/_catalog" | jq -c .)"
  command curl -sf "${ca[@]}" -D "$WORK/m.hdr" -o "$WORK/m.body" \
    -H "Accept: $V2S2_MANIFEST" "https://seeduser:seed-pass@$host/v2/go-demo/manifests/1.0"
  check "curl -f .../v2/go-demo/manifests/1.0: Docker-Content-Digest" "$pushed" "$(header_of "$WORK/m.hdr" Docker-Content-Digest)"
  check "curl -f .../v2/go-demo/manifests/1.0: body digest" "$pushed" "$(sha "$WORK/m.body")"
  # The guide's curl sends no Accept header. distribution 2.8 then converts the schema2
  # manifest to a signed schema1 one; 3.x and berth serve the stored manifest. Either way, 200.
  s=$(fetch GET "https://seeduser:seed-pass@$host/v2/go-demo/manifests/1.0" "${ca[@]}")
  echo "#   manifest GET without Accept: status $s, Content-Type $(header_of "$WORK/r.hdr" Content-Type)," \
    "schemaVersion $(jq -r .schemaVersion "$WORK/r.body" 2>/dev/null)"
  check "curl -f .../manifests/1.0 without Accept: 200" 200 "$s"
  # A --cert-dir holds ca.crt only: a ca.key beside it would be taken for a client key.
  cert_dir "$t/client-certs" "$t/cert/ca.crt"
  check "skopeo inspect with the seed's certificate: digest" "$pushed" \
    "$(sk inspect --cert-dir "$t/client-certs" --creds seeduser:seed-pass "docker://$host/go-demo:1.0" | jq -r .Digest)"
  check_cmd "docker logout" dk logout "$host"
  stop_registry
}

# ---------------------------------------------------------------- seed 002

# skopeo against the seed 002 registry: its CA, user 1's credentials.
sk002() {
  local verb=$1
  shift
  case $verb in
    copy) sk copy --src-cert-dir "$CERTS002" --dest-cert-dir "$CERTS002" \
      --src-creds "$CREDS002" --dest-creds "$CREDS002" "$@" ;;
    *) sk "$verb" --cert-dir "$CERTS002" --creds "$CREDS002" "$@" ;;
  esac
}

# digest002 TAG: the manifest digest of app:TAG (empty when there is none).
digest002() { sk002 inspect "docker://$REG/app:$1" 2>/dev/null | jq -r .Digest || true; }

# start002 READONLY: the seed's config.yml with readonly.enabled READONLY, and its environment.
start002() {
  local t=$WORK/seed002
  REG_DECOY_PORT=$(free_port)
  cat >"$t/config.yml" <<EOF
version: 0.1
http:
  addr: 127.0.0.1:$REG_DECOY_PORT
storage:
  filesystem:
    rootdirectory: $t/data
  delete:
    enabled: true
  maintenance:
    readonly:
      enabled: $1
EOF
  start_registry_config "$KIND" "$t/config.yml" https "$PORT002" "${ENV002[@]}"
}

test_seed002() {
  section "seed 002: TLS + htpasswd from the environment, tag rotation, delete, read-only, GC"
  local t=$WORK/seed002 s out
  mkdir -p "$t/certs" "$t/auth"
  cp "$PKI/chain.pem" "$t/certs/domain.crt"
  cp "$PKI/server.key" "$t/certs/domain.key"
  : >"$t/auth/htpasswd"
  local i
  for i in 1 2 3; do add_htpasswd "$t/auth/htpasswd" 10 "USERNAME_$i" "password-$i"; done
  PORT002=$(free_port)
  ENV002=(
    "REGISTRY_HTTP_TLS_CERTIFICATE=$t/certs/domain.crt"
    "REGISTRY_HTTP_TLS_KEY=$t/certs/domain.key"
    REGISTRY_AUTH=htpasswd
    "REGISTRY_AUTH_HTPASSWD_PATH=$t/auth/htpasswd"
    "REGISTRY_AUTH_HTPASSWD_REALM=Registry Realm"
    "REGISTRY_HTTP_ADDR=127.0.0.1:$PORT002"
  )
  CERTS002=$t/client-certs
  cert_dir "$CERTS002" "$PKI/ca.pem"
  CREDS002=USERNAME_1:password-1
  start002 false

  s=$(fetch GET "$REG_URL/v2/" --cacert "$PKI/ca.pem")
  check "login required: 401" 401 "$s"
  check "login required: WWW-Authenticate" 'Basic realm="Registry Realm"' "$(header_of "$WORK/r.hdr" WWW-Authenticate)"
  for i in 1 2 3; do
    s=$(fetch GET "$REG_URL/v2/" --cacert "$PKI/ca.pem" -u "USERNAME_$i:password-$i")
    check "USERNAME_$i logs in" 200 "$s"
  done
  s=$(fetch GET "$REG_URL/v2/" --cacert "$PKI/ca.pem" -u "USERNAME_1:password-2")
  check "USERNAME_1 with USERNAME_2's password: 401" 401 "$s"

  # Client: docker login, tag, push.
  out=$(dk login -u USERNAME_2 --password-stdin "$REG" <<<"password-2" 2>&1) || true
  check "docker login" "Login Succeeded" "$(tail -1 <<<"$out")"
  dk tag e2e/img:amd64 "$REG/registry:3"
  quiet dk push "$REG/registry:3"
  check "docker image push: the registry serves the pushed digest" "$(push_digest "$WORK/cmd.log")" \
    "$(sk002 inspect "docker://$REG/registry:3" | jq -r .Digest)"
  quiet dk logout "$REG"

  # The guide's tags: beta is pushed daily; when tests pass, archive := latest, latest := beta.
  quiet sk002 copy "oci:$IMG_OCI:amd64" "docker://$REG/app:beta"
  quiet sk002 copy "docker://$REG/app:beta" "docker://$REG/app:latest"
  quiet sk002 copy "oci:$IMG_OCI:arm64" "docker://$REG/app:beta"
  quiet sk002 copy "docker://$REG/app:latest" "docker://$REG/app:archive"
  quiet sk002 copy "docker://$REG/app:beta" "docker://$REG/app:latest"
  check "rotation: archive is the old image" "$IMG_AMD64_MANIFEST" "$(digest002 archive)"
  check "rotation: latest is the new image" "$IMG_ARM64_MANIFEST" "$(digest002 latest)"
  check "rotation: beta is the new image" "$IMG_ARM64_MANIFEST" "$(digest002 beta)"
  check "rotation: tags" "archive beta latest" \
    "$(sk002 list-tags "docker://$REG/app" | jq -r '.Tags | sort | join(" ")')"

  # storage.delete.enabled: true in the guide's config.yml: retire the archive.
  s=$(fetch DELETE "$REG_URL/v2/app/manifests/$IMG_AMD64_MANIFEST" --cacert "$PKI/ca.pem" -u "$CREDS002")
  check "DELETE the archived manifest: 202" 202 "$s"
  check "after DELETE: tags" "beta latest" \
    "$(sk002 list-tags "docker://$REG/app" | jq -r '.Tags | sort | join(" ")')"

  # Read-only for garbage collection: restart with readonly.enabled true.
  stop_registry
  start002 true
  check_fails "read-only: skopeo push refused" sk002 copy "oci:$IMG_OCI:amd64" "docker://$REG/app:beta"
  s=$(fetch POST "$REG_URL/v2/app/blobs/uploads/" --cacert "$PKI/ca.pem" -u "$CREDS002")
  check "read-only: POST blob upload with credentials: 405" 405 "$s"
  s=$(fetch POST "$REG_URL/v2/app/blobs/uploads/" --cacert "$PKI/ca.pem")
  check "read-only: POST blob upload without credentials: still 401 first" 401 "$s"
  check "read-only: pull still works" "$IMG_ARM64_MANIFEST" "$(digest002 latest)"

  # The guide's garbage collection, with the registry read-only (the container's environment
  # applies to the command as well).
  local bin rc=0
  bin=$(registry_bin "$KIND")
  env -u AWS_CA_BUNDLE -u REGISTRY_AUTH_FILE "${ENV002[@]}" \
    "$bin" garbage-collect --delete-untagged=true "$t/config.yml" >"$WORK/gc.log" 2>&1 || rc=$?
  check "garbage-collect --delete-untagged=true: exit code" 0 "$rc"
  [ "$rc" = 0 ] || tail -3 "$WORK/gc.log" | sed 's/^/       /'
  local d gone=0 kept=0
  # shellcheck disable=SC2086
  for d in $IMG_AMD64_LAYERS; do [ -e "$t/data/docker/registry/v2/blobs/sha256/${d:7:2}/${d#sha256:}" ] || gone=$((gone + 1)); done
  # shellcheck disable=SC2086
  for d in $IMG_ARM64_LAYERS; do [ -e "$t/data/docker/registry/v2/blobs/sha256/${d:7:2}/${d#sha256:}" ] && kept=$((kept + 1)); done
  check "garbage-collect: the archived image's layers are gone" "$(wc -w <<<"$IMG_AMD64_LAYERS")" "$gone"
  check "garbage-collect: the current image's layers are kept" "$(wc -w <<<"$IMG_ARM64_LAYERS")" "$kept"

  stop_registry
  start002 false
  quiet sk002 copy "oci:$IMG_OCI:amd64" "docker://$REG/app:beta"
  check "read-only off again: push works" "$IMG_AMD64_MANIFEST" "$(digest002 beta)"
  quiet sk002 copy "docker://$REG/app:latest" "oci:$WORK/out002:latest"
  verify_oci_copy "after collection: pull latest" "$WORK/out002" latest "$IMG_OCI" "$IMG_ARM64_MANIFEST"
  stop_registry
}

# ---------------------------------------------------------------- seed 004

test_seed004() {
  section "seed 004: REGISTRY_STORAGE_DELETE_ENABLED='true', delete by digest"
  local t=$WORK/seed004 port s
  mkdir -p "$t"
  minimal_config "$t/config.yml" "$t/data"
  port=$(free_port)

  # Without the variable, deleting is not allowed (distribution's default).
  start_registry_config "$KIND" "$t/config.yml" http "$port" "REGISTRY_HTTP_ADDR=127.0.0.1:$port"
  dk tag e2e/img:amd64 "$REG/busybox:1.0"
  quiet dk push "$REG/busybox:1.0"
  local pushed size
  pushed=$(push_digest "$WORK/cmd.log")
  size=$(grep -oE 'size: [0-9]+' "$WORK/cmd.log" | tail -1 | cut -d' ' -f2)
  s=$(fetch DELETE "$REG_URL/v2/busybox/manifests/$pushed")
  check "delete not enabled: DELETE manifest 405" 405 "$s"
  check "delete not enabled: error code" UNSUPPORTED "$(error_code)"
  stop_registry

  start_registry_config "$KIND" "$t/config.yml" http "$port" "REGISTRY_HTTP_ADDR=127.0.0.1:$port" \
    REGISTRY_STORAGE_DELETE_ENABLED=true
  check "5. catalog" '{"repositories":["busybox"]}' "$(command curl -s "$REG_URL/v2/_catalog" | jq -c .)"
  check "6. tags/list" '{"name":"busybox","tags":["1.0"]}' "$(command curl -s "$REG_URL/v2/busybox/tags/list" | jq -c .)"
  s=$(fetch HEAD "$REG_URL/v2/busybox/manifests/1.0" -H "Accept: $V2S2_MANIFEST")
  check "7. curl --head manifest: 200" 200 "$s"
  check "7. Docker-Content-Digest is the pushed digest" "$pushed" "$(header_of "$WORK/r.hdr" Docker-Content-Digest)"
  check "7. Content-Type" "$V2S2_MANIFEST" "$(header_of "$WORK/r.hdr" Content-Type)"
  check "7. Content-Length is the size docker printed" "$size" "$(header_of "$WORK/r.hdr" Content-Length)"
  check "7. Etag" "\"$pushed\"" "$(header_of "$WORK/r.hdr" Etag)"
  check "7. Docker-Distribution-Api-Version" registry/2.0 "$(header_of "$WORK/r.hdr" Docker-Distribution-Api-Version)"
  s=$(fetch DELETE "$REG_URL/v2/busybox/manifests/$(header_of "$WORK/r.hdr" Docker-Content-Digest)")
  check "8. DELETE manifests/<digest>: 202" 202 "$s"
  check "8. catalog still lists busybox" '{"repositories":["busybox"]}' "$(command curl -s "$REG_URL/v2/_catalog" | jq -c .)"
  check "8. tags/list: tags null" '{"name":"busybox","tags":null}' "$(command curl -s "$REG_URL/v2/busybox/tags/list" | jq -c .)"
  s=$(fetch GET "$REG_URL/v2/busybox/manifests/$pushed" -H "Accept: $V2S2_MANIFEST")
  check "8. GET the deleted manifest: 404" 404 "$s"
  check "8. GET the deleted manifest: error code" MANIFEST_UNKNOWN "$(error_code)"
  quiet dk rmi "$REG/busybox:1.0"
  check_fails "8. docker pull of the deleted tag fails" dk pull "$REG/busybox:1.0"
  stop_registry

  # The variable overrides the file: delete.enabled false in config.yml, 'true' in the environment.
  cat >>"$t/config.yml" <<EOF
  delete:
    enabled: false
EOF
  start_registry_config "$KIND" "$t/config.yml" http "$port" "REGISTRY_HTTP_ADDR=127.0.0.1:$port" \
    REGISTRY_STORAGE_DELETE_ENABLED=true
  quiet sk copy --dest-tls-verify=false "oci:$IMG_OCI:amd64" "docker://$REG/busybox:1.1"
  s=$(fetch DELETE "$REG_URL/v2/busybox/manifests/$IMG_AMD64_MANIFEST")
  check "environment overrides config.yml (delete.enabled false): DELETE 202" 202 "$s"
  stop_registry
}

# ---------------------------------------------------------------- main

for tool in openssl htpasswd dockerd; do
  command -v "$tool" >/dev/null || { echo "missing $tool (run tests/e2e/deps.sh)" >&2; exit 1; }
done
PKI=$WORK/pki
make_pki "$PKI"
make_test_images "$WORK/img"
start_dockerd
quiet dk load -i "$(make_archive docker-archive "$WORK/img" e2e/img:amd64)"

run_test test_seed001
run_test test_seed002
run_test test_seed004

e2e_done
