# SPDX-License-Identifier: MIT
"""pytest fixtures for regwarden's end-to-end tests (real docker-registry, skopeo, containerd, umoci).

Run with Debian's interpreter:  /usr/bin/python3 -m pytest tests/e2e
Environment:
  RW_BIN     regwarden binary (default <repo>/build/regwarden)
  RW_STATE   root directory for this session's state (default: a fresh mkdtemp; removed after a
             fully green session unless RW_KEEP=1)
  RW_KEEP=1  keep the state directory

Fixture names are STABLE (other test files use them):

session scope
  rw_bin            str   path of the regwarden binary (not checked until a Regwarden starts)
  rw_state          Path  this session's state root
  keys              Keys  ECDSA P-256 pairs made with openssl: .team (SEC1 private key; the signer and
                          the trusted "team" key), .team_pkcs8 (PKCS#8 private key), .other (untrusted).
                          Each is a lib.keys.KeyPair: .priv_path .pub_path .private_key() .public_key()
  containerd        lib.containerd.Containerd  own containerd 1.6 (root only; skips otherwise)

function scope
  workdir           Path  a fresh directory for this test under rw_state (removed after the test
                          when it passed, unless RW_KEEP=1; a failed test's state is kept)
  registry_factory  make(name="registry.local", auth=None|(user, pw), http_host=None, extra_config="")
                          -> started lib.registry.Registry (docker-registry 2.8, free port, access log
                          parsed by .access()/.mark()/.requests_for()); all stopped at teardown
  upstream          Registry  the default upstream "registry.local" (no auth)
  main_config       make(upstream, **overrides) -> config dict per DESIGN.md for the main job:
                          upstream registry.local -> upstream.url; push registry.local/team/** sign;
                          pull rules team/** require signed_by [team], library/* allow; overrides
                          replace top-level keys (e.g. pull={...})
  regwarden_factory make(config, start=True, env=None) -> lib.regwarden.Regwarden; listen/admin ports
                          are free ports, cache + deny_log under its own dir; at teardown each is
                          stopped with SIGTERM and MUST exit 0 with no ASan/LSan/UBSan report
  regwarden         Regwarden  started with main_config(upstream)
  image_factory     make(tag="v1", **kw) -> lib.images.Layout, a fresh umoci-built image with
                          random content (kw passed to lib.images.build_image)
  index_factory     make(tag="v1", arches=("amd64","arm64")) -> Layout with an OCI index at `tag`
  ctr               CtrSession (root only): containerd + a fresh namespace + hosts dir;
                          .mirror(rw, registry="registry.local", single=False) writes
                          certs.d/<registry>/hosts.toml with server = regwarden (single=True: one
                          request per pull step); .pull(ref) -> CompletedProcess; .rm(ref);
                          .image_digest(ref); .content(); .ns; .hosts
Markers (pytest.ini): needs_root, slow.
"""
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib import containerd as _containerd  # noqa: E402
from lib import images as _images  # noqa: E402
from lib import keys as _keys  # noqa: E402
from lib import registry as _registry  # noqa: E402
from lib import regwarden as _regwarden  # noqa: E402
from lib import util  # noqa: E402

_SESSION = {"failed": False, "created": False}


def pytest_configure(config):
    for m in ("needs_root: needs root (containerd)", "slow: long-running (1 GiB blob)"):
        config.addinivalue_line("markers", m)


def pytest_collection_modifyitems(config, items):
    if util.is_root():
        return
    skip = pytest.mark.skip(reason="needs root (own containerd instance)")
    for it in items:
        if "needs_root" in it.keywords:
            it.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        _SESSION["failed"] = True
    setattr(item, "rep_" + rep.when, rep)


# -- session ------------------------------------------------------------------
@pytest.fixture(scope="session")
def rw_bin():
    return _regwarden.rw_bin()


@pytest.fixture(scope="session")
def rw_state():
    root = os.environ.get("RW_STATE")
    if root:
        os.makedirs(root, exist_ok=True)
        root = tempfile.mkdtemp(prefix="e2e-", dir=root)
    else:
        root = tempfile.mkdtemp(prefix="rw-e2e-")
    _SESSION["created"] = True
    yield Path(root)
    if not _SESSION["failed"] and not os.environ.get("RW_KEEP"):
        shutil.rmtree(root, ignore_errors=True)
    else:
        sys.stderr.write("\n[e2e] state kept in %s\n" % root)


