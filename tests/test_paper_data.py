"""Published numbers are data with a provenance tag each; zoo metadata links to them."""

import pytest

from mobilerepro import paper
from mobilerepro.models import zoo

DATA_FILES = ["models", "mobileone", "mobilenetv4", "evaluation"]


@pytest.mark.parametrize("name", DATA_FILES)
def test_every_entry_has_a_known_provenance(name):
    entries = list(paper.iter_values(paper.load(name)))
    assert entries
    for path, entry in entries:
        assert entry["provenance"] in paper.PROVENANCE_TAGS, path
        assert ("value" in entry) != ("text" in entry), f"{path}: needs exactly one of value / text"
        if "value" in entry:
            assert isinstance(entry["value"], int | float), path


def test_published_models_exist_in_the_zoo():
    assert set(paper.load("models")) <= set(zoo.model_names())


def test_table1_claims_are_claims():
    claims = paper.load("mobileone")["table1"]["claims"]
    assert {c["provenance"] for c in claims.values()} == {"claim"}


def test_unknown_data_file():
    with pytest.raises(Exception, match="no published-data file"):
        paper.load("nonexistent")
