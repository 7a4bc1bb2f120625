#!/usr/bin/env bash
# Streaming in bounded memory: a 2 GiB blob is pushed (one streamed PATCH, and
# again in 8 MiB chunks with Content-Range) and pulled back, bytes compared by
# digest, while berth's peak resident memory must stay far below the blob size.
source "$(dirname "$0")/lib.sh"
e2e_init "$@"

SIZE_MIB=${STREAM_SIZE_MIB:-2048}
# Peak RSS allowed for the whole run: a fixed bound, independent of blob size.
MAX_RSS_KIB=$((96 * 1024))

peak_rss_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# start_upload REPO: POST, prints the session Location.
start_upload() {
  curl -sf -D - -o /dev/null -X POST "$REG_URL/v2/$1/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location" {print $2}'
}

# put_chunks FILE LOCATION CHUNK: PATCHes FILE in CHUNK-byte pieces with Content-Range,
# following each Location; prints the final Location.
put_chunks() {
  python3 - "$@" <<'PY'
import http.client, sys, urllib.parse
path, location, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path, "rb") as f:
    offset = 0
    while True:
        data = f.read(chunk)
        if not data:
            break
        u = urllib.parse.urlsplit(location)
        c = http.client.HTTPConnection(u.hostname, u.port)
        c.request("PATCH", u.path + "?" + u.query, body=data, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(data) - 1}",
            "Content-Length": str(len(data))})
        r = c.getresponse()
        r.read()
        if r.status != 202:
            sys.exit(f"PATCH at {offset}: {r.status}")
        location = urllib.parse.urljoin(location, r.getheader("Location"))
        offset += len(data)
print(location)
PY
}

section "stream: ${SIZE_MIB} MiB blob through berth"
start_registry berth "$WORK/root"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$WORK/big.bin"
digest=$(sha "$WORK/big.bin")

loc=$(start_upload big/one)
status=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H 'Content-Type: application/octet-stream' \
  -H 'Transfer-Encoding: chunked' -T "$WORK/big.bin" "$loc")
check "streamed PATCH accepted" 202 "$status"
status=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$loc&digest=$digest")
check "PUT with the digest creates the blob" 201 "$status"

loc=$(start_upload big/two)
loc=$(put_chunks "$WORK/big.bin" "$loc" $((8 * 1024 * 1024)))
status=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$loc&digest=$digest")
check "8 MiB chunked upload completes" 201 "$status"

for repo in big/one big/two; do
  curl -s "$REG_URL/v2/$repo/blobs/$digest" | sha256sum | cut -d' ' -f1 >"$WORK/pulled.sha"
  check "pulled bytes of $repo match" "${digest#sha256:}" "$(cat "$WORK/pulled.sha")"
done
check "stored blob bytes match" "$digest" "$(sha "$WORK/root/docker/registry/v2/blobs/sha256/${digest:7:2}/${digest#sha256:}/data")"

rss=$(peak_rss_kib "$REG_PID")
echo "# berth peak RSS: $((rss / 1024)) MiB for a ${SIZE_MIB} MiB blob pushed twice and pulled twice"
check_cmd "peak RSS ${rss} KiB stays under ${MAX_RSS_KIB} KiB" test "$rss" -lt "$MAX_RSS_KIB"
rm -f "$WORK/big.bin"
e2e_done
