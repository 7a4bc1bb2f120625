#!/usr/bin/env python3
"""Stores and images for bench/run.sh, written straight to disk.

Pushing 10 000 tags or 10 000 manifests through a registry would take longer than the
benchmark itself, so the stores are written in distribution's on-disk layout (the one both
the reference and berth read):

  docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data
  docker/registry/v2/repositories/<name>/_manifests/revisions/sha256/<hex>/link
  docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/current/link
  docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/index/sha256/<hex>/link
  docker/registry/v2/repositories/<name>/_layers/sha256/<hex>/link

Link files hold "sha256:<hex>" with no newline, as distribution writes them.

  mkstore.py small ROOT TAGS REPOS     the image bench/img with TAGS tags (+ latest) and REPOS
                                       repositories cat/rNNNNN:latest; prints JSON digests
  mkstore.py startup ROOT BLOBS        BLOBS small random blobs plus one repository
  mkstore.py gc ROOT REPOS PER ORPHANS REPOS x PER manifests (own config + layer each, every
                                       other one tagged) plus ORPHANS unreferenced blobs;
                                       prints JSON counts
  mkstore.py oci DIR LAYERS MIB        an OCI layout (tag "1") of LAYERS random gzip layers of
                                       MIB MiB each (stored deflate blocks: cheap to make, and
                                       seen as gzip, so skopeo copies them as they are)
  mkstore.py big FILE MIB              MIB MiB of random bytes; prints "sha256:<hex>"
"""
import gzip
import hashlib
import json
import os
import sys

V2 = "docker/registry/v2"
SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def put_blob(root, data):
    d = sha(data)
    h = d[7:]
    write(f"{root}/{V2}/blobs/sha256/{h[:2]}/{h}/data", data)
    return d


def link(path, digest):
    write(path, digest.encode())


def repo_dir(root, name):
    return f"{root}/{V2}/repositories/{name}"


def add_manifest(root, name, manifest, mdigest, blobs, tags):
    """Links one manifest (already stored as a blob) into repository NAME."""
    r = repo_dir(root, name)
    h = mdigest[7:]
    link(f"{r}/_manifests/revisions/sha256/{h}/link", mdigest)
    for b in blobs:
        link(f"{r}/_layers/sha256/{b[7:]}/link", b)
    for t in tags:
        link(f"{r}/_manifests/tags/{t}/current/link", mdigest)
        link(f"{r}/_manifests/tags/{t}/index/sha256/{h}/link", mdigest)


def make_image(root, layer_size, salt=b""):
    """A schema2 image (config ~1.5 KiB, one gzip layer): returns (manifest bytes, digests)."""
    raw = os.urandom(layer_size)
    layer = gzip.compress(raw, compresslevel=1)
    diff_id = sha(raw)
    env = [f"BENCH_VAR_{i:02d}=value-{i:02d}-{salt.hex()}" for i in range(40)]
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": env, "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "bench/mkstore.py"}],
    }, separators=(",", ":")).encode()
    cd = put_blob(root, config)
    ld = put_blob(root, layer)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": SCHEMA2,
        "config": {"mediaType": CONFIG_TYPE, "size": len(config), "digest": cd},
        "layers": [{"mediaType": LAYER_TYPE, "size": len(layer), "digest": ld}],
    }, indent=3).encode()
    md = put_blob(root, manifest)
    return manifest, md, cd, ld, len(config), len(layer)


def small(root, tags, repos):
    manifest, md, cd, ld, csize, lsize = make_image(root, 65536)
    names = [f"t{i:05d}" for i in range(tags)] + ["latest"]
    add_manifest(root, "bench/img", manifest, md, [cd, ld], names)
    for i in range(repos):
        add_manifest(root, f"cat/r{i:05d}", manifest, md, [cd, ld], ["latest"])
    print(json.dumps({"manifest": md, "config": cd, "layer": ld, "config_size": csize,
                      "layer_size": lsize, "tags": len(names), "repos": repos + 1}))


def startup(root, blobs):
    for _ in range(blobs):
        put_blob(root, os.urandom(64 + int.from_bytes(os.urandom(1), "big")))
    manifest, md, cd, ld, _, _ = make_image(root, 4096)
    add_manifest(root, "startup/img", manifest, md, [cd, ld], ["latest"])


def gc(root, repos, per, orphans):
    kept = 0
    for r in range(repos):
        name = f"gc/r{r:03d}"
        for m in range(per):
            # small layers keep the store quick to copy; the work is in the metadata
            manifest, md, cd, ld, _, _ = make_image(root, 256, salt=os.urandom(4))
            tagged = m % 2 == 0
            add_manifest(root, name, manifest, md, [cd, ld], [f"v{m:03d}"] if tagged else [])
            kept += 3 if tagged else 0
    for _ in range(orphans):
        put_blob(root, os.urandom(200))
    print(json.dumps({"manifests": repos * per, "blobs": repos * per * 3 + orphans,
                      "blobs_kept_expected": kept}))


def oci(out, layers, mib):
    os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
    write(f"{out}/oci-layout", b'{"imageLayoutVersion":"1.0.0"}')

    def blob(data):
        d = sha(data)
        write(f"{out}/blobs/sha256/{d[7:]}", data)
        return d

    descs, diff_ids = [], []
    for _ in range(layers):
        tmp = f"{out}/layer.tmp"
        raw_h = hashlib.sha256()
        with gzip.open(tmp, "wb", compresslevel=0) as g:
            for _ in range(mib):
                chunk = os.urandom(1 << 20)
                raw_h.update(chunk)
                g.write(chunk)
        h = hashlib.sha256()
        with open(tmp, "rb") as f:
            while chunk := f.read(8 << 20):
                h.update(chunk)
        d = "sha256:" + h.hexdigest()
        os.rename(tmp, f"{out}/blobs/sha256/{d[7:]}")
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "size": os.path.getsize(f"{out}/blobs/sha256/{d[7:]}"), "digest": d})
        diff_ids.append("sha256:" + raw_h.hexdigest())
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "size": len(config), "digest": blob(config)},
        "layers": descs}).encode()
    md = blob(manifest)
    write(f"{out}/index.json", json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "size": len(manifest),
        "digest": md, "annotations": {"org.opencontainers.image.ref.name": "1"}}]}).encode())
    print(md)


def big(path, mib):
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(mib):
            chunk = os.urandom(1 << 20)
            h.update(chunk)
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())  # on disk before anything is timed
    print("sha256:" + h.hexdigest())


def main(argv):
    cmd, path, *nums = argv[1:]
    n = [int(x) for x in nums]
    {"small": small, "startup": startup, "gc": gc, "oci": oci, "big": big}[cmd](path, *n)


if __name__ == "__main__":
    main(sys.argv)
