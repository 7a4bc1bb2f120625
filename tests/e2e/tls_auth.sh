#!/usr/bin/env bash
# TLS, htpasswd auth, client certificates, read-only mode and silly auth, configured the way
# distribution is (config.yml: http.tls, auth.htpasswd, auth.silly,
# storage.maintenance.readonly), driven by curl, docker, podman and skopeo.
#   usage: tls_auth.sh berth|reference
# A private PKI (root CA -> intermediate -> server leaf for IP:127.0.0.1 and DNS:localhost,
# served with its chain; a separate client CA) and bcrypt htpasswd entries are made with
# openssl and htpasswd in the suite's temp dir. Refusals are checked by status, challenge
# header and error code, successes by digests and bytes.
# Docker skips certificate verification for loopback registries, so CA checks use curl,
# skopeo and podman; docker checks the login and the push/pull over TLS.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND=${1:?usage: tls_auth.sh berth|reference}
e2e_init "$@"

REALM="berth e2e realm"
USER1=alice
PASS1='s3cret pw:with colon'   # a space and a colon: Basic auth splits at the first colon
USER2=bob                      # a cost-10 entry (htpasswd -B's default) in the same file
PASS2=hunter2
PKI=$WORK/pki
DOCKER_ACCEPT=$V2S2_MANIFEST

# The lib's helpers (manifest_get, blob_get, tags_of, verify_*) call `curl`: they get the
# test CA and whatever CURL_EXTRA holds (credentials, a client certificate). Refusals are
# checked with `fetch`, which uses the system curl with only the options given.
CURL_EXTRA=()
curl() { command curl --cacert "$PKI/ca.pem" "${CURL_EXTRA[@]}" "$@"; }

# write_config FILE PORT ROOT [EXTRA_YAML]: a distribution config.yml for 127.0.0.1:PORT,
# delete enabled, with EXTRA_YAML appended (top-level sections, or lines under http: when
# they start with two spaces).
write_config() {
  local f=$1 port=$2 root=$3 http_extra=${4:-} extra=${5:-}
  cat >"$f" <<EOF
version: 0.1
log:
  level: info
http:
  addr: 127.0.0.1:$port
$http_extra
storage:
  filesystem:
    rootdirectory: $root
  delete:
    enabled: true
$extra
EOF
}

TLS_YAML="  tls:
    certificate: $PKI/chain.pem
    key: $PKI/server.key"
AUTH_YAML="auth:
  htpasswd:
    realm: $REALM
    path: $WORK/htpasswd"

# check_refusal NAME WANT_STATUS STATUS WANT_CHALLENGE WANT_CODE: a refusal of the last fetch.
check_refusal() {
  local name=$1
  check "$name: status" "$2" "$3"
  check "$name: WWW-Authenticate" "$4" "$(header_of "$WORK/r.hdr" WWW-Authenticate)"
  [ -n "$5" ] && check "$name: error code" "$5" "$(error_code)"
  return 0
}

# ---------------------------------------------------------------- TLS + htpasswd

test_tls_transport() {
  section "TLS: certificate chain, SANs, verification, plain HTTP on the TLS port"
  local s
  s=$(fetch GET "https://127.0.0.1:$REG_PORT/v2/" --cacert "$PKI/ca.pem")
  check "https://127.0.0.1 with --cacert (IP SAN): an HTTP answer" 401 "$s"
  s=$(fetch GET "https://localhost:$REG_PORT/v2/" --cacert "$PKI/ca.pem")
  check "https://localhost with --cacert (DNS SAN): an HTTP answer" 401 "$s"
  fetch GET "https://127.0.0.1:$REG_PORT/v2/" >/dev/null
  check "without the CA: curl fails certificate verification (exit 60)" 60 "$(cat "$WORK/r.rc")"
  # The registry serves leaf + intermediate: a client that trusts only the root verifies.
  openssl s_client -connect "127.0.0.1:$REG_PORT" -servername localhost -CAfile "$PKI/ca.pem" \
    -showcerts -verify_return_error </dev/null >"$WORK/s_client.out" 2>&1 || true
  check "served chain: leaf + intermediate" 2 "$(grep -c 'BEGIN CERTIFICATE' "$WORK/s_client.out" || true)"
  check "served chain: verifies against the root alone" "Verify return code: 0 (ok)" \
    "$(grep -o 'Verify return code: .*' "$WORK/s_client.out" | head -1)"
  s=$(fetch GET "https://127.0.0.1:$REG_PORT/v2/" --cacert "$PKI/ca.pem" --tlsv1.2 --tls-max 1.2)
  check "TLS 1.2 handshake" 401 "$s"
  s=$(fetch GET "https://127.0.0.1:$REG_PORT/v2/" --cacert "$PKI/ca.pem" --tlsv1.3)
  check "TLS 1.3 handshake" 401 "$s"
  s=$(command curl -s -o /dev/null -w '%{http_version}' --cacert "$PKI/ca.pem" -u "$USER1:$PASS1" \
    "https://127.0.0.1:$REG_PORT/v2/")
  check "ALPN: HTTP/2 negotiated (as Go's server does)" 2 "$s"
  s=$(fetch GET "https://127.0.0.1:$REG_PORT/v2/" --cacert "$PKI/ca.pem" --http1.1 -u "$USER1:$PASS1")
  check "HTTP/1.1 over TLS works too" 200 "$s"

  # Plain HTTP to the TLS port: Go answers "400 Client sent an HTTP request to an HTTPS
  # server."; whatever comes back must not be a registry answer.
  s=$(fetch GET "http://127.0.0.1:$REG_PORT/v2/" -u "$USER1:$PASS1")
  echo "#   plain HTTP on the TLS port: status $s, body: $(head -c 80 "$WORK/r.body" | tr -d '\r\n')"
  check "plain HTTP on the TLS port: not a 200" yes "$([ "$s" != 200 ] && echo yes || echo "no ($s)")"
  check "plain HTTP on the TLS port: no registry JSON" "" "$(error_code)$(grep -o '{}' "$WORK/r.body" || true)"
  check "plain HTTP on the TLS port: no Docker-Distribution-Api-Version" "" \
    "$(header_of "$WORK/r.hdr" Docker-Distribution-Api-Version)"
}

