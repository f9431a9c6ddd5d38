# SPDX-License-Identifier: MIT
"""Self-tests of the case tools (fakeup, store, rawreg) with no regwarden involved.

If a case test fails, these say whether the tool or regwarden is at fault: each fault switch
is shown to do what the case relies on, directly against FAKE and STORE.
"""
import os
import socket
import threading

import fakeup
import rawreg
from casekit import *  # noqa: F401,F403
from casekit import seed_fake, sig_tag
from lib import images, sigtool, util

MiB = 1 << 20


def test_fakeup_chunked_upload_ranges_and_stale_state(fake):
    c = rawreg.Client(fake.url)
    assert c.get("/v2/").status == 200
    data = os.urandom(3 * MiB)
    d, steps = c.chunked_upload("team/app", data, MiB)
    assert [s[1].status for s in steps] == [202, 202, 202, 202, 201], steps
    assert c.blob("team/app", d, "HEAD").status == 200
    r = c.get_range("team/app", d, "bytes=100-")
    assert (r.status, r.header("Content-Range"), r.body) == (206, "bytes 100-%d/%d" % (len(data) - 1, len(data)), data[100:])
    r = c.get_range("team/app", d, "bytes=-10")
    assert (r.status, r.body) == (206, data[-10:])
    r = c.get_range("team/app", d, "bytes=99999999999-")
    assert (r.status, r.header("Content-Range")) == (416, "bytes */%d" % len(data))
    r = c.start("team/app")
    l1 = r.header("Location")
    l2 = c.patch(l1, b"x" * 1024).header("Location")
    assert c.patch(l1, b"y" * 1024, offset=1024).error_codes() == ["BLOB_UPLOAD_INVALID"]
    assert c.patch(l2, b"y" * 1024, offset=1024).error_codes() == ["BLOB_UPLOAD_UNKNOWN"]
    r = c.start("team/app")
    r = c.patch(r.header("Location"), b"a" * 10)
    assert c.patch(r.header("Location"), b"b" * 10, content_range="99-108").status == 416
    r = c.start("team/app")
    r = c.patch_chunked(r.header("Location"), [b"a" * 1000, b"b" * 5000])
    assert (r.status, r.header("Range")) == (202, "0-5999")
    r = c.finish(r.header("Location"), util.sha256_bytes(b"a" * 1000 + b"b" * 5000))
    assert r.status == 201


def test_fakeup_faults_runtime_switchable(fake, store, image_factory, keys):
    lay = image_factory()
    digest = seed_fake(fake, lay, "v1", "team/app")
    c = rawreg.Client(fake.url)
    ctl = rawreg.Client(fake.url)
    r = ctl.request("POST", "/_fault", {"Content-Type": "application/json"},
                    b'{"corrupt_manifest": ["%s"]}' % digest.encode())
    assert r.status == 200 and r.json()["corrupt_manifest"] == [digest]
    r = c.manifest("team/app", digest)
    assert r.status == 200 and util.sha256_bytes(r.body) != digest and r.header("Docker-Content-Digest") == digest
    ctl.request("POST", "/_fault", {"Content-Type": "application/json"}, b'{"reset": true}')
    assert util.sha256_bytes(c.manifest("team/app", digest).body) == digest

    fake.set_faults(sig_404_code="NOT_FOUND")
    assert c.manifest("team/app", sig_tag(digest)).error_codes() == ["NOT_FOUND"]
    fake.set_faults(sig_404_code="")
    r = c.manifest("team/app", sig_tag(digest))
    assert (r.status, r.body) == (404, b"")
    fake.set_faults(reset=True, sig_500=True)
    assert c.manifest("team/app", sig_tag(digest)).status == 500
    fake.set_faults(reset=True)
    sigtool.attach(sigtool.RegClient(fake.url), "team/app", digest, keys.team.private_key(), "fake.local/team/app")
    assert sigtool.verify(sigtool.RegClient(fake.url), "team/app", digest, {"t": keys.team.public_key()}).ok

    layer = lay.layer_digests("v1")[1]
    fake.set_faults(redirect_blobs=store.url, require_bearer=True)
    assert c.blob("team/app", layer).status == 401
    r = c.blob("team/app", layer, headers={"Authorization": "Bearer fake-token"})
    assert r.status == 307 and r.header("Location").startswith(store.url + "/")
    s = rawreg.Client(store.url)
    assert s.request("GET", r.header("Location"), {"Authorization": "Bearer fake-token"}).status == 400
    r2 = s.request("GET", r.header("Location"))
    assert r2.status == 200 and util.sha256_bytes(r2.body) == layer
    assert len(store.authorization_seen()) == 1


def test_fakeup_flip_byte_and_referrers(fake, image_factory):
    c = rawreg.Client(fake.url)
    big = os.urandom(2 * MiB)
    d, r = c.monolithic("team/app", big)
    assert r.status == 201
    fake.set_faults(flip_byte_blob=[d])
    r = c.blob("team/app", d)
    assert r.status == 200 and len(r.body) == len(big) and r.body != big
    assert bytes(a ^ b for a, b in zip(r.body[MiB:MiB + 1], big[MiB:MiB + 1])) == b"\x01"
    fake.set_faults(reset=True, referrers=True, page_size=1)
    lay = image_factory()
    subject = seed_fake(fake, lay, "v1", "team/app")
    cfg = b"{}"
    cd, _ = c.monolithic("team/app", cfg)
    for i in range(2):
        body = ('{"schemaVersion":2,"mediaType":"%s","artifactType":"application/x-test","config":{"mediaType":'
                '"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[],"subject":{"mediaType":"%s",'
                '"digest":"%s","size":1},"annotations":{"i":"%d"}}' % (images.OCI_MANIFEST, cd, images.OCI_MANIFEST,
                                                                        subject, i)).encode()
        r = c.put_manifest("team/app", util.sha256_bytes(body), body, images.OCI_MANIFEST)
        assert r.status == 201 and r.header("OCI-Subject") == subject, r
    r = c.get("/v2/team/app/referrers/%s" % subject)
    assert r.status == 200 and len(r.json()["manifests"]) == 1 and 'rel="next"' in r.header("Link")
    nxt = r.header("Link").split(";")[0].strip("<>")
    assert len(c.get(nxt).json()["manifests"]) == 1
    assert c.get("/v2/team/app/referrers/sha256:zz").status == 400


def _one_shot_server(reply):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def run():
        c, _ = srv.accept()
        c.recv(65536)
        c.sendall(reply)
        c.close()
        srv.close()
    threading.Thread(target=run, daemon=True).start()
    return "http://127.0.0.1:%d" % srv.getsockname()[1]


def test_rawreg_tells_short_bodies_from_clean_ones():
    url = _one_shot_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    r = rawreg.Client(url).get("/x")
    assert (r.status, r.ending, r.body) == (200, "short", b"0123456789")
    url = _one_shot_server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    r = rawreg.Client(url).get("/x")
    assert (r.status, r.ending, r.body) == (200, "short", b"hello")
    url = _one_shot_server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    r = rawreg.Client(url).get("/x")
    assert (r.status, r.ending, r.body) == (200, "clean", b"hello")
