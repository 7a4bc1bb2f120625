#!/usr/bin/env bash
# http.tls.letsencrypt against a real ACME server on loopback: Debian's pebble (Let's
# Encrypt's test CA) with pebble-challtestsrv as its DNS server, answering every name with
# 127.0.0.1. Pebble really validates the TLS-ALPN-01 challenge: its tlsPort is berth's port
# and PEBBLE_VA_ALWAYS_VALID is not set; its httpPort is a port nothing listens on.
#   1. berth, with letsencrypt.directoryurl pointing at pebble and SSL_CERT_FILE at the CA
#      of pebble's HTTPS certificate (made here with openssl), gets a certificate for
#      registry.berth.test: /v2/ answers 200 to curl trusting pebble's root alone (so berth
#      serves the intermediate too), issued by pebble's intermediate, SAN exactly
#      DNS:registry.berth.test; pebble logged a completed challenge and an issuance; the
#      certificate is in the cache directory (PEM), whose files are private to the owner.
#   2. no certificate for a name outside `hosts` (SNI other.berth.test), nor without SNI
#      (distribution's autocert: "missing server name"), while pebble could still issue.
#   3. berth restarted with pebble stopped serves the same certificate from the cache.
#   usage: acme.sh [berth]
# Berth only: the reference (distribution 2.8.2) has no letsencrypt.directoryurl, it would
# ask the real Let's Encrypt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
KIND=${1:-berth}
if [ "$KIND" != berth ]; then
  echo "acme.sh: berth only: distribution 2.8.2 (the reference) has no" \
    "http.tls.letsencrypt.directoryurl and cannot be pointed at a local ACME server" >&2
  exit 2
fi
e2e_init "$@"

HOST=registry.berth.test
OTHER=other.berth.test
ISSUE_SECS=${E2E_ACME_ISSUE_SECS:-60}

for tool in pebble pebble-challtestsrv openssl curl; do
  command -v "$tool" >/dev/null || { not_ok "$tool not found (tests/e2e/deps.sh installs pebble)"; e2e_done; exit 1; }
done

T=$WORK/acme
PKI=$T/pki
CACHE=$T/acme-cache
mkdir -p "$T"

# dump_logs: the last lines of every log, on failure.
dump_logs() {
  local f
  for f in "$T"/challtestsrv.log "$T"/pebble.log "$WORK"/berth-*.log; do
    [ -s "$f" ] || continue
    echo "  --- $(basename "$f")"
    tail -25 "$f" | sed 's/^/    /'
  done
}

# served_cert SNI OUT: the leaf berth presents for SNI (empty SNI: none sent) into OUT (PEM);
# fails if the handshake gives no certificate.
served_cert() {
  local sni=(-servername "$1")
  [ -n "$1" ] || sni=(-noservername)
  timeout 20 openssl s_client -connect "127.0.0.1:$PORT" "${sni[@]}" </dev/null >"$2.s_client" 2>&1 || true
  openssl x509 -in "$2.s_client" -out "$2" 2>/dev/null
}

fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }

# get_v2 NAME: GET https://NAME:PORT/v2/ resolved to 127.0.0.1, trusting pebble's root only.
get_v2() {
  fetch GET "https://$1:$PORT/v2/" --max-time 20 --resolve "$1:$PORT:127.0.0.1" \
    --cacert "$T/pebble-root.pem"
}

# ---------------------------------------------------------------- pebble

section "pebble with pebble-challtestsrv as DNS (every name is 127.0.0.1)"
make_pki "$PKI"                       # ca.pem, chain.pem (leaf 127.0.0.1/localhost + int), server.key
DNS_PORT=$(free_port)
CTS_MGMT=$(free_port)
PEBBLE_PORT=$(free_port)
PEBBLE_MGMT=$(free_port)
PEBBLE_HTTP=$(free_port)              # HTTP-01 goes here: nothing listens
PORT=$(free_port)                     # berth's port = pebble's tlsPort (TLS-ALPN-01)

# Only the DNS server and the management API; no HTTP-01/HTTPS-01/TLS-ALPN-01 responders.
pebble-challtestsrv -dns01 "127.0.0.1:$DNS_PORT" -management "127.0.0.1:$CTS_MGMT" \
  -http01 "" -https01 "" -tlsalpn01 "" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
  >"$T/challtestsrv.log" 2>&1 &
CTS_PID=$!
track_pid "$CTS_PID"

cat >"$T/pebble.json" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$PEBBLE_PORT",
    "managementListenAddress": "127.0.0.1:$PEBBLE_MGMT",
    "certificate": "$PKI/chain.pem",
    "privateKey": "$PKI/server.key",
    "httpPort": $PEBBLE_HTTP,
    "tlsPort": $PORT,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
