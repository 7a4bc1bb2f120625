#!/usr/bin/env python3
"""Build the e2e test images from scratch, without network, into an OCI image layout.

    mkimages.py OUTDIR

OUTDIR becomes an OCI layout (oci-layout, index.json, blobs/sha256/...) with three refs:
  amd64  a linux/amd64 image: layer 1 = busybox-static + symlinks + a random file,
         layer 2 = a few MiB of random bytes (a bigger, incompressible blob)
  arm64  a linux/arm64/v8 image: one small layer (a random file; no binary, it is never run)
  multi  an OCI image index of the two
Every layer carries fresh random bytes, so every run has new digests: a registry (or a
client-side cache) cannot have seen them before.

It also writes OUTDIR/images.json with the digests the suites compare against:
  {"amd64": {"manifest", "config", "layers": [...], "diff_ids": [...]},
   "arm64": {...}, "index": "sha256:..."}
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import time

BUSYBOX = os.environ.get("BUSYBOX", "/bin/busybox")
APPLETS = ["sh", "ls", "cat", "echo", "true", "sha256sum"]
CREATED = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
        self.refs = []

    def put(self, data, media_type):
        """Store a blob, return its descriptor."""
        digest = sha256(data)
        path = os.path.join(self.root, "blobs", "sha256", digest.split(":", 1)[1])
        with open(path, "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def put_json(self, obj, media_type):
        # Compact, stable serialisation: these exact bytes are what gets digested.
        return self.put(json.dumps(obj, separators=(",", ":"), sort_keys=True).encode(), media_type)

    def tag(self, desc, name, platform=None):
        d = dict(desc, annotations={"org.opencontainers.image.ref.name": name})
        if platform:
            d["platform"] = platform
        self.refs.append(d)

    def finish(self):
        with open(os.path.join(self.root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        with open(os.path.join(self.root, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": self.refs}, f)


def tar_layer(entries):
    """entries: list of (name, kind, payload). Returns (uncompressed tar, gzip of it)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.uid = info.gid = 0
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, payload, 0o777
                tar.addfile(info)
            else:
                info.size, info.mode = len(payload), (0o755 if kind == "exe" else 0o644)
                tar.addfile(info, io.BytesIO(payload))
    raw = buf.getvalue()
    # mtime=0: the gzip bytes depend only on the tar bytes.
    return raw, gzip.compress(raw, compresslevel=6, mtime=0)


def build_image(layout, arch, variant, layers):
    """layers: list of entry lists. Returns (manifest descriptor, summary dict)."""
    layer_descs, diff_ids = [], []
    for entries in layers:
        raw, gz = tar_layer(entries)
        diff_ids.append(sha256(raw))
        layer_descs.append(layout.put(gz, OCI_LAYER_GZ))
    config = {
        "created": CREATED,
        "architecture": arch,
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "Labels": {"berth.e2e": arch}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": CREATED, "created_by": "berth e2e mkimages.py layer %d" % i}
                    for i in range(len(layers))],
    }
    if variant:
        config["variant"] = variant
    config_desc = layout.put_json(config, OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_desc,
        "layers": layer_descs,
    }
    mdesc = layout.put_json(manifest, OCI_MANIFEST)
    summary = {
        "manifest": mdesc["digest"],
        "config": config_desc["digest"],
        "layers": [d["digest"] for d in layer_descs],
        "diff_ids": diff_ids,
    }
    return mdesc, summary


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    layout = Layout(out)
    with open(BUSYBOX, "rb") as f:
        busybox = f.read()
    # hex text so a `cat` of the file is readable; 4 KiB of it is plenty to be unique.
    rand = lambda n: os.urandom(n).hex().encode()

    amd64_layers = [
        [("bin", "dir", None), ("bin/busybox", "exe", busybox)]
        + [("bin/" + a, "symlink", "busybox") for a in APPLETS]
        + [("etc", "dir", None), ("etc/e2e-random", "file", rand(2048)),
           ("etc/e2e-arch", "file", b"amd64\n")],
        [("data", "dir", None), ("data/blob.bin", "file", os.urandom(3 * 1024 * 1024))],
    ]
    arm64_layers = [
        [("etc", "dir", None), ("etc/e2e-random", "file", rand(2048)),
         ("etc/e2e-arch", "file", b"arm64\n")],
    ]
    amd64_desc, amd64 = build_image(layout, "amd64", None, amd64_layers)
    arm64_desc, arm64 = build_image(layout, "arm64", "v8", arm64_layers)

    amd64_plat = {"architecture": "amd64", "os": "linux"}
    arm64_plat = {"architecture": "arm64", "os": "linux", "variant": "v8"}
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [dict(amd64_desc, platform=amd64_plat), dict(arm64_desc, platform=arm64_plat)],
    }
    index_desc = layout.put_json(index, OCI_INDEX)

    layout.tag(amd64_desc, "amd64")
    layout.tag(arm64_desc, "arm64")
    layout.tag(index_desc, "multi")
    layout.finish()

    with open(os.path.join(out, "images.json"), "w") as f:
        json.dump({"amd64": amd64, "arm64": arm64, "index": index_desc["digest"]}, f, indent=1)


if __name__ == "__main__":
    main()