test_basic_auth() {
  section "htpasswd: challenges and credentials (curl --cacert)"
  local u=$REG_URL s ca=(--cacert "$PKI/ca.pem")
  s=$(fetch GET "$u/v2/" "${ca[@]}")
  check_refusal "GET /v2/ without credentials" 401 "$s" "Basic realm=\"$REALM\"" UNAUTHORIZED
  check "GET /v2/ without credentials: message" "authentication required" \
    "$(jq -r '.errors[0].message' "$WORK/r.body" 2>/dev/null)"
  check "GET /v2/ without credentials: Content-Type" "application/json; charset=utf-8" \
    "$(header_of "$WORK/r.hdr" Content-Type)"
  check "GET /v2/ without credentials: Docker-Distribution-Api-Version" "registry/2.0" \
    "$(header_of "$WORK/r.hdr" Docker-Distribution-Api-Version)"
  s=$(fetch GET "$u/v2/" "${ca[@]}" -u "$USER1:wrong")
  check_refusal "GET /v2/ with a wrong password" 401 "$s" "Basic realm=\"$REALM\"" UNAUTHORIZED
  s=$(fetch GET "$u/v2/" "${ca[@]}" -u "nobody:$PASS1")
  check_refusal "GET /v2/ with an unknown user" 401 "$s" "Basic realm=\"$REALM\"" UNAUTHORIZED
  s=$(fetch GET "$u/v2/" "${ca[@]}" -u "$USER1:${PASS1%%:*}")
  check_refusal "GET /v2/ with the password cut at its colon" 401 "$s" "Basic realm=\"$REALM\"" UNAUTHORIZED
  s=$(fetch GET "$u/v2/" "${ca[@]}" -H 'Authorization: Bearer some-token')
  check_refusal "GET /v2/ with a Bearer token" 401 "$s" "Basic realm=\"$REALM\"" UNAUTHORIZED
  s=$(fetch GET "$u/v2/" "${ca[@]}" -H 'Authorization: Basic !!!not-base64')
  check_refusal "GET /v2/ with malformed Basic credentials" 401 "$s" "Basic realm=\"$REALM\"" UNAUTHORIZED
  s=$(fetch GET "$u/v2/" "${ca[@]}" -u "$USER1:$PASS1")
  check "GET /v2/ with the right password (cost 5 entry): status" 200 "$s"
  check "GET /v2/ with the right password: body" "{}" "$(cat "$WORK/r.body")"
  check "GET /v2/ with the right password: no challenge" "" "$(header_of "$WORK/r.hdr" WWW-Authenticate)"
  s=$(fetch GET "$u/v2/" "${ca[@]}" -u "$USER2:$PASS2")
  check "GET /v2/ with the right password (cost 10 entry)" 200 "$s"

  # Repository and catalog routes refuse the same way (no scope in a Basic challenge).
  s=$(fetch GET "$u/v2/e2e/none/tags/list" "${ca[@]}")
  check_refusal "GET tags/list without credentials" 401 "$s" "Basic realm=\"$REALM\"" UNAUTHORIZED
  s=$(fetch HEAD "$u/v2/e2e/none/manifests/latest" "${ca[@]}")
  check_refusal "HEAD manifest without credentials" 401 "$s" "Basic realm=\"$REALM\"" ""
  s=$(fetch POST "$u/v2/e2e/none/blobs/uploads/" "${ca[@]}")
  check_refusal "POST blob upload without credentials" 401 "$s" "Basic realm=\"$REALM\"" UNAUTHORIZED
  s=$(fetch POST "$u/v2/e2e/none/blobs/uploads/" "${ca[@]}" -u "$USER1:wrong")
  check_refusal "POST blob upload with a wrong password" 401 "$s" "Basic realm=\"$REALM\"" UNAUTHORIZED
  s=$(fetch GET "$u/v2/_catalog" "${ca[@]}")
  check_refusal "GET _catalog without credentials" 401 "$s" "Basic realm=\"$REALM\"" UNAUTHORIZED
  s=$(fetch GET "$u/v2/_catalog" "${ca[@]}" -u "$USER1:$PASS1")
  check "GET _catalog with credentials" 200 "$s"
}

