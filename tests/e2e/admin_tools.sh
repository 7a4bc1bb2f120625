#!/usr/bin/env bash
# berth's admin tools against independent judges: an htpasswd file made by `berth htpasswd`
# is read by the REFERENCE registry (distribution 2.8, curl -u) and verified by apache's
# `htpasswd -vb`; certificates made by `berth cert self-signed` are checked by openssl, served
# by the reference and by berth, and trusted by curl --cacert and skopeo --cert-dir (ca.crt
# alone, no --tls-verify=false) for a push with credentials, the seeds' setup end to end, and
# still after `--renew` replaced the server certificate.
#   usage: admin_tools.sh berth   (the tools are berth's; registries: both)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ "${1:-}" = berth ] || { echo "usage: admin_tools.sh berth" >&2; exit 2; }
e2e_init "$@"

USER1=alice
PASS1='s3cret pw:with colon'   # a space and a colon: Basic auth splits at the first colon
USER2=bob
PASS2=hunter2
HTPASSWD=$WORK/auth/htpasswd
CERTS=$WORK/certs

# bh ARGS...: berth's admin command, bounded in time.
bh() { timeout "$E2E_CMD_TIMEOUT" "$BERTH" "$@"; }

# write_config FILE PORT ROOT EXTRA: a config.yml for 127.0.0.1:PORT with EXTRA (YAML lines
# under http: when they start with two spaces, else top-level sections) after http.addr.
write_config() {
  cat >"$1" <<EOF2
version: 0.1
log:
  level: info
http:
  addr: 127.0.0.1:$2
$4
storage:
  filesystem:
    rootdirectory: $3
EOF2
}

AUTH_YAML="auth:
  htpasswd:
    realm: admin-tools
    path: $HTPASSWD"
TLS_YAML="  tls:
    certificate: $CERTS/server.crt
    key: $CERTS/server.key"

# status URL [CURL_ARGS...]: the status code of a GET (000 without an HTTP answer).
status() {
  local url=$1
  shift
  command curl -s -o /dev/null -w '%{http_code}' "$@" "$url" || true
}

test_htpasswd_file() {
  section "berth htpasswd makes the file apache's htpasswd would"
  mkdir -p "$WORK/auth"
  # An entry made by apache's htpasswd and a comment, which berth must keep as they are.
  { echo "# made by hand"; htpasswd -nbB -C 5 carol pw-carol | sed '/^$/d'; } >"$HTPASSWD"
  local before
  before=$(cat "$HTPASSWD")
  quiet bh htpasswd add "$HTPASSWD" "$USER1" --password-stdin <<<"$PASS1"
  printf '%s\n' "$PASS2" | quiet bh htpasswd add "$HTPASSWD" "$USER2" --password-stdin --cost 5
  check "the other lines are kept byte for byte" "$before" "$(head -2 "$HTPASSWD")"
  # shellcheck disable=SC2016 # literal $ in the patterns
  check "alice: bcrypt \$2y\$ at cost 10 (the default)" yes \
    "$(grep -qE '^alice:\$2y\$10\$[./A-Za-z0-9]{53}$' "$HTPASSWD" && echo yes || echo no)"
  # shellcheck disable=SC2016
  check "bob: cost 5" yes "$(grep -qE '^bob:\$2y\$05\$' "$HTPASSWD" && echo yes || echo no)"
  check_cmd "apache htpasswd -vb verifies alice" htpasswd -vb "$HTPASSWD" "$USER1" "$PASS1"
  check_cmd "apache htpasswd -vb verifies bob" htpasswd -vb "$HTPASSWD" "$USER2" "$PASS2"
  check_fails "apache htpasswd -vb refuses a wrong password" htpasswd -vb "$HTPASSWD" "$USER1" nope
  check "berth htpasswd list" "$(printf 'carol\nalice\nbob')" "$(bh htpasswd list "$HTPASSWD")"
}

