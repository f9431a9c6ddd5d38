# SPDX-License-Identifier: MIT
"""Offline images (umoci) in OCI layouts, and skopeo as pusher/puller.

build_image()  one platform image, random file contents so every test gets new digests;
               the manifest is rewritten to carry its "mediaType" field (as buildah/cosign do).
build_index()  N single-platform images + an OCI image index (platform fields) tagged in one layout.
skopeo_copy()  `skopeo copy` with plain-http-friendly flags.
"""
import hashlib
import json
import os
import shutil

from . import util

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


class Layout:
    """An OCI image layout directory holding one or more tags."""

    def __init__(self, path):
        self.path = str(path)

    def index(self):
        with open(os.path.join(self.path, "index.json")) as f:
            return json.load(f)

    def _write_index(self, idx):
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump(idx, f, separators=(",", ":"))

    def descriptor(self, tag):
        for d in self.index()["manifests"]:
            if (d.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag:
                return d
        raise KeyError(tag)

    def blob_path(self, digest):
        alg, _, h = digest.partition(":")
        return os.path.join(self.path, "blobs", alg, h)

    def blob(self, digest):
        with open(self.blob_path(digest), "rb") as f:
            return f.read()

    def write_blob(self, data):
        d = util.sha256_bytes(data)
        p = self.blob_path(d)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        return d

    def digest(self, tag):
        return self.descriptor(tag)["digest"]

    def manifest(self, tag):
        return json.loads(self.blob(self.digest(tag)))

    def manifest_bytes(self, tag):
        return self.blob(self.digest(tag))

    def ref(self, tag):
        return "oci:%s:%s" % (self.path, tag)

    def set_tag(self, tag, descriptor):
        idx = self.index()
        idx["manifests"] = [d for d in idx["manifests"]
                            if (d.get("annotations") or {}).get("org.opencontainers.image.ref.name") != tag]
        d = dict(descriptor)
        d["annotations"] = dict(d.get("annotations") or {}, **{"org.opencontainers.image.ref.name": tag})
        idx["manifests"].append(d)
        self._write_index(idx)

    def remove_tag(self, tag):
        idx = self.index()
        idx["manifests"] = [d for d in idx["manifests"]
                            if (d.get("annotations") or {}).get("org.opencontainers.image.ref.name") != tag]
        self._write_index(idx)

    def layer_digests(self, tag):
        m = self.manifest(tag)
        return [m["config"]["digest"]] + [x["digest"] for x in m["layers"]]


def _umoci(*args):
    return util.run(["umoci"] + [str(a) for a in args], timeout=600)


def _add_media_type(layout, tag):
    """umoci writes manifests without "mediaType"; add it (new digest) so Content-Type can be checked."""
    d = layout.descriptor(tag)
    man = json.loads(layout.blob(d["digest"]))
    if "mediaType" not in man:
        man = {"schemaVersion": man["schemaVersion"], "mediaType": OCI_MANIFEST, **{k: v for k, v in man.items() if k != "schemaVersion"}}
        body = json.dumps(man, separators=(",", ":")).encode()
        nd = layout.write_blob(body)
        layout.set_tag(tag, {"mediaType": OCI_MANIFEST, "digest": nd, "size": len(body)})


def build_image(workdir, tag="v1", files=None, arch="amd64", cmd="/hello", layout=None, nbytes=2048,
                large_file=None):
    """Build a small image in an OCI layout under workdir (or add `tag` to an existing layout).

    files: {relative path: bytes}; default one random file per image so digests differ.
    large_file: (name, size) written from os.urandom in 1 MiB chunks (for big layers).
    Returns the Layout.
    """
    workdir = str(workdir)
    os.makedirs(workdir, exist_ok=True)
    if layout is None:
        layout = Layout(os.path.join(workdir, "layout"))
        if not os.path.exists(os.path.join(layout.path, "index.json")):
            _umoci("init", "--layout", layout.path)
    _umoci("new", "--image", "%s:%s" % (layout.path, tag))
    bundle = os.path.join(workdir, "bundle-" + tag)
    shutil.rmtree(bundle, ignore_errors=True)
    _umoci("unpack", "--rootless", "--image", "%s:%s" % (layout.path, tag), bundle)
    rootfs = os.path.join(bundle, "rootfs")
    if files is None:
        files = {"hello": os.urandom(nbytes), "etc/e2e-id": os.urandom(16).hex().encode()}
    for rel, data in files.items():
        p = os.path.join(rootfs, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, 0o755)
    if large_file:
        name, size = large_file
        with open(os.path.join(rootfs, name), "wb") as f:
            left = size
            while left > 0:
                n = min(left, 1 << 20)
                f.write(os.urandom(n))
                left -= n
    _umoci("repack", "--image", "%s:%s" % (layout.path, tag), bundle)
    _umoci("config", "--image", "%s:%s" % (layout.path, tag), "--config.cmd", cmd,
           "--architecture", arch, "--os", "linux")
    shutil.rmtree(bundle, ignore_errors=True)
    _add_media_type(layout, tag)
    return layout


def build_index(workdir, tag="v1", arches=("amd64", "arm64")):
    """An OCI image index over one image per arch (each tagged <tag>-<arch> too), tagged `tag`."""
    layout = None
    entries = []
    for arch in arches:
        layout = build_image(workdir, tag="%s-%s" % (tag, arch), arch=arch, layout=layout)
        d = layout.descriptor("%s-%s" % (tag, arch))
        entries.append({"mediaType": OCI_MANIFEST, "digest": d["digest"], "size": d["size"],
                        "platform": {"architecture": arch, "os": "linux"}})
    idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    body = json.dumps(idx, separators=(",", ":")).encode()
    digest = layout.write_blob(body)
    layout.set_tag(tag, {"mediaType": OCI_INDEX, "digest": digest, "size": len(body)})
    return layout


def skopeo_copy(src, dst, all_images=False, fmt=None, src_creds=None, dest_creds=None, check=True,
                extra=(), timeout=180):
    """skopeo copy with TLS verification off on both ends (plain http on loopback)."""
    argv = ["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", "--dest-tls-verify=false"]
    if all_images:
        argv.append("--all")
    if fmt:
        argv += ["--format", fmt]
    if src_creds:
        argv += ["--src-creds", "%s:%s" % tuple(src_creds)]
    if dest_creds:
        argv += ["--dest-creds", "%s:%s" % tuple(dest_creds)]
    argv += list(extra) + [src, dst]
    return util.run(argv, check=check, timeout=timeout)


def skopeo_inspect_raw(ref, creds=None, check=True):
    argv = ["skopeo", "--insecure-policy", "inspect", "--raw", "--tls-verify=false"]
    if creds:
        argv += ["--creds", "%s:%s" % tuple(creds)]
    return util.run(argv + [ref], check=check)


def docker_list_from(layout_children, platforms):
    """Build a Docker manifest list body from [(body bytes of a Docker manifest, arch), ...]."""
    entries = []
    for body, arch in zip(layout_children, platforms):
        entries.append({"mediaType": DOCKER_MANIFEST, "size": len(body),
                        "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
                        "platform": {"architecture": arch, "os": "linux"}})
    return json.dumps({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": entries},
                      separators=(",", ":")).encode()
