# SPDX-License-Identifier: MIT
"""The README's configs are configs: the minimal complete config and every policy-cookbook block
(merged into it, as the README says to) pass `regwarden check`. Docs that stop parsing fail here."""
import os
import re
import shutil
import textwrap

import pytest
import yaml

from lib import util

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _section(text, start, end):
    i = text.index(start)
    return text[i:text.index(end, i)]


def _yaml_blocks(text):
    return [textwrap.dedent(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]


README = open(os.path.join(ROOT, "README.md")).read()
MINIMAL = _yaml_blocks(_section(README, "A minimal complete config", "Every key, with its default"))
COOKBOOK = _yaml_blocks(_section(README, "## Policy cookbook", "## Deny review"))


@pytest.fixture
def confdir(workdir, keys):
    d = workdir / "docs"
    d.mkdir()
    for name, src in (("team.pub", keys.team.pub_path), ("team.key", keys.team.priv_path),
                      ("scanner.pub", keys.other.pub_path)):
        shutil.copy(src, d / name)
    return d


def check(rw_bin, confdir, cfg):
    path = confdir / "regwarden.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return util.run([rw_bin, "check", "-c", str(path)], check=False)


def base():
    assert len(MINIMAL) == 1, "README: the minimal config block moved"
    return yaml.safe_load(MINIMAL[0])


def test_minimal_config_checks(rw_bin, confdir):
    p = check(rw_bin, confdir, base())
    assert p.returncode == 0, (p.stdout, p.stderr)


@pytest.mark.parametrize("n", range(len(COOKBOOK)))
def test_cookbook_block_checks(rw_bin, confdir, n):
    block = yaml.safe_load(COOKBOOK[n])
    cfg = base()
    if isinstance(block, list):
        # a fragment of `attestations:` (the vulnerability-scan entry): under the SBOM block's rule
        sbom = next(yaml.safe_load(b) for b in COOKBOOK if "cyclonedx" in b)
        cfg.update(sbom)
        cfg["pull"]["rules"][0]["require"]["attestations"] = block
    else:
        cfg.update(block)  # each block replaces the top-level keys it names, as the README says
    p = check(rw_bin, confdir, cfg)
    assert p.returncode == 0, (COOKBOOK[n], p.stdout, p.stderr)


def test_cookbook_has_the_attestation_recipes():
    text = "\n".join(COOKBOOK)
    for needle in ("https://slsa.dev/provenance/v1", "https://cyclonedx.org/bom",
                   "https://cosign.sigstore.dev/attestation/vuln/v1"):
        assert needle in text, needle
