#!/usr/bin/env bash
# Docker token authentication (distribution's auth.token) with a token server, keys and
# certificates made in the test, driven by curl, docker and skopeo.
#   usage: token.sh berth|reference
# token_server.py (Python stdlib + python3-cryptography) serves the Docker token protocol on
# loopback: GET /token?service=&scope=&account= with Basic credentials of
#   pusher  pull and push on e2e/*, and registry:catalog:*
#   puller  pull on e2e/*
# (a wrong password gets 401 from the token server; no credentials get a token granting
# nothing). Its JWTs carry iss, sub, aud (= service), exp, nbf, iat, jti and access = the
# granted subset of the requested scopes.
# The suite runs twice: with RSA keys (RS256) and with EC P-256 keys (ES256). Each round has
#   signer.key/.pem  a key and its self-signed certificate: tokens name it by
#                    kid = its libtrust key ID
#   ca.pem, leaf     a CA and a leaf it signed: tokens carry x5c = [leaf]
#   bundle.pem       signer.pem + ca.pem: the registry's auth.token.rootcertbundle
#   stranger, rogue  a key/CA and a leaf not in the bundle, for forged tokens
# Clients use both namings: the rsa round runs docker with kid tokens and skopeo with x5c
# tokens, the ec round the other way round; curl checks both namings in both rounds.
# Refusals are checked by status, WWW-Authenticate (scope compared as a set of
# type:name:action: distribution 2.8 writes "repository:R:pull,push" with its actions in Go
# map order) and error code; successes by digests and bytes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND=${1:?usage: token.sh berth|reference}
e2e_init "$@"

SVC=berth-e2e-registry
ISS=berth-e2e-token-issuer
PUSH_USER=pusher
PUSH_PASS='push pw:e2e'   # a space and a colon: Basic auth splits at the first colon
PULL_USER=puller
PULL_PASS='pull-pw'
# Debian's python3 with python3-cryptography (a pyenv python3 in PATH may lack it).
TOKEN_PY=${TOKEN_PYTHON:-/usr/bin/python3}
TS=$E2E_DIR/token_server.py

# The lib's helpers (manifest_get, blob_get, tags_of, verify_*) call `curl`: they get
# whatever CURL_EXTRA holds (a Bearer token). Refusals are checked with `fetch`.
CURL_EXTRA=()
curl() { command curl "${CURL_EXTRA[@]}" "$@"; }

# Check names carry the round (rsa/ec).
ROUND=""
ok() { echo ok >>"$WORK/results"; echo "ok   - ${ROUND:+[$ROUND] }$1"; }
not_ok() { echo FAIL >>"$WORK/results"; echo "FAIL - ${ROUND:+[$ROUND] }$1"; }

# ---------------------------------------------------------------- keys, tokens, servers

