"""Faster jurisdictions for the members suite: the same regions and pack values as the shared
``shiyan``/``yicheng`` fixtures, but the pack is bulk-inserted (one statement) instead of
saved parameter by parameter through the audited service — that costs ~1.5 s per test."""
import pytest


def _fast_jurisdiction(pack, **kw):
    from yibao_site.models import PolicyParameter
    from yibao_site.packs import read_pack
    from yibao_site.testing import build_jurisdiction

    j = build_jurisdiction(pack="", **kw)
    PolicyParameter.objects.bulk_create([
        PolicyParameter(region=j.city, key=e["key"], value=e["value"], effective_from=e["effective_from"],
                        pack=pack, source=e.get("source", ""), illustrative=bool(e.get("illustrative", False)),
                        note=e.get("doc", ""))
        for e in read_pack(pack)["parameters"]
    ])
    return j


@pytest.fixture
def shiyan(db):
    return _fast_jurisdiction("shiyan-2022")


@pytest.fixture
def yicheng(db):
    return _fast_jurisdiction("yicheng-2024", city=("370400", "枣庄市"), county=("370404", "峄城区"))