# The prompt, through a pseudo-terminal (script): asked twice, and never echoed. The input
# is typed after a pause, once the prompt has turned echo off, as a person would.
test_htpasswd_prompt() {
  section "berth htpasswd add on a terminal: a prompt without echo"
  local f=$WORK/prompt-htpasswd out=$WORK/prompt.out
  { sleep 1; echo 'typed-pw-1'; sleep 1; echo 'typed-pw-1'; sleep 1; } |
    timeout 30 script -qec "$BERTH htpasswd add $f dave --cost 4" /dev/null >"$out" 2>&1 || true
  check_cmd "the prompt asked for the password" grep -q 'New password:' "$out"
  check_cmd "and again" grep -q 'Re-type new password:' "$out"
  check_fails "the password was not echoed" grep -q 'typed-pw-1' "$out"
  check_cmd "apache htpasswd -vb verifies the typed password" htpasswd -vb "$f" dave typed-pw-1
  { sleep 1; echo 'one'; sleep 1; echo 'two'; sleep 1; } |
    timeout 30 script -qec "$BERTH htpasswd add $f dave --cost 4" /dev/null >"$out" 2>&1 || true
  check_cmd "different passwords: refused" grep -q 'do not match' "$out"
  check_cmd "and the old password stays" htpasswd -vb "$f" dave typed-pw-1
}

test_reference_reads_htpasswd() {
  section "the reference registry (distribution 2.8) with berth's htpasswd file"
  local port cfg
  port=$(free_port)
  cfg=$WORK/reference-auth.yml
  write_config "$cfg" "$port" "$WORK/root-ref" "$AUTH_YAML"
  start_registry_config reference "$cfg" http "$port"
  check "curl -u alice: 200" 200 "$(status "$REG_URL/v2/" -u "$USER1:$PASS1")"
  check "curl -u bob: 200" 200 "$(status "$REG_URL/v2/" -u "$USER2:$PASS2")"
  check "curl -u carol (apache's line, kept): 200" 200 "$(status "$REG_URL/v2/" -u carol:pw-carol)"
  check "curl -u alice with a wrong password: 401" 401 "$(status "$REG_URL/v2/" -u "$USER1:s3cret")"
  check "curl without credentials: 401" 401 "$(status "$REG_URL/v2/")"
  stop_registry
  # A deleted user is refused once the reference reads the file again (at its start).
  quiet bh htpasswd delete "$HTPASSWD" carol
  check_fails "berth htpasswd delete of a missing user fails" bh htpasswd delete "$HTPASSWD" carol
  check_last_output "naming the user" 'user "carol" is not in'
  start_registry_config reference "$cfg" http "$port"
  check "after delete: curl -u carol: 401" 401 "$(status "$REG_URL/v2/" -u carol:pw-carol)"
  check "after delete: curl -u alice: 200" 200 "$(status "$REG_URL/v2/" -u "$USER1:$PASS1")"
  stop_registry
}

test_certificates() {
  section "berth cert self-signed, judged by openssl"
  quiet bh cert self-signed --host localhost --ip 127.0.0.1 --out "$CERTS"
  check_cmd "openssl verify -CAfile ca.crt server.crt" \
    openssl verify -CAfile "$CERTS/ca.crt" -purpose sslserver "$CERTS/server.crt"
  check_cmd "the SANs are localhost and 127.0.0.1" \
    grep -q 'DNS:localhost, IP Address:127.0.0.1' <(openssl x509 -in "$CERTS/server.crt" -noout -text)
  check "keys are 0600, certificates 0644" "644 600 644 600" \
    "$(stat -c %a "$CERTS/ca.crt" "$CERTS/ca.key" "$CERTS/server.crt" "$CERTS/server.key" | xargs)"
  check_fails "a second run without --force refuses" bh cert self-signed --host localhost --out "$CERTS"
}

