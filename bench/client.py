#!/usr/bin/env python3
"""Small HTTP clients for bench/run.sh (python3 standard library only).

  client.py walk BASE_URL PATHS_OUT PAGES_OUT [AUTH_HEADER]
      Follows the _catalog Link headers from /v2/_catalog?n=100 with one keep-alive
      connection. Writes the request path of every page (what wrk then cycles through) to
      PATHS_OUT and the repositories of every page, one page per line, to PAGES_OUT (to
      compare the two registries). Every page must answer 200. Prints
      {"pages": N, "repos": N, "seconds": S} (S: the whole walk, one client).
  client.py chunked BASE_URL REPO FILE DIGEST CHUNK_MIB
      Chunked blob upload: POST, PATCHes of CHUNK_MIB MiB with Content-Range, then
      PUT ?digest=. Checks the 202s, the 201 and Docker-Content-Digest. Prints the seconds.
  client.py startup BIN CONFIG PORT
      Spawns `BIN serve CONFIG` (no REGISTRY_* variables in its environment), polls
      GET /v2/ on 127.0.0.1:PORT every millisecond and prints the seconds from spawn to the
      first 200; then stops the process (SIGTERM, SIGKILL after 15 s).
"""
import hashlib
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse


def connect(base):
    u = urllib.parse.urlsplit(base)
    if u.scheme == "https":
        # the bench's self-signed certificate: encryption is measured, not trust
        ctx = ssl._create_unverified_context()
        return http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=600)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=600, blocksize=1 << 20)


def next_link(value):
    # <url>; rel="next" (the URL may be absolute or a path)
    if not value:
        return None
    url = value.split(";")[0].strip().strip("<>")
    u = urllib.parse.urlsplit(url)
    return u.path + ("?" + u.query if u.query else "")


def walk(base, paths_out, pages_out, auth=None):
    headers = {"Authorization": auth} if auth else {}
    conn = connect(base)
    path = "/v2/_catalog?n=100"
    paths, pages, total = [], [], 0
    t0 = time.monotonic()
    while path:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"walk: GET {path} answered {r.status}: {body[:200]!r}")
        repos = json.loads(body)["repositories"]
        paths.append(path)
        pages.append(" ".join(repos))
        total += len(repos)
        path = next_link(r.getheader("Link"))
        if len(paths) > 1_000_000:
            sys.exit("walk: no end in sight")
    secs = time.monotonic() - t0
    with open(paths_out, "w") as f:
        f.write("\n".join(paths) + "\n")
    with open(pages_out, "w") as f:
        f.write("\n".join(pages) + "\n")
    print(json.dumps({"pages": len(paths), "repos": total, "seconds": secs}))


def chunked(base, repo, path, digest, chunk_mib):
    chunk = chunk_mib << 20
    conn = connect(base)
    t0 = time.monotonic()
    conn.request("POST", f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
    r = conn.getresponse()
    r.read()
    if r.status != 202:
        sys.exit(f"chunked: POST answered {r.status}")
    loc = r.getheader("Location")
    offset = 0
    with open(path, "rb") as f:
        while data := f.read(chunk):
            u = urllib.parse.urlsplit(loc)
            target = u.path + ("?" + u.query if u.query else "")
            conn.request("PATCH", target, body=data, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(data) - 1}",
                "Content-Length": str(len(data))})
            r = conn.getresponse()
            r.read()
            if r.status != 202:
                sys.exit(f"chunked: PATCH at {offset} answered {r.status}")
            loc = r.getheader("Location")
            offset += len(data)
    u = urllib.parse.urlsplit(loc)
    q = urllib.parse.parse_qsl(u.query) + [("digest", digest)]
    conn.request("PUT", u.path + "?" + urllib.parse.urlencode(q),
                 headers={"Content-Length": "0"})
    r = conn.getresponse()
    r.read()
    secs = time.monotonic() - t0
    got = r.getheader("Docker-Content-Digest")
    if r.status != 201 or got != digest:
        sys.exit(f"chunked: PUT answered {r.status}, Docker-Content-Digest {got}, want {digest}")
    print(f"{secs:.6f}")


def startup(binary, config, port):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("REGISTRY_") and k != "AWS_CA_BUNDLE"}
    req = f"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "serve", config], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if p.poll() is not None:
                sys.exit(f"startup: {binary} exited with {p.returncode}")
            if time.monotonic() - t0 > 120:
                sys.exit("startup: no 200 on /v2/ within 120 s")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    s.sendall(req)
                    status = s.recv(64).split(b" ", 2)
                    if len(status) > 1 and status[1] == b"200":
                        break
            except OSError:
                pass
            time.sleep(0.001)
        print(f"{time.monotonic() - t0:.6f}")
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "walk":
        walk(*args)
    elif cmd == "chunked":
        chunked(args[0], args[1], args[2], args[3], int(args[4]))
    elif cmd == "startup":
        startup(args[0], args[1], int(args[2]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
