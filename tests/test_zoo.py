"""The model registry: every model builds and runs; names resolve or fail helpfully; metadata is consistent."""

import pytest
import torch

from mobilerepro import MobileReproError
from mobilerepro.models import zoo
from mobilerepro.reparam import reparameterize_model

ISSUE_POPULATION = {
    "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_b0", "mnasnet_a1",
    "shufflenet_v2_1_0", "squeezenet_1_1", "ghostnet_1_0", "mixnet_s", "fbnet_c", "spnasnet", "mobilevit_xxs",
    "mobilevit_xs", "mobilevit_s", "deit_tiny", "convit_tiny", "pit_tiny", "efficientformerv2_s0", "edgenext_xxs",
    "repvgg_a0", "mobileone_s0", "mobileone_s1", "mobileone_s2", "mobileone_s3", "mobileone_s4", "mnv4_conv_s",
    "mnv4_conv_m", "mnv4_conv_l", "mnv4_hybrid_m", "mnv4_hybrid_l",
}


def test_zoo_covers_the_table1_population():
    assert ISSUE_POPULATION <= set(zoo.model_names())
    assert len(zoo.model_names()) >= 20


@pytest.mark.parametrize("name", zoo.model_names(variants=True))
def test_every_model_builds_and_runs_forward(name):
    spec = zoo.get_spec(name)
    model = reparameterize_model(zoo.build_model(name))
    with torch.inference_mode():
        out = model(torch.randn(1, *spec.input_size))
    assert out.shape == (1, 1000)
    assert torch.isfinite(out).all()


def test_build_is_deterministic_for_a_seed():
    a = zoo.build_model("mobilenet_v3_small", seed=3)
    b = zoo.build_model("mobilenet_v3_small", seed=3)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_unknown_name_lists_close_matches():
    with pytest.raises(MobileReproError, match="mobileone_s0"):
        zoo.get_spec("mobilone_s0")


def test_unknown_name_without_close_match_still_explains():
    with pytest.raises(MobileReproError, match="unknown model 'resnet9000'"):
        zoo.get_spec("resnet9000")


def test_spelling_variants_resolve():
    assert zoo.get_spec("MobileOne-S0").name == "mobileone_s0"


@pytest.mark.parametrize("source", ["keras:mobilenet_v2", "timm", "mobilenet_v2"])
def test_an_unknown_source_is_refused(source):
    with pytest.raises(MobileReproError, match="is not <library>:<model>"):
        zoo._spec("probe", "MobileNet", "nobody", source)


def test_fbnet_b_as_built_counts_the_published_macs():
    """FBNet-B's two published layer lists differ in one block's expansion (1x vs 6x): 297 M vs 306 M MACs. The
    paper's 295 M picks the first; a wrong reading of any block moves the count by more than the 1 % allowed."""
    from mobilerepro import paper
    from mobilerepro.measure.complexity import layer_costs
    from mobilerepro.models import nas

    published = paper.value(paper.load("nas")["built_models"]["fbnet_b"]["macs_m"]) * 1e6
    macs = sum(layer.macs for layer in layer_costs(nas.build_baseline("fbnet_b", 0), (3, 224, 224)))
    assert abs(macs - published) / published < 0.01
