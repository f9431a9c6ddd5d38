# SPDX-License-Identifier: MIT
"""C08 (shared/CASES.md) and DESIGN invariant 2: content-addressed data is hashed, never trusted.

FAKE serves other (valid JSON) bytes for a manifest digest while still claiming that digest,
or a blob with one bit flipped at 1 MiB. A manifest is buffered and checked before the first
byte goes out: 403 DENIED with reason digest-mismatch, and nothing cached (FAKE healthy again
-> 200 with the right bytes). A blob may already be streaming when the mismatch shows: then
the response must not end cleanly (reset / short body), never a complete 200 of wrong bytes.
"""
import pytest

from casekit import *  # noqa: F401,F403
from casekit import skopeo_copy
from casekit import blob_image, fake_upstream, rw_client, seed_fake, wait_deny
from lib import images, sigtool, util


def _assert_digest_mismatch_deny(rw, r, since, digest):
    assert r.status == 403, "want 403 DENIED for bytes that do not hash to %s: %r" % (digest, r)
    assert (r.header("Content-Type") or "").startswith("application/json"), r
    err = r.json()["errors"][0]
    assert err["code"] == "DENIED", r
    assert err.get("detail", {}).get("reason") == "digest-mismatch", r
    line = wait_deny(rw, since, "digest-mismatch")
    assert line is not None, "no digest-mismatch deny line; got %r" % rw.deny_lines(since)
    assert line["event"] == "deny"
    assert line["image"]["repository"] == "library/app" or line["image"]["repository"] == "team/app"


@pytest.fixture
def rw(fake, main_config, regwarden_factory):
    return regwarden_factory(main_config(fake_upstream(fake)))


def test_c08_manifest_by_digest_mismatch_denied_nothing_cached(fake, rw, image_factory):
    lay = image_factory()
    digest = seed_fake(fake, lay, "v1", "library/app")
    c = rw_client(rw)
    fake.set_faults(corrupt_manifest=[digest])
    since = rw.deny_count()
    r = c.manifest("library/app", digest)
    _assert_digest_mismatch_deny(rw, r, since, digest)
    r = c.manifest("library/app", digest, method="HEAD")
    assert r.status == 403, "HEAD must be judged on the same fetched bytes: %r" % r
    # FAKE healthy again: the same request now succeeds with the exact bytes (no cached
    # deny, no cached wrong bytes).
    fake.set_faults(reset=True)
    r = c.manifest("library/app", digest)
    assert r.status == 200, r
    assert util.sha256_bytes(r.body) == digest
    assert r.header("Docker-Content-Digest") == digest


def test_c08_signed_manifest_mismatch_after_cached_allow(fake, main_config, regwarden_factory,
                                                          workdir, image_factory, keys):
    """A cached allow for digest D must not let other bytes through under D. With
    cache.serve_by_digest off, every by-digest pull re-fetches and re-hashes: the corrupt bytes
    are a digest-mismatch deny."""
    rw = regwarden_factory(main_config(fake_upstream(fake), cache={
        "path": str(workdir / "cache-nobytes"), "allow_ttl": "24h", "deny_ttl": "30s",
        "serve_by_digest": False}))
    lay = image_factory()
    digest = seed_fake(fake, lay, "v1", "team/app")
    sigtool.attach(sigtool.RegClient(fake.url), "team/app", digest, keys.team.private_key(), "fake.local/team/app")
    c = rw_client(rw)
    r = c.manifest("team/app", digest)
    assert r.status == 200 and util.sha256_bytes(r.body) == digest, r
    fake.set_faults(corrupt_manifest=[digest])
    since = rw.deny_count()
    r = c.manifest("team/app", digest)
    _assert_digest_mismatch_deny(rw, r, since, digest)
    fake.set_faults(reset=True)
    r = c.manifest("team/app", digest)
    assert r.status == 200 and util.sha256_bytes(r.body) == digest, r


def test_c08_tag_fetch_with_lying_digest_header_refused(fake, rw, image_factory):
    """By tag, FAKE serves other bytes with Docker-Content-Digest: D. DESIGN invariant 2: a body
    whose sha256 differs from the advertised digest is refused."""
    lay = image_factory()
    digest = seed_fake(fake, lay, "v1", "library/app")
    fake.set_faults(corrupt_manifest=[digest])
    c = rw_client(rw)
    since = rw.deny_count()
    r = c.manifest("library/app", "v1")
    assert not (r.status == 200 and r.header("Docker-Content-Digest") == digest), \
        "served bytes hashing to %s under Docker-Content-Digest %s" % (util.sha256_bytes(r.body), digest)
    _assert_digest_mismatch_deny(rw, r, since, digest)


def test_c08_skopeo_by_digest_fails_cleanly(fake, rw, image_factory, workdir):
    lay = image_factory()
    digest = seed_fake(fake, lay, "v1", "library/app")
    fake.set_faults(corrupt_manifest=[digest])
    p = skopeo_copy("docker://%s/library/app@%s" % (rw.host, digest), "oci:%s:v1" % (workdir / "out"),
                           check=False, timeout=120)
    assert p.returncode != 0, "skopeo accepted a manifest that does not hash to its digest"
    assert rw.proc.alive()


def test_c08_blob_with_flipped_bit_never_ends_cleanly(fake, rw, image_factory):
    lay, bd, size = blob_image(image_factory, 3 << 20)
    seed_fake(fake, lay, "v1", "library/app")
    c = rw_client(rw)
    r = c.manifest("library/app", "v1")
    assert r.status == 200, r
    good = lay.blob(bd)
    fake.set_faults(flip_byte_blob=[bd])
    r = c.blob("library/app", bd)
    assert not (r.status == 200 and r.ending == "clean"), \
        "a blob whose bytes do not hash to %s ended with a clean 200 (%d bytes, sha256 %s)" % (
            bd, len(r.body), util.sha256_bytes(r.body))
    if r.status in (200, 206):
        assert r.ending in ("short", "reset", "bad-chunk"), r.ending
    # healthy again: full, clean, right bytes (nothing half-written was cached)
    fake.set_faults(reset=True)
    r = c.blob("library/app", bd)
    assert r.status == 200 and r.ending == "clean", r
    assert len(r.body) == size and r.body == good
    assert rw.proc.alive()


def test_c08_cached_allow_serves_the_verified_bytes_without_upstream(fake, rw, image_factory, keys):
    """cache.serve_by_digest (default on): a by-digest pull of a verified manifest is served from
    the cache, so an upstream that starts lying about D changes nothing: the bytes are D's."""
    lay = image_factory()
    digest = seed_fake(fake, lay, "v1", "team/app")
    sigtool.attach(sigtool.RegClient(fake.url), "team/app", digest, keys.team.private_key(), "fake.local/team/app")
    c = rw_client(rw)
    r = c.manifest("team/app", digest)
    assert r.status == 200 and util.sha256_bytes(r.body) == digest, r
    fake.set_faults(corrupt_manifest=[digest])
    since = rw.deny_count()
    for _ in range(3):
        r = c.manifest("team/app", digest)
        assert r.status == 200 and util.sha256_bytes(r.body) == digest, r
        assert r.header("Docker-Content-Digest") == digest
    assert rw.deny_count() == since