EOF
wait_port "$CTS_MGMT" 10 "$CTS_PID" || { dump_logs; not_ok "pebble-challtestsrv did not start"; exit 1; }
env PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
  pebble -config "$T/pebble.json" -dnsserver "127.0.0.1:$DNS_PORT" >"$T/pebble.log" 2>&1 &
PEBBLE_PID=$!
track_pid "$PEBBLE_PID"
DIR_URL=https://127.0.0.1:$PEBBLE_PORT/dir
if ! wait_port "$PEBBLE_MGMT" 15 "$PEBBLE_PID" || ! wait_port "$PEBBLE_PORT" 15 "$PEBBLE_PID"; then
  dump_logs; not_ok "pebble did not start"; exit 1
fi
check "pebble: ACME directory over HTTPS (test CA)" 200 "$(fetch GET "$DIR_URL" --cacert "$PKI/ca.pem")"
check "pebble: directory has newOrder" true "$(jq -r 'has("newOrder")' "$WORK/r.body" 2>/dev/null)"
check "pebble: GET /roots/0" 200 "$(fetch GET "https://127.0.0.1:$PEBBLE_MGMT/roots/0" --cacert "$PKI/ca.pem")"
cp "$WORK/r.body" "$T/pebble-root.pem"
check "pebble: GET /intermediates/0" 200 \
  "$(fetch GET "https://127.0.0.1:$PEBBLE_MGMT/intermediates/0" --cacert "$PKI/ca.pem")"