# make_keys DIR rsa|ec: the round's keys and certificates (see the header).
make_keys() {
  local d=$1 type=$2
  mkdir -p "$d"
  cat >"$d/ext.cnf" <<'EOF'
[x_ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[x_self]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
subjectKeyIdentifier=hash
[x_leaf]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
  local n subj ext issuer
  while read -r n ext issuer subj; do
    [ "$issuer" = - ] && issuer=""
    issue_cert "$d" "$type" "$n" "$subj" "$ext" "$issuer"
  done <<'EOF'
signer x_self - /CN=berth e2e token signer
ca x_ca - /CN=berth e2e token CA
leaf x_leaf ca /CN=berth e2e token issuer
stranger x_ca - /CN=berth e2e stranger CA
rogue x_leaf stranger /CN=berth e2e rogue issuer
EOF
  cat "$d/signer.pem" "$d/ca.pem" >"$d/bundle.pem"
}

# kid_openssl KEY: the libtrust key ID computed with openssl and coreutils alone.
kid_openssl() {
  openssl pkey -in "$1" -pubout -outform DER | openssl dgst -sha256 -binary | head -c 30 |
    base32 -w0 | sed -E 's/(.{4})/\1:/g; s/:$//'
}

# mint ARGS...: a JWT from token_server.py mint, iss and aud this registry's unless given.
mint() { "$TOKEN_PY" "$TS" mint --iss "$ISS" --aud "$SVC" "$@"; }

# jwt_json TOKEN 1|2: the decoded header (1) or claims (2) of a JWT.
jwt_json() {
  local p
  p=$(cut -d. -f"$2" <<<"$1" | tr '_-' '/+')
  while ((${#p} % 4)); do p+="="; done
  base64 -d <<<"$p"
}

# get_token USER PASS SCOPE...: a token from the token server (USER empty: anonymous).
get_token() {
  local u=$1 p=$2 s
  shift 2
  local -a args=(-s -G --data-urlencode "service=$SVC")
  [ -n "$u" ] && args+=(-u "$u:$p" --data-urlencode "account=$u")
  for s; do args+=(--data-urlencode "scope=$s"); done
  command curl "${args[@]}" "$REALM" | jq -r '.token // empty'
}

# token_mode kid|x5c: how the token server names its key in the next tokens.
token_mode() { echo "$1" >"$MODE_FILE"; }

# tlog_last USER: the token server's last 200 answer to USER, as JSON.
tlog_last() {
  jq -sc --arg u "$1" '[.[] | select(.user == $u and .status == 200)] | last' "$TOKEN_LOG"
}

# tlog_grant USER: "SCOPES GRANTED" of that answer, actions sorted (docker asks for
# "push,pull", skopeo for "pull,push").
tlog_grant() {
  tlog_last "$1" | jq -r '[.query.scope[] | split(":") | "\(.[0]):\(.[1]):\(.[2] | split(",") | sort | join(","))"]
    as $s | "\($s | join(" ")) \([.granted[] | .actions |= sort] | tojson)"'
}

# start_token_server KEYDIR: sets TOKEN_PORT, TOKEN_PID, REALM, TOKEN_LOG, MODE_FILE.
start_token_server() {
  local k=$1 cfg=$1/token-server.json
  TOKEN_PORT=$(free_port)
  REALM=http://127.0.0.1:$TOKEN_PORT/token
  TOKEN_LOG=$k/token-requests.log
  MODE_FILE=$k/mode
  : >"$TOKEN_LOG"
  token_mode kid
  jq -n --arg iss "$ISS" --arg log "$TOKEN_LOG" --arg mode "$MODE_FILE" --arg k "$k" \
    --arg pu "$PUSH_USER" --arg pp "$PUSH_PASS" --arg lu "$PULL_USER" --arg lp "$PULL_PASS" '{
      issuer: $iss, expires_in: 300, log: $log, mode_file: $mode,
      modes: {kid: {key: "\($k)/signer.key"},
              x5c: {key: "\($k)/leaf.key", chain: ["\($k)/leaf.pem"]}},
      users: {($pu): {password: $pp, grants: [
                {type: "repository", name: "e2e/*", actions: ["pull", "push"]},
                {type: "registry", name: "catalog", actions: ["*"]}]},
              ($lu): {password: $lp, grants: [
                {type: "repository", name: "e2e/*", actions: ["pull"]}]}}}' >"$cfg"
  "$TOKEN_PY" "$TS" serve --port "$TOKEN_PORT" --config "$cfg" >"$k/token-server.out" 2>&1 &
  TOKEN_PID=$!
  track_pid "$TOKEN_PID"
  if ! wait_port "$TOKEN_PORT" 10 "$TOKEN_PID"; then
    echo "token server did not start:" >&2
    sed 's/^/    /' "$k/token-server.out" >&2
    return 1
  fi
}

stop_token_server() {
  stop_pid "$TOKEN_PID"
  forget_pid "$TOKEN_PID"
}

# write_config FILE PORT ROOT KEYDIR: distribution config with auth.token.
write_config() {
  cat >"$1" <<EOF
version: 0.1
log:
  level: debug
http:
  addr: 127.0.0.1:$2
storage:
  filesystem:
    rootdirectory: $3
  delete:
    enabled: true
auth:
  token:
    realm: $REALM
    service: $SVC
    issuer: $ISS
    rootcertbundle: $4/bundle.pem
EOF
}

# ---------------------------------------------------------------- challenge checks

# challenge_norm HEADER: the challenge with its scope as the sorted set of type:name:action
# entries, parameters in the header's order, space-separated.
challenge_norm() {
  local h=$1 out kv k v
  out=${h%% *}
  while read -r kv; do
    [ -n "$kv" ] || continue
    k=${kv%%=*} v=${kv#*=}
    v=${v#\"} v=${v%\"}
    if [ "$k" = scope ]; then
      v=$(tr ' ' '\n' <<<"$v" | awk -F: 'NF >= 3 {
            name = $2; for (i = 3; i < NF; i++) name = name ":" $i
            n = split($NF, a, ","); for (j = 1; j <= n; j++) print $1 ":" name ":" a[j] }' |
        sort -u | paste -sd' ')
    fi
    out+=" $k=\"$v\""
  done < <(grep -oE '[a-z_]+="[^"]*"' <<<"${h#* }" || true)
  echo "$out"
}

# want_chal SCOPE ERROR: the normalized challenge expected (SCOPE as sorted entries).
want_chal() {
  local w="Bearer realm=\"$REALM\" service=\"$SVC\""
  [ -n "$1" ] && w+=" scope=\"$1\""
  [ -n "$2" ] && w+=" error=\"$2\""
  echo "$w"
}

# check_refusal NAME STATUS SCOPE ERROR: the last fetch was a 401 with this challenge
# (compared normalized) and the UNAUTHORIZED error code; the raw header is recorded.
check_refusal() {
  local name=$1 chal
  chal=$(header_of "$WORK/r.hdr" WWW-Authenticate)
  echo "#   $name: $2, WWW-Authenticate: $chal, code: $(error_code)"
  check "$name: status" 401 "$2"
  check "$name: challenge" "$(want_chal "$3" "$4")" "$(challenge_norm "$chal")"
  check "$name: error code" UNAUTHORIZED "$(error_code)"
}

# check_detail NAME JSON: .errors[0].detail of the last fetch (the access records the
# request needed) is JSON, keys in any order (Go writes Type, Class, Name, Action; berth
# sorts them); the raw body is recorded.
check_detail() {
  echo "#   $1: body $(tr -d '\n' <"$WORK/r.body")"
  check "$1: error detail (access records)" "$(jq -cS . <<<"$2")" \
    "$(jq -cS '.errors[0].detail' "$WORK/r.body" 2>/dev/null)"
}

# bearer METHOD URL TOKEN [CURL_ARGS...]: fetch with a Bearer token; the registry's log
# lines about the token written meanwhile go to $WORK/reason (why it was refused).
bearer() {
  local m=$1 u=$2 t=$3 n
  shift 3
  n=$(wc -l <"$REG_LOG")
  fetch "$m" "$u" -H "Authorization: Bearer $t" "$@"
  tail -n +"$((n + 1))" "$REG_LOG" |
    grep -E 'token refused|untrusted key|unable to|token not to be used|audience|issuer|no signature|malformed token|signing key' |
    grep -oE 'msg=.*' | sed -E 's/ (go\.version|http\.request\.[a-z]+|instance\.id)=.*//' | head -1 >"$WORK/reason" || true
}

# show_reason: records why the registry says it refused the last bearer request.
show_reason() { echo "#     log: $(cut -c1-200 "$WORK/reason")"; }

# ---------------------------------------------------------------- tests

test_keys() {
  section "keys: libtrust key IDs, x5c chain"
  local k=$KEYS kid
  kid=$("$TOKEN_PY" "$TS" kid "$k/signer.pem")
  check "libtrust kid of the signer: Python equals openssl|sha256|base32" "$(kid_openssl "$k/signer.key")" "$kid"
  check_cmd "libtrust kid format: 12 groups of 4 base32 characters" \
    grep -qE '^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$' <<<"$kid"
  echo "#   signer kid $kid"
  check_cmd "x5c leaf verifies against the CA" openssl verify -CAfile "$k/ca.pem" "$k/leaf.pem"
  check_fails "rogue leaf does not verify against the bundle" openssl verify -CAfile "$k/bundle.pem" "$k/rogue.pem"
  local t
  t=$(mint --key "$k/signer.key" --kid auto)
  check "minted token: alg" "$WANT_ALG" "$(jwt_json "$t" 1 | jq -r .alg)"
}

test_challenges() {
  section "challenges without a token"
  local u=$REG_URL s
  s=$(fetch GET "$u/v2/")
  check "GET /v2/: status" 401 "$s"
  check "GET /v2/: WWW-Authenticate" "Bearer realm=\"$REALM\",service=\"$SVC\"" \
    "$(header_of "$WORK/r.hdr" WWW-Authenticate)"
  check "GET /v2/: error code" UNAUTHORIZED "$(error_code)"
  check "GET /v2/: Docker-Distribution-Api-Version" registry/2.0 \
    "$(header_of "$WORK/r.hdr" Docker-Distribution-Api-Version)"
  echo "#   GET /v2/: body $(tr -d '\n' <"$WORK/r.body")"

  local base="Bearer realm=\"$REALM\",service=\"$SVC\""
  s=$(fetch GET "$u/v2/e2e/tok/tags/list")
  check "GET tags/list: status" 401 "$s"
  check "GET tags/list: WWW-Authenticate" "$base,scope=\"repository:e2e/tok:pull\"" \
    "$(header_of "$WORK/r.hdr" WWW-Authenticate)"
  check "GET tags/list: error code" UNAUTHORIZED "$(error_code)"
  check_detail "GET tags/list" '[{"Type":"repository","Class":"","Name":"e2e/tok","Action":"pull"}]'
  s=$(fetch HEAD "$u/v2/e2e/tok/manifests/latest")
  check "HEAD manifest: status" 401 "$s"
  check "HEAD manifest: WWW-Authenticate" "$base,scope=\"repository:e2e/tok:pull\"" \
    "$(header_of "$WORK/r.hdr" WWW-Authenticate)"
  s=$(fetch GET "$u/v2/_catalog")
  check "GET _catalog: status" 401 "$s"
  check "GET _catalog: WWW-Authenticate" "$base,scope=\"registry:catalog:*\"" \
    "$(header_of "$WORK/r.hdr" WWW-Authenticate)"
  s=$(fetch DELETE "$u/v2/e2e/tok/manifests/sha256:$(printf %064d 0)")
  check "DELETE manifest: status" 401 "$s"
  check "DELETE manifest: WWW-Authenticate" "$base,scope=\"repository:e2e/tok:delete\"" \
    "$(header_of "$WORK/r.hdr" WWW-Authenticate)"
  s=$(fetch POST "$u/v2/e2e/tok/blobs/uploads/")
  check_refusal "POST upload" "$s" "repository:e2e/tok:pull repository:e2e/tok:push" ""
  check_detail "POST upload" \
    '[{"Type":"repository","Class":"","Name":"e2e/tok","Action":"pull"},{"Type":"repository","Class":"","Name":"e2e/tok","Action":"push"}]'
}

test_token_server() {
  section "the token server"
  local s t h c
  s=$(command curl -s -o "$WORK/t.body" -w '%{http_code}' -u "$PUSH_USER:wrong" "$REALM?service=$SVC")
  check "wrong password: 401 from the token server" 401 "$s"
  check "wrong password: no token" "" "$(jq -r '.token // empty' "$WORK/t.body")"
  command curl -s -o "$WORK/t.body" -G -u "$PUSH_USER:$PUSH_PASS" --data-urlencode "service=$SVC" \
    --data-urlencode "scope=repository:e2e/tok:pull,push" "$REALM"
  check "response: token equals access_token, expires_in 300" "true 300" \
    "$(jq -r '"\(.token == .access_token) \(.expires_in)"' "$WORK/t.body")"
  t=$(jq -r .token "$WORK/t.body")
  h=$(jwt_json "$t" 1)
  c=$(jwt_json "$t" 2)
  check "header: alg and kid (the signer's libtrust ID)" "$WANT_ALG $(kid_openssl "$KEYS/signer.key")" \
    "$(jq -r '"\(.alg) \(.kid)"' <<<"$h")"
  check "claims: iss sub aud" "$ISS $PUSH_USER $SVC" "$(jq -r '"\(.iss) \(.sub) \(.aud)"' <<<"$c")"
  check "claims: exp - iat = 300, nbf <= iat, jti set" "300 true true" \
    "$(jq -r '"\(.exp - .iat) \(.nbf <= .iat) \(.jti | length > 0)"' <<<"$c")"
  check "claims: access" '[{"type":"repository","name":"e2e/tok","actions":["pull","push"]}]' \
    "$(jq -c .access <<<"$c")"
  t=$(get_token "$PULL_USER" "$PULL_PASS" repository:e2e/tok:pull,push)
  check "puller asking for pull,push gets pull" '[{"type":"repository","name":"e2e/tok","actions":["pull"]}]' \
    "$(jwt_json "$t" 2 | jq -c .access)"
  t=$(get_token "$PUSH_USER" "$PUSH_PASS" repository:other/x:pull,push)
  check "pusher outside e2e/* gets nothing" '[]' "$(jwt_json "$t" 2 | jq -c .access)"
  token_mode x5c
  t=$(get_token "$PUSH_USER" "$PUSH_PASS" repository:e2e/tok:pull)
  check "x5c mode: header x5c is the leaf, no kid" "$(openssl x509 -in "$KEYS/leaf.pem" -outform DER | base64 -w0) null" \
    "$(jwt_json "$t" 1 | jq -r '"\(.x5c | join(",")) \(.kid)"')"
  token_mode kid
}

# Tokens the registry must take: from the token server in both modes, minted with kid and
# with x5c, and one that expired within distribution's 60 s leeway.
test_accept() {
  section "tokens accepted"
  local u=$REG_URL s t mode
  for mode in kid x5c; do
    token_mode "$mode"
    t=$(get_token "$PUSH_USER" "$PUSH_PASS" repository:e2e/tok:pull,push)
    s=$(bearer GET "$u/v2/" "$t")
    check "$mode token from the server: GET /v2/ 200" 200 "$s"
    check "$mode token from the server: GET /v2/ body" "{}" "$(tr -d '\n' <"$WORK/r.body")"
    s=$(bearer GET "$u/v2/e2e/tok/tags/list" "$t")
    check "$mode token from the server: GET tags/list of a new repo: 404 (past auth)" "404 NAME_UNKNOWN" "$s $(error_code)"
    s=$(bearer POST "$u/v2/e2e/tok/blobs/uploads/" "$t")
    check "$mode token from the server: POST upload 202" 202 "$s"
  done
  token_mode kid
  local pull=(--access repository:e2e/tok:pull)
  t=$(mint --key "$KEYS/signer.key" --kid auto "${pull[@]}")
  s=$(bearer GET "$u/v2/e2e/tok/tags/list" "$t")
  check "minted kid token: tags/list 404 (past auth)" 404 "$s"
  t=$(mint --key "$KEYS/leaf.key" --x5c "$KEYS/leaf.pem" "${pull[@]}")
  s=$(bearer GET "$u/v2/e2e/tok/tags/list" "$t")
  check "minted x5c token: tags/list 404 (past auth)" 404 "$s"
  t=$(mint --key "$KEYS/leaf.key" --x5c "$KEYS/leaf.pem" "$KEYS/ca.pem" "${pull[@]}")
  s=$(bearer GET "$u/v2/e2e/tok/tags/list" "$t")
  check "minted x5c token with [leaf, root]: tags/list 404 (past auth)" 404 "$s"
  t=$(mint --key "$KEYS/signer.key" --kid auto --exp-in -30 --nbf-in -330 --iat-in -330 "${pull[@]}")
  s=$(bearer GET "$u/v2/e2e/tok/tags/list" "$t")
  check "token expired 30 s ago (within the 60 s leeway): accepted" 404 "$s"
  t=$(mint --key "$KEYS/signer.key" --kid auto --access 'repository:e2e/tok:*')
  s=$(bearer POST "$u/v2/e2e/tok/blobs/uploads/" "$t")
  check "token granting '*' on the repository: POST upload 202" 202 "$s"
}

# Tokens the registry must refuse as invalid: 401, error="invalid_token".
test_invalid() {
  section "invalid tokens: 401 invalid_token"
  local u=$REG_URL/v2/e2e/tok/tags/list k=$KEYS s t name
  local pull=(--access repository:e2e/tok:pull)
  local -a cases=(
    "kid of a key not in rootcertbundle|--key $k/stranger.key --kid auto"
    "kid of the trusted signer, signed by another key|--key $k/stranger.key --kid-of $k/signer.pem"
    "x5c leaf from a CA not in rootcertbundle|--key $k/rogue.key --x5c $k/rogue.pem"
    "x5c [leaf, its CA] not in rootcertbundle|--key $k/rogue.key --x5c $k/rogue.pem $k/stranger.pem"
    "x5c trusted leaf, signed by another key|--key $k/stranger.key --x5c $k/leaf.pem"
    "neither kid nor x5c|--key $k/signer.key"
    "alg none|--key $k/signer.key --kid auto --alg none"
    "expired an hour ago|--key $k/signer.key --kid auto --exp-in -3600 --nbf-in -7200 --iat-in -7200"
    "not valid before an hour from now|--key $k/signer.key --kid auto --nbf-in 3600 --exp-in 7200"
    "for another audience|--key $k/signer.key --kid auto --aud another-registry"
    "from another issuer|--key $k/signer.key --kid auto --iss another-issuer"
  )
  local c args
  for c in "${cases[@]}"; do
    name=${c%%|*}
    read -r -a args <<<"${c#*|}"
    t=$(mint "${args[@]}" "${pull[@]}")
    s=$(bearer GET "$u" "$t")
    check_refusal "$name" "$s" repository:e2e/tok:pull invalid_token
    show_reason
  done
  s=$(bearer GET "$u" not-a-jwt)
  check_refusal "a malformed token" "$s" repository:e2e/tok:pull invalid_token
  show_reason
  s=$(bearer GET "$REG_URL/v2/" not-a-jwt)
  check_refusal "a malformed token on /v2/" "$s" "" invalid_token
  show_reason
  t=$(mint --key "$k/stranger.key" --kid auto)
  s=$(bearer GET "$REG_URL/v2/" "$t")
  check_refusal "GET /v2/ with a token from a key not in rootcertbundle" "$s" "" invalid_token
  show_reason
}

# Valid tokens that do not grant what the request needs: 401, error="insufficient_scope".
test_scope() {
  section "insufficient scope: 401 insufficient_scope"
  local u=$REG_URL s t
  t=$(get_token "$PULL_USER" "$PULL_PASS" repository:e2e/tok:pull)
  s=$(bearer POST "$u/v2/e2e/tok/blobs/uploads/" "$t")
  check_refusal "pull-only token, POST upload" "$s" "repository:e2e/tok:pull repository:e2e/tok:push" insufficient_scope
  s=$(bearer PUT "$u/v2/e2e/tok/manifests/v1" "$t" -H "Content-Type: $OCI_MANIFEST" --data-binary '{}')
  check_refusal "pull-only token, PUT manifest" "$s" "repository:e2e/tok:pull repository:e2e/tok:push" insufficient_scope
  s=$(bearer GET "$u/v2/" "$t")
  check "pull-only token, GET /v2/: 200" 200 "$s"
  s=$(bearer GET "$u/v2/_catalog" "$t")
  check_refusal "pull-only token, GET _catalog" "$s" "registry:catalog:*" insufficient_scope
  t=$(get_token "$PULL_USER" "$PULL_PASS" repository:e2e/other:pull)
  s=$(bearer GET "$u/v2/e2e/tok/tags/list" "$t")
  check_refusal "token for another repository" "$s" repository:e2e/tok:pull insufficient_scope
  t=$(get_token "" "")
  s=$(bearer GET "$u/v2/e2e/tok/tags/list" "$t")
  check_refusal "anonymous token (grants nothing)" "$s" repository:e2e/tok:pull insufficient_scope
  t=$(get_token "$PUSH_USER" "$PUSH_PASS" repository:e2e/tok:pull,push)
  s=$(bearer DELETE "$u/v2/e2e/tok/manifests/sha256:$(printf %064d 0)" "$t")
  check_refusal "push token, DELETE manifest" "$s" repository:e2e/tok:delete insufficient_scope
  t=$(get_token "$PUSH_USER" "$PUSH_PASS" 'registry:catalog:*')
  s=$(bearer GET "$u/v2/_catalog" "$t")
  check "catalog token: GET _catalog 200" 200 "$s"
}

# push_digest LOG: the manifest digest from `docker push` output.
push_digest() { grep -oE 'digest: sha256:[0-9a-f]{64}' "$1" | tail -1 | cut -d' ' -f2; }

test_docker() {
  local mode=$1 out rc pushed
  section "docker with $mode tokens: login, push, logout, pull-only login, pull, refused pushes"
  token_mode "$mode"
  quiet dk load -i "$ARCHIVE_AMD64"
  quiet dk load -i "$ARCHIVE_ARM64"
  out=$(dk login -u "$PUSH_USER" --password-stdin "$REG" <<<"wrong" 2>&1) && rc=0 || rc=$?
  check "docker login, wrong password: fails" 1 "$rc"
  check_cmd "docker login, wrong password: unauthorized" grep -qiE 'unauthorized|401' <<<"$out"
  echo "#   $(tail -1 <<<"$out")"
  out=$(dk login -u "$PUSH_USER" --password-stdin "$REG" <<<"$PUSH_PASS" 2>&1) || true
  check "docker login as $PUSH_USER" "Login Succeeded" "$(tail -1 <<<"$out")"
  check "docker login: token asked for service $SVC, account $PUSH_USER, $mode mode" \
    "$SVC $PUSH_USER $mode" "$(tlog_last "$PUSH_USER" | jq -r '"\(.query.service[0]) \(.query.account[0]) \(.mode)"')"

  dk tag e2e/img:amd64 "$REG/e2e/docker:v1"
  quiet dk push "$REG/e2e/docker:v1"
  pushed=$(push_digest "$WORK/cmd.log")
  check "docker push: token asked for and granted pull,push on e2e/docker" \
    'repository:e2e/docker:pull,push [{"type":"repository","name":"e2e/docker","actions":["pull","push"]}]' \
    "$(tlog_grant "$PUSH_USER")"
  CURL_EXTRA=(-H "Authorization: Bearer $(get_token "$PUSH_USER" "$PUSH_PASS" repository:e2e/docker:pull)")
  verify_manifest "docker push" e2e/docker v1 "$pushed" "$V2S2_MANIFEST"
  curl -sf -H "Accept: $V2S2_MANIFEST" "$REG_URL/v2/e2e/docker/manifests/v1" >"$WORK/docker.json"
  check "docker push: config is the image's" "$IMG_AMD64_CONFIG" "$(jq -r .config.digest "$WORK/docker.json")"
  blob_get e2e/docker "$IMG_AMD64_CONFIG" "$WORK/config.json" >/dev/null
  check_cmd "docker push: config bytes equal the source" cmp "$WORK/config.json" "$(oci_blob "$IMG_OCI" "$IMG_AMD64_CONFIG")"
  check_cmd "docker logout" dk logout "$REG"

  out=$(dk login -u "$PULL_USER" --password-stdin "$REG" <<<"$PULL_PASS" 2>&1) || true
  check "docker login as $PULL_USER" "Login Succeeded" "$(tail -1 <<<"$out")"
  quiet dk rmi "$REG/e2e/docker:v1" e2e/img:amd64
  quiet dk pull "$REG/e2e/docker:v1"
  check "docker pull as $PULL_USER: digest" "Digest: $pushed" "$(grep -o 'Digest: .*' "$WORK/cmd.log")"
  check "docker pull: image ID is the config digest" "$IMG_AMD64_CONFIG" \
    "$(dk image inspect "$REG/e2e/docker:v1" | jq -r '.[0].Id')"

  # A new tag of the same image: every blob is there, only the manifest PUT is refused.
  dk tag "$REG/e2e/docker:v1" "$REG/e2e/docker:v2"
  check_fails "docker push of a new tag as $PULL_USER: refused" dk push "$REG/e2e/docker:v2"
  check_last_output "docker push of a new tag: denied/unauthorized" 'denied|unauthorized'
  # Another image over the existing tag: the blob upload is refused.
  dk tag e2e/img:arm64 "$REG/e2e/docker:v1"
  check_fails "docker push over v1 as $PULL_USER: refused" dk push "$REG/e2e/docker:v1"
  check_last_output "docker push over v1: denied/unauthorized" 'denied|unauthorized'
  check "docker push as $PULL_USER: token asked for pull,push, granted pull" \
    'repository:e2e/docker:pull,push [{"type":"repository","name":"e2e/docker","actions":["pull"]}]' \
    "$(tlog_grant "$PULL_USER")"
  CURL_EXTRA=(-H "Authorization: Bearer $(get_token "$PUSH_USER" "$PUSH_PASS" repository:e2e/docker:pull)")
  verify_manifest "after the refused pushes, v1 unchanged" e2e/docker v1 "$pushed" "$V2S2_MANIFEST"
  check "after the refused pushes: tags" '["v1"]' "$(tags_of e2e/docker)"
  check "after the refused pushes: arm64 config not uploaded" 404 \
    "$(curl -s -o /dev/null -w '%{http_code}' -I "$REG_URL/v2/e2e/docker/blobs/$IMG_ARM64_CONFIG")"
  check_cmd "docker logout" dk logout "$REG"
  local ids
  ids=$(dk images -aq | sort -u)
  # shellcheck disable=SC2086
  [ -z "$ids" ] || quiet dk rmi -f $ids
}

test_skopeo() {
  local mode=$1 out=$WORK/out-$ROUND
  section "skopeo with $mode tokens: --creds for push and pull users"
  token_mode "$mode"
  quiet sk copy --dest-tls-verify=false --dest-creds "$PUSH_USER:$PUSH_PASS" \
    "oci:$IMG_OCI:amd64" "docker://$REG/e2e/skopeo:v1"
  check "skopeo push: token asked for pull,push on e2e/skopeo, $mode mode" \
    "repository:e2e/skopeo:pull,push $mode" \
    "$(tlog_grant "$PUSH_USER" | cut -d' ' -f1) $(tlog_last "$PUSH_USER" | jq -r .mode)"
  CURL_EXTRA=(-H "Authorization: Bearer $(get_token "$PUSH_USER" "$PUSH_PASS" repository:e2e/skopeo:pull)")
  verify_manifest "skopeo push as $PUSH_USER" e2e/skopeo v1 "$IMG_AMD64_MANIFEST" "$OCI_MANIFEST"
  # shellcheck disable=SC2086
  verify_blobs "skopeo push as $PUSH_USER" e2e/skopeo "$IMG_AMD64_CONFIG" $IMG_AMD64_LAYERS
  quiet sk copy --src-tls-verify=false --src-creds "$PULL_USER:$PULL_PASS" \
    "docker://$REG/e2e/skopeo:v1" "oci:$out:v1"
  verify_oci_copy "skopeo pull as $PULL_USER" "$out" v1 "$IMG_OCI" "$IMG_AMD64_MANIFEST"
  check "skopeo inspect as $PULL_USER: digest" "$IMG_AMD64_MANIFEST" \
    "$(sk inspect --tls-verify=false --creds "$PULL_USER:$PULL_PASS" "docker://$REG/e2e/skopeo:v1" | jq -r .Digest)"

  check_fails "skopeo push as $PULL_USER: refused" sk copy --dest-tls-verify=false \
    --dest-creds "$PULL_USER:$PULL_PASS" "oci:$IMG_OCI:arm64" "docker://$REG/e2e/skopeo:v1"
  check_last_output "skopeo push as $PULL_USER: denied/unauthorized" 'denied|unauthorized|authentication required'
  verify_manifest "after the refused push, v1 unchanged" e2e/skopeo v1 "$IMG_AMD64_MANIFEST" "$OCI_MANIFEST"
  check "after the refused push: arm64 config not uploaded" 404 \
    "$(curl -s -o /dev/null -w '%{http_code}' -I "$REG_URL/v2/e2e/skopeo/blobs/$IMG_ARM64_CONFIG")"
  check_fails "skopeo inspect with a wrong password: refused" \
    sk inspect --tls-verify=false --creds "$PUSH_USER:wrong" "docker://$REG/e2e/skopeo:v1"
  check_last_output "skopeo inspect with a wrong password: 401 from the token server" 'unauthorized|401|invalid username'
  check_fails "skopeo anonymous inspect: refused" \
    sk inspect --tls-verify=false --no-creds "docker://$REG/e2e/skopeo:v1"
  check_last_output "skopeo anonymous inspect: unauthorized" 'unauthorized|authentication required|denied'
}

# ---------------------------------------------------------------- main

for tool in openssl base32 jq; do
  command -v "$tool" >/dev/null || { echo "missing $tool (run tests/e2e/deps.sh)" >&2; exit 1; }
done
"$TOKEN_PY" -c 'import cryptography' 2>/dev/null ||
  { echo "$TOKEN_PY cannot import cryptography (python3-cryptography; see tests/e2e/deps.sh)" >&2; exit 1; }

make_test_images "$WORK/img"
ARCHIVE_AMD64=$(make_archive docker-archive "$WORK/img" e2e/img:amd64)
ARCHIVE_ARM64=$WORK/img/docker-archive-arm64.tar
quiet sk copy "oci:$IMG_OCI:arm64" "docker-archive:$ARCHIVE_ARM64:e2e/img:arm64"

DOCKER_OK=0
if ! command -v dockerd >/dev/null; then
  skip "docker: dockerd is not installed"
elif start_dockerd; then
  DOCKER_OK=1
else
  skip "docker: the private dockerd did not start"
fi

for ROUND in rsa ec; do
  section "round $ROUND"
  KEYS=$WORK/keys-$ROUND
  if [ "$ROUND" = rsa ]; then
    WANT_ALG=RS256 DOCKER_MODE=kid SKOPEO_MODE=x5c
  else
    WANT_ALG=ES256 DOCKER_MODE=x5c SKOPEO_MODE=kid
  fi
  make_keys "$KEYS" "$ROUND"
  start_token_server "$KEYS"
  PORT=$(free_port)
  write_config "$WORK/token-$ROUND.yml" "$PORT" "$WORK/root-$ROUND" "$KEYS"
  CURL_EXTRA=()
  if start_registry_config "$KIND" "$WORK/token-$ROUND.yml" http "$PORT"; then
    run_test test_keys
    run_test test_challenges
    run_test test_token_server
    run_test test_accept
    run_test test_invalid
    run_test test_scope
    [ "$DOCKER_OK" = 1 ] && run_test test_docker "$DOCKER_MODE"
    run_test test_skopeo "$SKOPEO_MODE"
    stop_registry
  else
    not_ok "registry with auth.token ($ROUND keys) did not start"
  fi
  stop_token_server
done
ROUND=""
[ "$DOCKER_OK" = 1 ] && stop_dockerd

e2e_done
