"""Issue 12: every pack value cites its seed or says it is illustrative; load_policy refuses a
pack that does not."""
import shutil

import pytest
from django.core.exceptions import ValidationError

from yibao_site import packs


@pytest.mark.parametrize("name", ["shiyan-2022", "yicheng-2024"])
def test_shipped_packs_cite_every_value(name):
    data = packs.read_pack(name)
    for entry in data["parameters"]:
        assert entry.get("source"), entry["key"]
    packs.check_citations(name, data["parameters"], data["seeds"])


SEEDS = {"004": "seeds/004…", "DOMAIN": "shared/DOMAIN.md"}


def test_a_value_without_source_is_refused():
    with pytest.raises(ValidationError, match="a.b@2024-01-01"):
        packs.check_citations("x", [{"key": "a.b", "effective_from": "2024-01-01", "value": "1"}], SEEDS)


def test_a_source_naming_no_seed_needs_the_illustrative_flag():
    entry = {"key": "a.b", "effective_from": "2024-01-01", "value": "1", "source": "DOMAIN §5"}
    with pytest.raises(ValidationError):
        packs.check_citations("x", [entry], SEEDS)
    packs.check_citations("x", [{**entry, "illustrative": True}], SEEDS)
    packs.check_citations("x", [{**entry, "source": "004 三(三)2"}], SEEDS)


def test_illustrative_still_says_where_the_default_comes_from():
    with pytest.raises(ValidationError):
        packs.check_citations("x", [{"key": "a.b", "effective_from": "2024-01-01", "value": "1",
                                     "illustrative": True}], SEEDS)


@pytest.mark.django_db
def test_load_policy_refuses_an_uncited_pack(monkeypatch):
    import pathlib
    import tempfile

    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="i12-pack-"))
    from yibao_site.testing import build_jurisdiction

    j = build_jurisdiction(pack="")
    shutil.copy(packs.PACK_DIR / "shiyan-2022.yaml", tmp_path / "shiyan-2022.yaml")
    # The uncited value goes into the parameters list (the pack ends with other sections).
    bad = (tmp_path / "shiyan-2022.yaml").read_text(encoding="utf-8").replace(
        "parameters:\n", 'parameters:\n- {key: extra.number, effective_from: 2024-01-01, value: "7"}\n', 1)
    (tmp_path / "broken-pack.yaml").write_text(bad, encoding="utf-8")
    monkeypatch.setattr(packs, "PACK_DIR", tmp_path)
    with pytest.raises(ValidationError, match="extra.number"):
        packs.pack_load(name="broken-pack", region=j.city)
    from yibao_site.models import PolicyParameter
    assert not PolicyParameter.objects.filter(region=j.city).exists()