cp "$WORK/r.body" "$T/pebble-int.pem"
PEBBLE_INT_SUBJECT=$(openssl x509 -in "$T/pebble-int.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
echo "# pebble on 127.0.0.1:$PEBBLE_PORT (mgmt $PEBBLE_MGMT, DNS 127.0.0.1:$DNS_PORT, tlsPort $PORT);" \
  "issuing intermediate: $PEBBLE_INT_SUBJECT"

# ---------------------------------------------------------------- berth

cat >"$T/config.yml" <<EOF
version: 0.1
log:
  level: debug
http:
  addr: 127.0.0.1:$PORT
  tls:
    letsencrypt:
      cachefile: $CACHE
      email: e2e@example.com
      hosts: [$HOST]
      directoryurl: $DIR_URL
storage:
  filesystem:
    rootdirectory: $T/root
EOF

test_issue() {
  local status=000 start=$SECONDS
  while :; do
    status=$(get_v2 "$HOST")
    [ "$status" = 200 ] && break
    kill -0 "$BERTH_PID" 2>/dev/null || break
    ((SECONDS - start < ISSUE_SECS)) || break
    sleep 1
  done
  if [ "$status" != 200 ]; then
    echo "#   no 200 after $((SECONDS - start)) s: curl exit $(cat "$WORK/r.rc"), status $status"
    # With pebble's intermediate trusted too: does berth serve the leaf without its chain?
    cat "$T/pebble-root.pem" "$T/pebble-int.pem" >"$T/pebble-both.pem"
    echo "#   trusting root+intermediate: $(command curl -s -o /dev/null -w '%{http_code} (curl exit %{exitcode})' \
      --max-time 10 --resolve "$HOST:$PORT:127.0.0.1" --cacert "$T/pebble-both.pem" "https://$HOST:$PORT/v2/")"
    dump_logs
  else
    echo "#   200 after $((SECONDS - start)) s"
    touch "$T/issued"
  fi
  check "GET https://$HOST/v2/ verified against pebble's root only" 200 "$status"
  check "Docker-Distribution-Api-Version" registry/2.0 \
    "$(header_of "$WORK/r.hdr" Docker-Distribution-Api-Version)"

  served_cert "$HOST" "$T/leaf1.pem" || { not_ok "no certificate served for SNI $HOST"; return 1; }
  local issuer san
  issuer=$(openssl x509 -in "$T/leaf1.pem" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')
  echo "#   issuer: $issuer"
  check_cmd "issuer is a Pebble CA" grep -q Pebble <<<"$issuer"
  check "issuer is pebble's intermediate (/intermediates/0)" "$PEBBLE_INT_SUBJECT" "$issuer"
  san=$(openssl x509 -in "$T/leaf1.pem" -noout -ext subjectAltName 2>/dev/null | sed -n '2p' | tr -d ' ')
  check "SAN" "DNS:$HOST" "$san"
  check_cmd "leaf verifies against pebble's root + intermediate" \
    openssl verify -CAfile "$T/pebble-root.pem" -untrusted "$T/pebble-int.pem" "$T/leaf1.pem"
  check_cmd "pebble validated a challenge for $HOST" grep -q "Value:\"$HOST\"" "$T/pebble.log"
  check_cmd "pebble set it valid (no PEBBLE_VA_ALWAYS_VALID: a real TLS-ALPN-01 check)" \
    grep -q "set VALID by completed challenge" "$T/pebble.log"
  check_cmd "pebble issued a certificate" grep -q "Issued certificate serial" "$T/pebble.log"

  local files=() f found=""
  [ -d "$CACHE" ] && mapfile -t files < <(find "$CACHE" -type f -size +0c | sort)
  echo "#   cache: ${files[*]/#$CACHE\//}"
  check_cmd "cache directory $(basename "$CACHE") holds a file" test "${#files[@]}" -gt 0
  for f in "${files[@]}"; do
    [ "$(openssl x509 -in "$f" -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2)" = "$(fingerprint "$T/leaf1.pem")" ] &&
      found=$f
  done
  check_cmd "a cache file holds the served certificate (PEM)" test -n "$found"
  check "cache files not readable by group or others (private keys)" "" \
    "$(find "$CACHE" -type f -perm /077 2>/dev/null)"
}

test_other_host() {
  section "no certificate for names outside hosts (pebble still up)"
  local status issued
  check_cmd "berth is running" kill -0 "$BERTH_PID"
  issued=$(grep -c "Issued certificate serial" "$T/pebble.log" || true)
  status=$(fetch GET "https://$OTHER:$PORT/v2/" -k --max-time 20 --resolve "$OTHER:$PORT:127.0.0.1")
  echo "#   curl -k https://$OTHER: status $status, curl exit $(cat "$WORK/r.rc")"
  check "SNI $OTHER: no HTTP answer even with -k" 000 "$status"
  check "SNI $OTHER: the TLS handshake fails (curl exit 35, not a refused connection)" 35 \
    "$(cat "$WORK/r.rc")"
  check_fails "SNI $OTHER: no certificate presented" served_cert "$OTHER" "$T/other.pem"
  check_fails "no SNI: no certificate presented" served_cert "" "$T/nosni.pem"
  check "pebble validated nothing for $OTHER" 0 "$(grep -c "Value:\"$OTHER\"" "$T/pebble.log" || true)"
  check "pebble issued nothing more" "$issued" \
    "$(grep -c "Issued certificate serial" "$T/pebble.log" || true)"
  check_cmd "berth still serves $HOST" served_cert "$HOST" "$T/leaf1b.pem"
}

test_restart_from_cache() {
  section "restart with pebble stopped: the certificate comes from the cache"
  stop_registry "$BERTH_PID"
  stop_pid "$PEBBLE_PID"
  forget_pid "$PEBBLE_PID"
  check_fails "pebble is down" curl -sf -o /dev/null --max-time 5 --cacert "$PKI/ca.pem" "$DIR_URL"
  start_registry_config berth "$T/config.yml" https "$PORT" "SSL_CERT_FILE=$PKI/ca.pem"
  local status i
  # A few tries: the listener may be up a moment before the cache is read.
  for ((i = 0; i < 10; i++)); do
    status=$(get_v2 "$HOST")
    [ "$status" = 200 ] && break
    sleep 0.5
  done
  [ "$status" = 200 ] || { echo "#   curl exit $(cat "$WORK/r.rc")"; dump_logs; }
  check "after restart: GET https://$HOST/v2/ verified against pebble's root" 200 "$status"
  if served_cert "$HOST" "$T/leaf2.pem"; then
    check "after restart: same certificate (SHA-256 fingerprint)" \
      "$(fingerprint "$T/leaf1.pem")" "$(fingerprint "$T/leaf2.pem")"
  else
    not_ok "after restart: no certificate served for SNI $HOST"
  fi
  check_fails "after restart: SNI $OTHER still gets no certificate" served_cert "$OTHER" "$T/other2.pem"
}

section "first start: certificate for $HOST from pebble (TLS-ALPN-01)"
if start_registry_config berth "$T/config.yml" https "$PORT" "SSL_CERT_FILE=$PKI/ca.pem"; then
  BERTH_PID=$REG_PID
  run_test test_issue
  run_test test_other_host
  if [ -f "$T/issued" ]; then
    run_test test_restart_from_cache
  else
    skip "restart from the cache: no certificate was issued"
  fi
else
  not_ok "berth starts with http.tls.letsencrypt"
fi
e2e_done