# Entries that are not bcrypt ($apr1$ MD5, {SHA}, plain text) are never accepted by
# distribution, even with the right password.
test_non_bcrypt() {
  section "htpasswd: only bcrypt entries count"
  local s
  for user in md5user shauser plainuser; do
    s=$(fetch GET "$REG_URL/v2/" --cacert "$PKI/ca.pem" -u "$user:pw-$user")
    check "entry of $user (not bcrypt), right password: refused" 401 "$s"
  done
}

test_docker() {
  section "docker over TLS with htpasswd: login, push, pull, logout"
  local archive out rc
  archive=$(make_archive docker-archive "$WORK/img" e2e/img:amd64)
  quiet dk load -i "$archive"
  out=$(dk login -u "$USER1" --password-stdin "$REG" <<<"wrong" 2>&1) && rc=0 || rc=$?
  check "docker login, wrong password: fails" 1 "$rc"
  check_cmd "docker login, wrong password: the registry answered 401" \
    grep -q "login attempt to https://$REG/v2/ failed with status: 401 Unauthorized" <<<"$out"
  check "docker login, wrong password: nothing stored" null \
    "$(jq -r --arg r "$REG" '.auths[$r] // null' "$DOCKER_CONFIG/config.json" 2>/dev/null || echo null)"
  out=$(dk login -u "$USER1" --password-stdin "$REG" <<<"$PASS1" 2>&1) || true
  check "docker login, right password" "Login Succeeded" "$(tail -1 <<<"$out")"
  check "docker login: credentials stored" "$(printf '%s:%s' "$USER1" "$PASS1" | base64 -w0)" \
    "$(jq -r --arg r "$REG" '.auths[$r].auth' "$DOCKER_CONFIG/config.json")"

  dk tag e2e/img:amd64 "$REG/e2e/docker:v1"
  quiet dk push "$REG/e2e/docker:v1"
  local pushed
  pushed=$(grep -oE 'digest: sha256:[0-9a-f]{64}' "$WORK/cmd.log" | tail -1 | cut -d' ' -f2)
  echo "$pushed" >"$WORK/docker.digest"
  CURL_EXTRA=(-u "$USER1:$PASS1")
  verify_manifest "docker push" e2e/docker v1 "$pushed" "$V2S2_MANIFEST"
  curl -sf -H "Accept: $DOCKER_ACCEPT" "$REG_URL/v2/e2e/docker/manifests/v1" >"$WORK/docker.json"
  check "docker push: config is the image's" "$IMG_AMD64_CONFIG" "$(jq -r .config.digest "$WORK/docker.json")"
  blob_get e2e/docker "$IMG_AMD64_CONFIG" "$WORK/config.json" >/dev/null
  check_cmd "docker push: config bytes equal the source" cmp "$WORK/config.json" "$(oci_blob "$IMG_OCI" "$IMG_AMD64_CONFIG")"

  quiet dk rmi "$REG/e2e/docker:v1" e2e/img:amd64
  quiet dk pull "$REG/e2e/docker:v1"
  check "docker pull: digest" "Digest: $pushed" "$(grep -o 'Digest: .*' "$WORK/cmd.log")"
  check "docker pull: image ID is the config digest" "$IMG_AMD64_CONFIG" \
    "$(dk image inspect "$REG/e2e/docker:v1" | jq -r '.[0].Id')"
  quiet dk rmi "$REG/e2e/docker:v1"

  check_cmd "docker logout" dk logout "$REG"
  out=$(dk pull "$REG/e2e/docker:v1" 2>&1) && rc=0 || rc=$?
  check "docker pull after logout: fails" 1 "$rc"
  # dockerd tries https first (a 401 with a Basic challenge it has no credentials for), then
  # plain http on the same port (which a TLS port does not serve); the CLI shows the last
  # error, dockerd's log the https one.
  echo "#   docker pull after logout: $(tail -1 <<<"$out")"
  local refusals
  refusals=$(grep -F "https://$REG/v2/e2e/docker/manifests/v1" "$WORK/dockerd/dockerd.log" |
    grep -c 'no basic auth credentials' || true)
  check "docker pull after logout: https refused for missing credentials (dockerd log)" yes \
    "$([ "$refusals" -ge 1 ] && echo yes || echo no)"
  check_fails "docker pull after logout: no image" dk image inspect "$REG/e2e/docker:v1"
}

