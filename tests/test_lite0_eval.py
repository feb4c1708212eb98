"""The evaluation pipeline on real weights and real images: EfficientNet-Lite0 on imagenet-val-1300."""

import pytest
import torch
from conftest import real_data
from torch.utils.data import DataLoader

from mobilerepro import MobileReproError, experiments
from mobilerepro.data.datasets import ImageDataset, collate_skipping, file_list
from mobilerepro.experiments.pipeline import lite0_eval
from mobilerepro.models.pretrained import efficientnet_lite0, efficientnet_lite0_weights_path
from mobilerepro.train.evaluate import evaluate

HANDFUL = 32
LITE0 = experiments.get("pipeline/lite0_eval")


@pytest.fixture(scope="module")
def model():
    return efficientnet_lite0()


def samples(labels: str = "dataset.txt", count: int = HANDFUL):
    folder = real_data("imagenet-val-1300")
    return file_list(folder / labels).subset(range(count), f"(first {count})")


def predictions(model, protocol_name: str, batch_size: int = HANDFUL):
    protocol = lite0_eval.PROTOCOLS[protocol_name]
    loader = DataLoader(ImageDataset(samples(protocol.labels), transform=protocol.transform.build()),
                        batch_size=batch_size, collate_fn=collate_skipping)
    return evaluate(model, loader, progress=False)


def test_weights_load_strictly_and_weights_only():
    weights = efficientnet_lite0_weights_path()
    state = torch.load(weights, weights_only=True, map_location="cpu")
    assert "_fc.weight" in state and state["_fc.weight"].shape == (1000, 1280)


def test_our_path_and_the_independent_path_agree_image_by_image(model):
    """Our reader + transform + evaluator against PIL + numpy + the model alone, on the same images."""
    ours = predictions(model, "tf_resize")
    independent = lite0_eval.independent_predictions(model, [path for path, _ in samples().samples], batch_size=8)
    assert (independent == ours.predicted).mean() >= 0.95


def test_the_independent_path_sees_a_wrong_normalisation(model):
    """A control: the agreement check can fail. With torchvision's mean/std our path disagrees with it."""
    wrong = predictions(model, "imagenet_mean_std")
    independent = lite0_eval.independent_predictions(model, [path for path, _ in samples().samples], batch_size=8)
    assert (independent == wrong.predicted).mean() < 0.95


def test_most_real_images_get_their_labelled_class(model):
    # A broken reader, transform or label order gets almost none right (chance is 0.1 %); half of the handful is
    # the line between the two.
    result = predictions(model, "tf_resize")
    correct = int((result.predicted == result.labels).sum())
    assert correct >= HANDFUL // 2
    assert result.top5_hit.sum() >= correct


def test_an_off_by_one_class_mapping_is_visible(model):
    right = predictions(model, "tf_resize")
    shifted = predictions(model, "labels_1001")
    assert (shifted.labels == right.labels + 1).all()
    assert int((shifted.predicted == shifted.labels).sum()) <= 2


def test_predictions_do_not_depend_on_the_batch(model):
    assert (predictions(model, "tf_resize", batch_size=1).predicted == predictions(model, "tf_resize").predicted).all()


@pytest.mark.slow
def test_smoke_chapter_counts_every_image(smoke_run):
    directory = smoke_run("pipeline/lite0_eval")
    result = LITE0.load(directory)
    limit = LITE0.configure("smoke").limit
    assert (result.rows.images == limit).all() and result.per_class().images.sum() == limit
    assert result.summary["agreement"]["images"] == limit
    assert result.path("examples").exists()


def test_protocol_errors():
    with pytest.raises(MobileReproError, match="unknown protocol 'tf'"):
        LITE0.configure("smoke", protocols=["tf"])
    with pytest.raises(MobileReproError, match="must include the reference"):
        LITE0.configure("smoke", protocols=["labels_1001"])


def test_the_released_weights_in_timms_lite0_give_the_packages_outputs(model, tmp_path):
    from mobilerepro.models import pretrained, zoo

    path = pretrained.imagenet_checkpoint("efficientnet_lite0", tmp_path)
    assert pretrained.imagenet_checkpoint("efficientnet_lite0", tmp_path) == path  # written once
    ours = zoo.build_model("efficientnet_lite0")
    ours.load_state_dict(torch.load(path, weights_only=True), strict=True)
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(ours(images), model(images), atol=1e-4)
    with pytest.raises(MobileReproError, match="no ImageNet weights are available offline for mobileone_s0"):
        pretrained.imagenet_checkpoint("mobileone_s0", tmp_path)


def test_a_weight_file_that_does_not_fit_timms_lite0_is_refused(monkeypatch, tmp_path):
    from mobilerepro.models import pretrained

    state = torch.load(efficientnet_lite0_weights_path(), weights_only=True)
    state = dict(reversed(list(state.items())))  # the same tensors in another order
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: state)
    with pytest.raises(MobileReproError, match="does not fit timm's"):
        pretrained.efficientnet_lite0_timm_state_dict()