test_reference_serves_certificate() {
  section "the reference registry serves berth's certificate"
  local port cfg
  port=$(free_port)
  cfg=$WORK/reference-tls.yml
  write_config "$cfg" "$port" "$WORK/root-ref-tls" "$TLS_YAML"
  start_registry_config reference "$cfg" https "$port"
  check "curl --cacert ca.crt https://localhost: 200" 200 \
    "$(status "https://localhost:$port/v2/" --cacert "$CERTS/ca.crt")"
  check "curl without the CA: no answer" 000 "$(status "https://localhost:$port/v2/")"
  stop_registry
}

test_skopeo_push() {
  section "skopeo pushes to berth over TLS with berth's CA and berth's htpasswd"
  local port cfg cd=$WORK/cert-dir
  port=$(free_port)
  cfg=$WORK/berth-tls-auth.yml
  write_config "$cfg" "$port" "$WORK/root-berth" "$TLS_YAML
$AUTH_YAML"
  start_registry_config berth "$cfg" https "$port"
  # What the printed trust step does for /etc/containers/certs.d/HOST:PORT/: ca.crt only.
  mkdir -p "$cd"
  cp "$CERTS/ca.crt" "$cd/ca.crt"
  quiet sk copy --dest-cert-dir "$cd" --dest-creds "$USER1:$PASS1" \
    "oci:$IMG_OCI:amd64" "docker://$REG/e2e/admin-tools:v1"
  local got
  got=$(command curl -s --cacert "$CERTS/ca.crt" -u "$USER2:$PASS2" -H "Accept: $OCI_MANIFEST" \
    "https://$REG/v2/e2e/admin-tools/manifests/v1" | sha256sum | cut -d' ' -f1)
  check "the pushed manifest's bytes, over TLS as bob" "$IMG_AMD64_MANIFEST" "sha256:$got"
  check "skopeo inspect --cert-dir: digest" "$IMG_AMD64_MANIFEST" \
    "$(sk inspect --cert-dir "$cd" --creds "$USER1:$PASS1" "docker://$REG/e2e/admin-tools:v1" | jq -r .Digest)"
  check_fails "skopeo without the CA: fails" \
    sk inspect --creds "$USER1:$PASS1" "docker://$REG/e2e/admin-tools:v1"
  check_last_output "with a certificate error" 'x509|certificate'
  check_fails "skopeo with a wrong password: refused" \
    sk copy --dest-cert-dir "$cd" --dest-creds "$USER1:nope" "oci:$IMG_OCI:amd64" "docker://$REG/e2e/admin-tools:v2"
  stop_registry

  # A renewal keeps the CA: the same --cert-dir trusts the new server certificate.
  local old_server
  old_server=$(sha "$CERTS/server.crt")
  quiet bh cert self-signed --renew --host localhost --ip 127.0.0.1 --out "$CERTS"
  check_fails "--renew: a new server certificate" test "$old_server" = "$(sha "$CERTS/server.crt")"
  check_cmd "--renew: ca.crt still trusted by the cert dir" cmp "$CERTS/ca.crt" "$cd/ca.crt"
  start_registry_config berth "$cfg" https "$port"
  check "--renew: skopeo inspect with the same --cert-dir" "$IMG_AMD64_MANIFEST" \
    "$(sk inspect --cert-dir "$cd" --creds "$USER1:$PASS1" "docker://$REG/e2e/admin-tools:v1" | jq -r .Digest)"
  stop_registry
}

for tool in openssl htpasswd script skopeo; do
  command -v "$tool" >/dev/null || { echo "missing $tool (run tests/e2e/deps.sh)" >&2; exit 1; }
done
[ -x "$BERTH" ] || { echo "berth not found at $BERTH (cargo build --release, or set BERTH)" >&2; exit 1; }
make_test_images "$WORK/img"

run_test test_htpasswd_file
run_test test_htpasswd_prompt
run_test test_reference_reads_htpasswd
run_test test_certificates
run_test test_reference_serves_certificate
run_test test_skopeo_push

e2e_done