test_podman() {
  section "podman over TLS with --cert-dir and htpasswd"
  local cd=$WORK/certs-ca out rc
  cert_dir "$cd" "$PKI/ca.pem"
  out=$(podman login --cert-dir "$cd" -u "$USER1" -p wrong "$REG" 2>&1) && rc=0 || rc=$?
  check "podman login, wrong password: fails" 125 "$rc"
  check_cmd "podman login, wrong password: 'invalid username/password'" \
    grep -qiE 'invalid username/password|unauthorized' <<<"$out"
  out=$(podman login --tls-verify=true -u "$USER1" -p "$PASS1" "$REG" 2>&1) && rc=0 || rc=$?
  check "podman login without the CA: fails" 125 "$rc"
  check_cmd "podman login without the CA: certificate error" grep -qiE 'x509|certificate' <<<"$out"
  out=$(podman login --cert-dir "$cd" -u "$USER1" -p "$PASS1" "$REG" 2>&1) || true
  check "podman login --cert-dir, right password" "Login Succeeded!" "$out"
  check "podman login: credentials stored" "$(printf '%s:%s' "$USER1" "$PASS1" | base64 -w0)" \
    "$(jq -r --arg r "$REG" '.auths[$r].auth' "$REGISTRY_AUTH_FILE")"

  local archive
  archive=$(make_archive oci-archive "$WORK/img" localhost/e2e/img:amd64)
  quiet podman load -i "$archive"
  check_fails "podman push without the CA: fails" \
    podman push --tls-verify=true localhost/e2e/img:amd64 "docker://$REG/e2e/podman:v1"
  check_last_output "podman push without the CA: certificate error" 'x509|certificate'
  quiet podman push --cert-dir "$cd" --format v2s2 --digestfile "$WORK/podman.digest" \
    localhost/e2e/img:amd64 "docker://$REG/e2e/podman:v1"
  local digest
  digest=$(cat "$WORK/podman.digest")
  CURL_EXTRA=(-u "$USER1:$PASS1")
  verify_manifest "podman push" e2e/podman v1 "$digest" "$V2S2_MANIFEST"
  quiet podman rmi -af
  quiet podman pull --cert-dir "$cd" "$REG/e2e/podman:v1"
  check "podman pull: image ID is the config digest" "${IMG_AMD64_CONFIG#sha256:}" \
    "$(podman image inspect "$REG/e2e/podman:v1" | jq -r '.[0].Id')"
  check "podman pull: manifest digest" "$digest" "$(podman image inspect "$REG/e2e/podman:v1" | jq -r '.[0].Digest')"
  quiet podman rmi -af
  check_cmd "podman logout" podman logout "$REG"
  check_fails "podman pull after logout: refused" podman pull --cert-dir "$cd" "$REG/e2e/podman:v1"
  check_last_output "podman pull after logout: unauthorized" 'unauthorized|authentication required'
}

