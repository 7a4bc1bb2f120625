#!/usr/bin/env python3
"""A Docker token server for the token.sh e2e suite, and a JWT minting tool.

Only the Python standard library and `cryptography` (Debian's python3-cryptography) are used.

    token_server.py kid FILE
        The libtrust key ID of the public key in FILE (a PEM certificate, public or private
        key): the first 240 bits of the SHA-256 of the DER SubjectPublicKeyInfo, base32
        (RFC 4648, upper case, no padding), 12 groups of 4 characters joined by ':'.

    token_server.py mint --key KEY.pem [--kid auto|ID] [--kid-of FILE] [--x5c CERT.pem ...]
                         [--alg ALG] --iss ISS --aud AUD [--sub SUB] [--exp-in SECS]
                         [--nbf-in SECS] [--iat-in SECS] [--access TYPE:NAME:A,B ...]
        Prints a JWT signed with KEY (RS256 for RSA keys, ES256/ES384 for EC P-256/P-384,
        unless --alg says otherwise; --alg none gives an unsigned token). The header names
        the key with kid (auto: KEY's libtrust ID; --kid-of: another key's) and/or x5c (the
        given certificates as base64 DER, leaf first). Times are relative to now.

    token_server.py serve --port PORT --config CONFIG.json
        Serves GET /token on 127.0.0.1:PORT, the Docker token protocol:
        ?service=SVC&scope=repository:NAME:pull,push (repeatable)&account=USER with HTTP
        Basic credentials; answers {"token", "access_token", "expires_in", "issued_at"}.
        The JWT has iss, sub, aud (= service), exp, nbf, iat, jti and access = the granted
        subset of the requested scopes. Wrong credentials get 401; no credentials get a
        token that grants nothing. CONFIG:
          {"issuer": ISS, "expires_in": 300, "log": PATH, "mode_file": PATH,
           "modes": {"kid": {"key": PEM}, "x5c": {"key": PEM, "chain": [PEM, ...]}},
           "users": {"NAME": {"password": PW,
                              "grants": [{"type": "repository", "name": GLOB,
                                          "actions": ["pull", "push"]}]}}}
        The mode file holds "kid" or "x5c": how the next tokens name their key (read on
        every request). Every request is logged to "log" as one JSON line.
"""
import argparse
import base64
import datetime
import fnmatch
import hashlib
import http.server
import json
import os
import sys
import time
import urllib.parse
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_public_key(path):
    data = open(path, "rb").read()
    if b"CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    if b"PRIVATE KEY" in data:
        return serialization.load_pem_private_key(data, password=None).public_key()
    return serialization.load_pem_public_key(data)


def load_private_key(path):
    return serialization.load_pem_private_key(open(path, "rb").read(), password=None)


def libtrust_kid(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


def default_alg(key):
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}[key.curve.name]
    raise ValueError("unsupported key type")


HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def sign(key, alg, message):
    if alg == "none":
        return b""
    digest = HASHES[alg[2:]]()
    if alg.startswith("RS"):
        return key.sign(message, padding.PKCS1v15(), digest)
    if alg.startswith("PS"):
        return key.sign(message, padding.PSS(padding.MGF1(digest), digest.digest_size), digest)
    if alg.startswith("ES"):
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(digest)))
        n = (key.curve.key_size + 7) // 8
        return r.to_bytes(n, "big") + s.to_bytes(n, "big")
    raise ValueError("unsupported alg %s" % alg)


def make_jwt(key, header, claims, alg=None):
    alg = alg or default_alg(key)
    header = dict({"typ": "JWT", "alg": alg}, **header)
    signing_input = "%s.%s" % (b64url(json.dumps(header, separators=(",", ":")).encode()),
                               b64url(json.dumps(claims, separators=(",", ":")).encode()))
    return "%s.%s" % (signing_input, b64url(sign(key, alg, signing_input.encode())))


def cert_b64_der(path):
    cert = x509.load_pem_x509_certificate(open(path, "rb").read())
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def parse_scope(text):
    """repository:NAME:a,b -> (type, name, [actions]); the name may hold ':' (a port)."""
    kind, rest = text.split(":", 1)
    name, actions = rest.rsplit(":", 1)
    return kind, name, [a for a in actions.split(",") if a]


# ---------------------------------------------------------------- mint

def cmd_mint(a):
    key = load_private_key(a.key)
    header = {}
    if a.kid_of:
        header["kid"] = libtrust_kid(load_public_key(a.kid_of))
    elif a.kid == "auto":
        header["kid"] = libtrust_kid(key.public_key())
    elif a.kid:
        header["kid"] = a.kid
    if a.x5c:
        header["x5c"] = [cert_b64_der(c) for c in a.x5c]
    now = int(time.time())
    claims = {"iss": a.iss, "sub": a.sub, "aud": a.aud, "exp": now + a.exp_in,
              "nbf": now + a.nbf_in, "iat": now + a.iat_in, "jti": uuid.uuid4().hex,
              "access": []}
    for s in a.access:
        kind, name, actions = parse_scope(s)
        claims["access"].append({"type": kind, "name": name, "actions": actions})
    print(make_jwt(key, header, claims, a.alg))