@pytest.fixture(scope="session")
def keys(rw_state):
    d = rw_state / "keys"
    return SimpleNamespace(team=_keys.KeyPair(d, "team", "sec1"),
                           team_pkcs8=_keys.KeyPair(d, "team-pkcs8", "pkcs8"),
                           other=_keys.KeyPair(d, "other", "sec1"))


@pytest.fixture(scope="session")
def containerd(rw_state):
    if not util.is_root():
        pytest.skip("needs root (own containerd instance)")
    c = _containerd.Containerd(rw_state / "containerd").start()
    yield c
    c.stop()


# -- function -----------------------------------------------------------------
_counter = [0]


@pytest.fixture
def workdir(rw_state, request):
    _counter[0] += 1
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:80]
    d = rw_state / ("%03d-%s" % (_counter[0], name))
    d.mkdir(parents=True, exist_ok=True)
    yield d
    # finalizers of fixtures built on workdir (processes) have run by now; keep only failures' state
    reps = [getattr(request.node, "rep_" + w, None) for w in ("setup", "call")]
    if all(r is not None and r.passed for r in reps) and not os.environ.get("RW_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def registry_factory(workdir):
    made = []

    def make(name="registry.local", auth=None, http_host=None, extra_config=""):
        r = _registry.Registry(workdir / ("upstream-%d-%s" % (len(made), name)), name=name, auth=auth,
                               http_host=http_host, extra_config=extra_config)
        made.append(r)
        return r.start()
    yield make
    for r in made:
        r.stop()


@pytest.fixture
def upstream(registry_factory):
    return registry_factory()


@pytest.fixture
def main_config(keys):
    def make(upstream, **overrides):
        cfg = _regwarden.main_job_config(upstream.url, keys.team.pub_path, keys.team.priv_path,
                                         registry_name=upstream.name)
        cfg.update(overrides)
        return cfg
    return make


@pytest.fixture
def regwarden_factory(workdir, request):
    made = []

    def make(config, start=True, env=None):
        rw = _regwarden.Regwarden(workdir / ("regwarden-%d" % len(made)), config, env=env)
        made.append(rw)
        return rw.start() if start else rw
    yield make
    problems = []
    for rw in made:
        try:
            rw.stop(check=True)
        except AssertionError as e:
            problems.append(str(e))
        for rc, in_time, rep in rw.exits:
            if rep:
                problems.append("sanitizer report:\n" + rep)
    if problems:
        pytest.fail("regwarden teardown: " + "\n".join(dict.fromkeys(problems)), pytrace=False)


@pytest.fixture
def regwarden(regwarden_factory, main_config, upstream):
    return regwarden_factory(main_config(upstream))


@pytest.fixture
def image_factory(workdir):
    n = [0]

    def make(tag="v1", **kw):
        n[0] += 1
        return _images.build_image(workdir / ("img-%d" % n[0]), tag=tag, **kw)
    return make


@pytest.fixture
def index_factory(workdir):
    n = [0]

    def make(tag="v1", arches=("amd64", "arm64")):
        n[0] += 1
        return _images.build_index(workdir / ("idx-%d" % n[0]), tag=tag, arches=arches)
    return make


class CtrSession:
    def __init__(self, containerd, ns, hosts):
        self.containerd, self.ns, self.hosts = containerd, ns, str(hosts)

    def mirror(self, rw, registry="registry.local", single=False):
        """certs.d/<registry>/hosts.toml with server = regwarden (so a deny is final).
        single=True: one request per pull step (see lib.containerd.Containerd.hosts_dir)."""
        self.containerd.hosts_dir(self.hosts, registry, rw.url, single=single)
        return self.hosts

    def pull(self, ref, **kw):
        return self.containerd.pull(ref, self.hosts, self.ns, **kw)

    def rm(self, ref):
        return self.containerd.remove_image(ref, self.ns)

    def image_digest(self, ref):
        return self.containerd.image_digest(ref, self.ns)

    def content(self):
        return self.containerd.content_digests(self.ns)


@pytest.fixture
def ctr(containerd, workdir):
    hosts = workdir / "certs.d"
    hosts.mkdir(exist_ok=True)
    return CtrSession(containerd, containerd.new_namespace(), hosts)