test_skopeo() {
  section "skopeo over TLS with --cert-dir and credentials"
  local cd=$WORK/certs-ca
  cert_dir "$cd" "$PKI/ca.pem"
  quiet sk copy --dest-cert-dir "$cd" --dest-creds "$USER1:$PASS1" \
    "oci:$IMG_OCI:amd64" "docker://$REG/e2e/skopeo:v1"
  CURL_EXTRA=(-u "$USER1:$PASS1")
  verify_manifest "skopeo copy --dest-cert-dir" e2e/skopeo v1 "$IMG_AMD64_MANIFEST" "$OCI_MANIFEST"
  # shellcheck disable=SC2086
  verify_blobs "skopeo copy --dest-cert-dir" e2e/skopeo "$IMG_AMD64_CONFIG" $IMG_AMD64_LAYERS
  quiet sk copy --src-cert-dir "$cd" --src-creds "$USER2:$PASS2" \
    "docker://$REG/e2e/skopeo:v1" "oci:$WORK/out:v1"
  verify_oci_copy "skopeo copy --src-cert-dir" "$WORK/out" v1 "$IMG_OCI" "$IMG_AMD64_MANIFEST"
  check "skopeo inspect --cert-dir: digest" "$IMG_AMD64_MANIFEST" \
    "$(sk inspect --cert-dir "$cd" --creds "$USER1:$PASS1" "docker://$REG/e2e/skopeo:v1" | jq -r .Digest)"

  check_fails "skopeo without the CA: fails" \
    sk inspect --creds "$USER1:$PASS1" "docker://$REG/e2e/skopeo:v1"
  check_last_output "skopeo without the CA: certificate verification error" \
    'x509: certificate signed by unknown authority|certificate is not trusted'
  check_fails "skopeo copy without the CA: fails" \
    sk copy --dest-creds "$USER1:$PASS1" "oci:$IMG_OCI:amd64" "docker://$REG/e2e/skopeo:v2"
  check_fails "skopeo anonymous inspect: refused" \
    sk inspect --cert-dir "$cd" --no-creds "docker://$REG/e2e/skopeo:v1"
  check_last_output "skopeo anonymous inspect: 401 unauthorized" 'unauthorized|authentication required|401'
  check_fails "skopeo inspect with a wrong password: refused" \
    sk inspect --cert-dir "$cd" --creds "$USER1:nope" "docker://$REG/e2e/skopeo:v1"
  check_fails "skopeo copy with a wrong password: refused" \
    sk copy --dest-cert-dir "$cd" --dest-creds "$USER1:nope" "oci:$IMG_OCI:amd64" "docker://$REG/e2e/skopeo:v3"
  check "refused pushes left no tags" '["v1"]' "$(tags_of e2e/skopeo)"
  # Deleting needs credentials too.
  local s
  s=$(fetch DELETE "$REG_URL/v2/e2e/skopeo/manifests/$IMG_AMD64_MANIFEST" --cacert "$PKI/ca.pem")
  check_refusal "DELETE manifest without credentials" 401 "$s" "Basic realm=\"$REALM\"" UNAUTHORIZED
  check "manifest still there after the refused DELETE" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $OCI_MANIFEST" "$REG_URL/v2/e2e/skopeo/manifests/v1")"
}

# ---------------------------------------------------------------- mTLS

test_mtls() {
  section "client certificates (http.tls.clientcas)"
  local u=$REG_URL s rc
  s=$(fetch GET "$u/v2/" --cacert "$PKI/ca.pem")
  rc=$(cat "$WORK/r.rc")
  echo "#   no client certificate (TLS 1.3): status $s, curl exit $rc"
  check "no client certificate (TLS 1.3): no HTTP answer" 000 "$s"
  check "no client certificate (TLS 1.3): curl fails" yes "$([ "$rc" != 0 ] && echo yes || echo no)"
  s=$(fetch GET "$u/v2/" --cacert "$PKI/ca.pem" --tlsv1.2 --tls-max 1.2)
  rc=$(cat "$WORK/r.rc")
  echo "#   no client certificate (TLS 1.2): status $s, curl exit $rc"
  # Go alerts "bad certificate" (curl exit 35), rustls "certificate required" (curl exit 98,
  # CURLE_SSL_CLIENTCERT): both end the handshake before any HTTP.
  check "no client certificate (TLS 1.2): handshake fails (curl exit 35 or 98)" yes \
    "$([ "$s" = 000 ] && { [ "$rc" = 35 ] || [ "$rc" = 98 ]; } && echo yes || echo "no ($s $rc)")"
  s=$(fetch GET "$u/v2/" --cacert "$PKI/ca.pem" --cert "$PKI/stranger.pem" --key "$PKI/stranger.key")
  check "client certificate from another CA: no HTTP answer" 000 "$s"
  s=$(fetch GET "$u/v2/" --cacert "$PKI/ca.pem" --cert "$PKI/stranger.pem" --key "$PKI/stranger.key" --tls-max 1.2)
  check "client certificate from another CA (TLS 1.2): handshake fails" "000 35" "$s $(cat "$WORK/r.rc")"
  s=$(fetch GET "$u/v2/" --cacert "$PKI/ca.pem" --cert "$PKI/client.pem" --key "$PKI/client.key")
  check "trusted client certificate: 200" 200 "$s"
  check "trusted client certificate: body" "{}" "$(cat "$WORK/r.body")"
  s=$(fetch GET "$u/v2/" --cacert "$PKI/ca.pem" --cert "$PKI/client.pem" --key "$PKI/client.key" --tls-max 1.2)
  check "trusted client certificate (TLS 1.2): 200" 200 "$s"

  local full=$WORK/certs-client caonly=$WORK/certs-ca
  cert_dir "$full" "$PKI/ca.pem" "$PKI/client.pem" "$PKI/client.key"
  cert_dir "$caonly" "$PKI/ca.pem"
  quiet sk copy --dest-cert-dir "$full" "oci:$IMG_OCI:amd64" "docker://$REG/e2e/mtls:v1"
  CURL_EXTRA=(--cert "$PKI/client.pem" --key "$PKI/client.key")
  verify_manifest "skopeo push with a client certificate" e2e/mtls v1 "$IMG_AMD64_MANIFEST" "$OCI_MANIFEST"
  check "skopeo inspect --cert-dir (ca.crt, client.cert, client.key): digest" "$IMG_AMD64_MANIFEST" \
    "$(sk inspect --cert-dir "$full" "docker://$REG/e2e/mtls:v1" | jq -r .Digest)"
  quiet sk copy --src-cert-dir "$full" "docker://$REG/e2e/mtls:v1" "oci:$WORK/out-mtls:v1"
  verify_oci_copy "skopeo pull with a client certificate" "$WORK/out-mtls" v1 "$IMG_OCI" "$IMG_AMD64_MANIFEST"
  check_fails "skopeo with ca.crt only (no client certificate): fails" \
    sk inspect --cert-dir "$caonly" "docker://$REG/e2e/mtls:v1"
  check_fails "skopeo push with ca.crt only: fails" \
    sk copy --dest-cert-dir "$caonly" "oci:$IMG_OCI:amd64" "docker://$REG/e2e/mtls:v2"
  check "refused push left no tag" '["v1"]' "$(tags_of e2e/mtls)"
}

