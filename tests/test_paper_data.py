"""Published numbers are data with a provenance tag each (shared PAPERS.md's vocabulary); zoo metadata links to them."""

import pytest

from mobilerepro import paper
from mobilerepro.models import zoo


@pytest.mark.parametrize("name", paper.data_files())
def test_every_value_has_a_known_provenance(name):
    entries = list(paper.iter_values(paper.load(name)))
    assert entries
    for path, entry in entries:
        assert entry["provenance"] in paper.PROVENANCE_TAGS, path
        assert ("value" in entry) != ("text" in entry), f"{path}: needs exactly one of value / text"
        if "value" in entry:
            assert entry["value"] is None or isinstance(entry["value"], int | float | list | bool | str), path


def test_the_old_vocabulary_is_gone():
    for name in paper.data_files():
        assert "transcribed" not in str(paper.load(name)), name


@pytest.mark.parametrize(("path", "provenance"), [
    (("mobileone", "table2", "latency_ms", "relu"), "recalled"),       # Tab. 2: no stored copy could be read
    (("mobileone", "table3", "latency_ms", "skip_connections"), "recalled"),
    (("models", "mobileone_s0", "params_m"), "secondary"),             # quoted by later papers
    (("models", "mobileone_s1", "macs_m"), "secondary"),
    (("models", "mobileone_s4", "macs_m"), "derived"),                 # our count of the official code
    (("models", "efficientnet_b0", "top1"), "secondary"),
    (("models", "fbnet_c", "macs_m"), "secondary"),
    (("models", "ghostnet_1_0", "params_m"), "secondary"),
    (("recipes", "mobileone", "presets", "mobileone_s0s1", "resolution_stages"), "secondary"),
    (("recipes", "mobileone", "presets", "mobileone_s0s1", "no_decay_on_norm_and_bias"), "choice"),
])
def test_values_carry_the_provenance_papers_md_gives_them(path, provenance):
    node = paper.load(path[0])
    for key in path[1:]:
        node = node[key]
    assert node["provenance"] == provenance


def test_published_models_exist_in_the_zoo():
    assert set(paper.load("models")) <= set(zoo.model_names())


def test_published_cells_say_when_they_are_not_first_hand():
    assert paper.cell({"value": 2.1, "provenance": "secondary"}) == "2.1 (second-hand)"
    assert "unverified" in paper.cell({"value": 1.53, "provenance": "recalled"})
    assert paper.cell({"value": 71.4, "provenance": "verified"}) == "71.4"
    assert paper.cell({"text": "failed", "provenance": "verified"}) == "failed"
    assert paper.cell(None) == ""


def test_unknown_data_file():
    with pytest.raises(Exception, match="no published-data file"):
        paper.load("nonexistent")