# ---------------------------------------------------------------- serve

class Server:
    def __init__(self, config):
        self.config = config
        self.modes = {}
        for mode, spec in config["modes"].items():
            key = load_private_key(spec["key"])
            if mode == "kid":
                header = {"kid": libtrust_kid(key.public_key())}
            else:
                header = {"x5c": [cert_b64_der(c) for c in spec["chain"]]}
            self.modes[mode] = (key, header)
        self.log = open(config["log"], "a")

    def mode(self):
        try:
            with open(self.config["mode_file"]) as f:
                return f.read().strip() or "kid"
        except FileNotFoundError:
            return "kid"

    def grant(self, user, requested):
        """The subset of the requested scopes the user may have."""
        grants = self.config["users"][user]["grants"] if user else []
        access = []
        for kind, name, actions in requested:
            allowed = set()
            for g in grants:
                if g["type"] == kind and fnmatch.fnmatchcase(name, g["name"]):
                    allowed.update(g["actions"])
            given = [a for a in actions if a in allowed or "*" in allowed]
            if given:
                access.append({"type": kind, "name": name, "actions": given})
        return access

    def token(self, user, service, access):
        key, header = self.modes[self.mode()]
        now = int(time.time())
        expires_in = int(self.config.get("expires_in", 300))
        claims = {"iss": self.config["issuer"], "sub": user or "", "aud": service,
                  "exp": now + expires_in, "nbf": now - 1, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        jwt = make_jwt(key, header, claims)
        issued = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        return {"token": jwt, "access_token": jwt, "expires_in": expires_in,
                "issued_at": issued.strftime("%Y-%m-%dT%H:%M:%SZ")}


def make_handler(server):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, status, body, extra=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def record(self, **fields):
            fields.update(method=self.command, path=self.path)
            server.log.write(json.dumps(fields) + "\n")
            server.log.flush()

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/token":
                self.record(status=404)
                return self.reply(404, {"details": "not found"})
            query = urllib.parse.parse_qs(url.query)
            service = (query.get("service") or [""])[0]
            user = None
            auth = self.headers.get("Authorization", "")
            if auth:
                try:
                    scheme, value = auth.split(" ", 1)
                    assert scheme.lower() == "basic"
                    user, password = base64.b64decode(value.strip()).decode().split(":", 1)
                except Exception:
                    user, password = "?", None
                known = server.config["users"].get(user)
                if not known or known["password"] != password:
                    self.record(status=401, user=user, query=query)
                    return self.reply(401, {"details": "incorrect username or password"},
                                      [("WWW-Authenticate", 'Basic realm="berth e2e token server"')])
            requested = []
            for s in query.get("scope", []):
                for one in s.split(" "):
                    if one:
                        try:
                            requested.append(parse_scope(one))
                        except ValueError:
                            self.record(status=400, user=user, query=query)
                            return self.reply(400, {"details": "invalid scope %r" % one})
            access = server.grant(user, requested)
            body = server.token(user, service, access)
            self.record(status=200, user=user, query=query, mode=server.mode(), granted=access)
            self.reply(200, body)

        def do_POST(self):
            # No OAuth2 endpoint: clients fall back to GET with Basic credentials on a 404.
            self.record(status=404)
            self.reply(404, {"details": "no OAuth2 token endpoint here"})

        def log_message(self, *args):
            pass

    return Handler


def cmd_serve(a):
    config = json.load(open(a.config))
    server = Server(config)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(server))
    httpd.daemon_threads = True
    print("token server on 127.0.0.1:%d" % a.port, flush=True)
    httpd.serve_forever()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("kid")
    k.add_argument("file")
    m = sub.add_parser("mint")
    m.add_argument("--key", required=True)
    m.add_argument("--kid")
    m.add_argument("--kid-of")
    m.add_argument("--x5c", nargs="+")
    m.add_argument("--alg")
    m.add_argument("--iss", required=True)
    m.add_argument("--aud", required=True)
    m.add_argument("--sub", default="e2e-minted")
    m.add_argument("--exp-in", type=int, default=300)
    m.add_argument("--nbf-in", type=int, default=-1)
    m.add_argument("--iat-in", type=int, default=0)
    m.add_argument("--access", action="append", default=[])
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--config", required=True)
    a = p.parse_args()
    if a.cmd == "kid":
        print(libtrust_kid(load_public_key(a.file)))
    elif a.cmd == "mint":
        cmd_mint(a)
    else:
        cmd_serve(a)


if __name__ == "__main__":
    sys.exit(main())