# ---------------------------------------------------------------- read-only

push_before_readonly() {
  quiet sk copy --dest-tls-verify=false "oci:$IMG_OCI:amd64" "docker://$REG/e2e/ro:v1"
  verify_manifest "before read-only: pushed" e2e/ro v1 "$IMG_AMD64_MANIFEST" "$OCI_MANIFEST"
}

test_readonly_push() {
  section "read-only mode: writes refused"
  local u=$REG_URL s
  check_fails "skopeo copy to a read-only registry: fails" \
    sk copy --dest-tls-verify=false "oci:$IMG_OCI:arm64" "docker://$REG/e2e/ro:new"
  check_fails "skopeo copy over an existing tag: fails" \
    sk copy --dest-tls-verify=false "oci:$IMG_OCI:arm64" "docker://$REG/e2e/ro:v1"
  # distribution 2.8 registers no write routes in read-only mode: 405 with Allow: GET, HEAD.
  local -a writes=(
    "POST /v2/e2e/ro/blobs/uploads/"
    "POST /v2/e2e/fresh/blobs/uploads/"
    "POST /v2/e2e/ro/blobs/uploads/?mount=$IMG_AMD64_CONFIG&from=e2e/ro"
    "PUT /v2/e2e/ro/manifests/v2"
    "DELETE /v2/e2e/ro/manifests/$IMG_AMD64_MANIFEST"
    "DELETE /v2/e2e/ro/blobs/$IMG_AMD64_CONFIG"
  )
  local w m p
  for w in "${writes[@]}"; do
    m=${w%% *} p=${w#* }
    if [ "$m" = PUT ]; then
      s=$(fetch PUT "$u$p" -H "Content-Type: $OCI_MANIFEST" --data-binary @"$(oci_blob "$IMG_OCI" "$IMG_AMD64_MANIFEST")")
    else
      s=$(fetch "$m" "$u$p")
    fi
    check "$m ${p:0:60}: 405" 405 "$s"
    check "$m ${p:0:60}: Allow" "GET, HEAD" "$(header_of "$WORK/r.hdr" Allow)"
  done
  echo "#   read-only refusal body: $(head -c 100 "$WORK/r.body" | tr -d '\r\n'), Content-Type $(header_of "$WORK/r.hdr" Content-Type)"
  check "nothing new in the catalog" '["e2e/ro"]' "$(curl -s "$u/v2/_catalog" | jq -c .repositories)"
  check "tags unchanged" '["v1"]' "$(tags_of e2e/ro)"
}

test_readonly_pull() {
  section "read-only mode: reads work"
  verify_manifest "read-only GET" e2e/ro v1 "$IMG_AMD64_MANIFEST" "$OCI_MANIFEST"
  check "read-only HEAD blob" 200 "$(http_status HEAD "$REG_URL/v2/e2e/ro/blobs/$IMG_AMD64_CONFIG")"
  quiet sk copy --src-tls-verify=false "docker://$REG/e2e/ro:v1" "oci:$WORK/out-ro:v1"
  verify_oci_copy "skopeo pull from a read-only registry" "$WORK/out-ro" v1 "$IMG_OCI" "$IMG_AMD64_MANIFEST"
}

# ---------------------------------------------------------------- silly

# A token endpoint on loopback for the silly realm: any request gets a token; the query
# strings it was asked for go to $WORK/token.log.
start_token_server() {
  TOKEN_PORT=$(free_port)
  python3 - "$TOKEN_PORT" "$WORK/token.log" >"$WORK/token-server.log" 2>&1 <<'EOF' &
import http.server, json, sys
log = open(sys.argv[2], "a")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        log.write("%s auth=%s\n" % (self.path, "yes" if self.headers.get("Authorization") else "no"))
        log.flush()
        body = json.dumps({"token": "e2e-silly-token", "access_token": "e2e-silly-token",
                           "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
  TOKEN_PID=$!
  track_pid "$TOKEN_PID"
  wait_port "$TOKEN_PORT" 10 "$TOKEN_PID"
}

test_silly() {
  section "silly auth: a Bearer challenge, any Authorization header passes"
  local u=$REG_URL s realm="http://127.0.0.1:$TOKEN_PORT/token" svc=e2e-registry
  local base="Bearer realm=\"$realm\",service=\"$svc\""
  s=$(fetch GET "$u/v2/")
  check_refusal "GET /v2/ without Authorization" 401 "$s" "$base" UNAUTHORIZED
  s=$(fetch GET "$u/v2/e2e/silly/tags/list")
  check_refusal "GET tags/list without Authorization" 401 "$s" "$base,scope=\"repository:e2e/silly:pull\"" UNAUTHORIZED
  s=$(fetch HEAD "$u/v2/e2e/silly/manifests/v1")
  check_refusal "HEAD manifest without Authorization" 401 "$s" "$base,scope=\"repository:e2e/silly:pull\"" ""
  s=$(fetch GET "$u/v2/_catalog")
  check_refusal "GET _catalog without Authorization" 401 "$s" "$base,scope=\"registry:catalog:*\"" UNAUTHORIZED
  s=$(fetch DELETE "$u/v2/e2e/silly/manifests/$IMG_AMD64_MANIFEST")
  check_refusal "DELETE manifest without Authorization" 401 "$s" "$base,scope=\"repository:e2e/silly:delete\"" UNAUTHORIZED
  s=$(fetch POST "$u/v2/e2e/silly/blobs/uploads/")
  check "POST upload without Authorization: status" 401 "$s"
  check "POST upload without Authorization: error code" UNAUTHORIZED "$(error_code)"
  local chal
  chal=$(header_of "$WORK/r.hdr" WWW-Authenticate)
  echo "#   POST upload challenge: $chal"
  check "POST upload challenge: realm and service" "$base" "${chal%%,scope=*}"
  # distribution 2.8 writes 'scope="repository:R:pull repository:R:push"'; 'repository:R:pull,push'
  # means the same to clients: compare the set of actions asked for.
  check "POST upload challenge: scope asks for pull and push on e2e/silly" "pull push" \
    "$(sed -E 's/.*scope="([^"]*)".*/\1/' <<<"$chal" | tr ' ' '\n' |
      sed -nE 's/^repository:e2e\/silly:(.*)$/\1/p' | tr ',' '\n' | sort -u | xargs)"

  local h
  for h in 'Bearer anything' 'Basic Zm9vOmJhcg==' 'whatever'; do
    s=$(fetch GET "$u/v2/" -H "Authorization: $h")
    check "GET /v2/ with 'Authorization: $h': 200" 200 "$s"
  done
  s=$(fetch GET "$u/v2/_catalog" -H "Authorization: Bearer x")
  check "GET _catalog with Authorization: 200" 200 "$s"

  # A real client follows the challenge: it asks the loopback token endpoint for a token
  # with the realm's service and scope, then sends it as Bearer.
  quiet sk copy --dest-tls-verify=false --dest-creds any:thing "oci:$IMG_OCI:amd64" "docker://$REG/e2e/silly:v1"
  check_cmd "skopeo asked the token endpoint for service=$svc" grep -q "service=$svc" "$WORK/token.log"
  check_cmd "skopeo asked for push on e2e/silly" grep -qE 'scope=repository%3Ae2e%2Fsilly%3A(pull%2C)?push' "$WORK/token.log"
  CURL_EXTRA=(-H "Authorization: Bearer e2e-silly-token")
  verify_manifest "push through silly auth" e2e/silly v1 "$IMG_AMD64_MANIFEST" "$OCI_MANIFEST"
  quiet sk copy --src-tls-verify=false "docker://$REG/e2e/silly:v1" "oci:$WORK/out-silly:v1"
  verify_oci_copy "pull through silly auth" "$WORK/out-silly" v1 "$IMG_OCI" "$IMG_AMD64_MANIFEST"
}

# ---------------------------------------------------------------- a missing htpasswd file

# distribution 2.8 creates a missing htpasswd file with a user "docker" and a random
# password (printed in its log) and then requires it.
test_missing_htpasswd() {
  section "auth.htpasswd.path that does not exist yet"
  local port cfg f=$WORK/auth-missing/htpasswd s
  port=$(free_port)
  cfg=$WORK/missing.yml
  write_config "$cfg" "$port" "$WORK/root-missing" "" "auth:
  htpasswd:
    realm: $REALM
    path: $f"
  start_registry_config "$KIND" "$cfg" http "$port"
  check_cmd "htpasswd file created" test -s "$f"
  # shellcheck disable=SC2016 # a literal $2y$ prefix
  check_cmd "it holds a bcrypt entry for user docker" grep -qE '^docker:\$2[aby]\$' "$f"
  s=$(fetch GET "$REG_URL/v2/")
  check_refusal "GET /v2/ without credentials" 401 "$s" "Basic realm=\"$REALM\"" UNAUTHORIZED
  stop_registry
}

# ---------------------------------------------------------------- main

for tool in openssl htpasswd; do
  command -v "$tool" >/dev/null || { echo "missing $tool (run tests/e2e/deps.sh)" >&2; exit 1; }
done
make_pki "$PKI"
: >"$WORK/htpasswd"
add_htpasswd "$WORK/htpasswd" 5 "$USER1" "$PASS1"
add_htpasswd "$WORK/htpasswd" 10 "$USER2" "$PASS2"
{
  htpasswd -nbm md5user pw-md5user
  htpasswd -nbs shauser pw-shauser
  echo "plainuser:pw-plainuser"
} | sed '/^$/d' >>"$WORK/htpasswd"
make_test_images "$WORK/img"

# 1. TLS + htpasswd
PORT=$(free_port)
write_config "$WORK/tls-auth.yml" "$PORT" "$WORK/root" "$TLS_YAML" "$AUTH_YAML"
if start_registry_config "$KIND" "$WORK/tls-auth.yml" https "$PORT"; then
  run_test test_tls_transport
  run_test test_basic_auth
  run_test test_non_bcrypt
  if ! command -v dockerd >/dev/null; then
    skip "docker over TLS: dockerd is not installed"
  elif start_dockerd; then
    run_test test_docker
    stop_dockerd
  else
    skip "docker over TLS: the private dockerd did not start"
  fi
  # skopeo before podman: podman pushes recompressed layers, and containers/image's
  # blob-info cache would then make skopeo reuse those instead of the source's own.
  run_test test_skopeo
  run_test test_podman
  stop_registry
else
  not_ok "registry with http.tls + auth.htpasswd did not start"
fi

# 2. client certificates
PORT=$(free_port)
write_config "$WORK/mtls.yml" "$PORT" "$WORK/root-mtls" "$TLS_YAML
    clientcas:
      - $PKI/client-ca.pem"
if start_registry_config "$KIND" "$WORK/mtls.yml" https "$PORT"; then
  run_test test_mtls
  stop_registry
else
  not_ok "registry with http.tls.clientcas did not start"
fi

# 3. read-only: push with read-only off, restart the same root with it on.
CURL_EXTRA=()
PORT=$(free_port)
write_config "$WORK/rw.yml" "$PORT" "$WORK/root-ro"
start_registry_config "$KIND" "$WORK/rw.yml" http "$PORT"
run_test push_before_readonly
stop_registry
write_config "$WORK/ro.yml" "$PORT" "$WORK/root-ro" "" "  maintenance:
    readonly:
      enabled: true"
if start_registry_config "$KIND" "$WORK/ro.yml" http "$PORT"; then
  run_test test_readonly_push
  run_test test_readonly_pull
  stop_registry
else
  not_ok "registry with storage.maintenance.readonly.enabled did not start"
fi

# 4. silly
CURL_EXTRA=()
start_token_server
PORT=$(free_port)
write_config "$WORK/silly.yml" "$PORT" "$WORK/root-silly" "" "auth:
  silly:
    realm: http://127.0.0.1:$TOKEN_PORT/token
    service: e2e-registry"
if start_registry_config "$KIND" "$WORK/silly.yml" http "$PORT"; then
  run_test test_silly
  stop_registry
else
  not_ok "registry with auth.silly did not start"
fi

# 5. a missing htpasswd file
run_test test_missing_htpasswd

e2e_done
