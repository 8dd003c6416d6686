"""galaxy.yml carries no address a user cannot follow.

The collection has no public home page, repository or issue tracker, so galaxy.yml leaves
``repository``, ``documentation``, ``homepage`` and ``issues`` out (ansible-galaxy builds without
them) and its description says where the documentation is: inside the collection, docs/.
When the collection gets a public home, set those keys to it and change this test.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
GALAXY = REPO_ROOT / "galaxy.yml"


def _galaxy():
    return yaml.safe_load(GALAXY.read_text(encoding="utf-8"))


def test_no_reserved_or_placeholder_address():
    text = GALAXY.read_text(encoding="utf-8")
    assert not re.search(r"\.invalid\b|\.example\b|example\.(com|org|net)\b", text), "galaxy.yml holds a placeholder address"


def test_no_url_without_a_public_home():
    galaxy = _galaxy()
    present = [key for key in ("repository", "documentation", "homepage", "issues") if galaxy.get(key)]
    assert not present, "galaxy.yml points at a home the collection does not have: %s" % present


def test_description_says_where_the_docs_are():
    galaxy = _galaxy()
    assert "docs/" in galaxy["description"]
    assert (REPO_ROOT / "docs").is_dir()
    assert "docs/" not in galaxy.get("build_ignore", []), "the docs folder must ship in the artifact"


def test_authors_have_no_address_but_a_name():
    authors = _galaxy()["authors"]
    assert authors and all(isinstance(a, str) and a.strip() for a in authors)
    assert not any("@" in a for a in authors), authors
