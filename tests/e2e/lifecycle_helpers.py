#!/usr/bin/env python3
"""Loopback helpers for lifecycle.sh (Python stdlib only).

    lifecycle_helpers.py proxy PORTFILE UPSTREAM CTLDIR
        An HTTP proxy on 127.0.0.1 (port written to PORTFILE) in front of UPSTREAM
        (host:port). While CTLDIR/hold exists, every POST to /v2/_berth/tags/ is held
        before it is forwarded: it first creates a file CTLDIR/arrived.* (so the test can
        count the held requests), then waits until CTLDIR/hold is removed. This puts a
        client's read (HEADs, forwarded at once) and its write (the POST) at the times the
        test chooses: many promotes that all read the same tags, then write together, or a
        tag moved by someone else between one promote's read and its write.

    lifecycle_helpers.py events PORTFILE OUTFILE
        A notification endpoint on 127.0.0.1: every POSTed envelope is appended to
        OUTFILE as one line of compact JSON; answers 200.
"""
import http.client
import json
import os
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Hop-by-hop headers (RFC 9110 7.6.1) and those this proxy sets itself.
SKIP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
        "proxy-authorization", "proxy-authenticate", "host", "content-length", "date", "server"}
HOLD_PREFIX = "/v2/_berth/tags/"
HOLD_LIMIT = 120  # seconds: a forgotten hold file must not hang the suite


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ("127.0.0.1", 0)
    ctl = "."

    def log_message(self, *args):
        pass

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.command == "POST" and self.path.startswith(HOLD_PREFIX):
            self.hold()
        conn = http.client.HTTPConnection(*self.upstream, timeout=HOLD_LIMIT)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in SKIP}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in SKIP:
                self.send_header(k, v)
        # A HEAD answer keeps the upstream's Content-Length (the size of the GET body).
        size = resp.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
        self.send_header("Content-Length", size or "0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    def hold(self):
        hold = os.path.join(self.ctl, "hold")
        if not os.path.exists(hold):
            return
        fd, _ = tempfile.mkstemp(prefix="arrived.", dir=self.ctl)
        os.close(fd)
        deadline = time.monotonic() + HOLD_LIMIT
        while os.path.exists(hold) and time.monotonic() < deadline:
            time.sleep(0.01)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward


class Events(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    out = ""

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        try:
            line = json.dumps(json.loads(body), separators=(",", ":"))
        except ValueError:
            line = json.dumps({"unparsed": body.decode("utf-8", "replace")})
        with open(self.out, "a") as f:
            f.write(line + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def serve(handler, portfile):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, portfile)  # the shell waits for the file: it appears complete
    server.serve_forever()


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "proxy":
        host, port = sys.argv[3].rsplit(":", 1)
        Proxy.upstream = (host, int(port))
        Proxy.ctl = sys.argv[4]
        serve(Proxy, sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "events":
        Events.out = sys.argv[3]
        serve(Events, sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
