"""The zoo's backbones inside mmdet and mmseg: registry names, shapes and strides, frozen stages, a loss and a
backward step, prediction, the deploy form, and the networks of the papers' dense-prediction tables."""

import pytest
import torch

from mobilerepro import MobileReproError, stack

pytestmark = pytest.mark.skipif(not stack.available(), reason="the dense stack is not installed (make dense-setup)")

if stack.available():
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData, PixelData
    from mmseg.registry import MODELS as MMSEG_MODELS
    from mmseg.structures import SegDataSample

    from mobilerepro.dense import networks
    from mobilerepro.models import build_model

BACKBONES = [("MobileOne", "s0", 5), ("MobileOne", "s4", 5), ("MobileNetV4", "conv_s", None),
             ("MobileNetV4", "hybrid_m", None), ("EfficientNet", "lite0", 5)]


def build_backbone(registry, kind, variant, **options):
    torch.manual_seed(0)
    return registry.build(dict(type=f"mobilerepro.{kind}", variant=variant, **options))


@pytest.mark.parametrize("registry_name", ["mmdet", "mmseg"])
@pytest.mark.parametrize(("kind", "variant", "points"), BACKBONES)
def test_backbones_resolve_in_both_registries_and_give_their_feature_points(registry_name, kind, variant, points):
    registry = MMDET_MODELS if registry_name == "mmdet" else MMSEG_MODELS
    backbone = build_backbone(registry, kind, variant).eval()
    if points is not None:
        assert len(backbone.body.feature_info) == points
    features = backbone(torch.randn(1, 3, 128, 96))
    assert [f.shape[1] for f in features] == backbone.out_channels
    assert [(128 // f.shape[2], 96 // f.shape[3]) for f in features] == [(s, s) for s in backbone.strides]


@pytest.mark.parametrize(("kind", "variant"), [("MobileOne", "s1"), ("MobileNetV4", "conv_m"),
                                               ("EfficientNet", "lite0")])
@pytest.mark.parametrize("output_stride", [8, 16])
def test_dilated_backbones_stop_at_their_output_stride_with_the_same_weights(kind, variant, output_stride):
    plain = build_backbone(MMDET_MODELS, kind, variant)
    dilated = build_backbone(MMDET_MODELS, kind, variant, output_stride=output_stride)
    assert max(dilated.strides) == output_stride
    assert plain.state_dict().keys() == dilated.state_dict().keys()
    assert all(a.shape == b.shape for a, b in zip(plain.state_dict().values(), dilated.state_dict().values(),
                                                   strict=True))


@pytest.mark.parametrize("output_stride", [32, 8])
def test_the_deploy_form_computes_what_the_training_form_computes(output_stride):
    """In float64, so that the comparison is about the algebra of fusion, not fp32 rounding."""
    backbone = build_backbone(MMDET_MODELS, "MobileOne", "s0", out_indices=(2, 4),
                              output_stride=output_stride).double().eval()
    images = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        before = backbone(images)
        parameters = sum(p.numel() for p in backbone.parameters())
        backbone.switch_to_deploy()
        after = backbone(images)
    assert sum(p.numel() for p in backbone.parameters()) < parameters
    for a, b in zip(before, after, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_frozen_stages_and_norm_eval_follow_mmdets_conventions():
    backbone = build_backbone(MMDET_MODELS, "MobileOne", "s0", frozen_stages=1, norm_eval=True).train()
    stem, first, second = backbone.body.feature_modules()[:3]
    assert not any(p.requires_grad for p in [*stem.parameters(), *first.parameters()])
    assert all(p.requires_grad for p in second.parameters())
    assert not any(m.training for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))


@pytest.mark.parametrize(("arguments", "message"), [
    ({"variant": "s9"}, "unknown MobileOne variant 's9'"),
    ({"variant": "s0", "out_indices": (7,)}, "out_indices must lie in 0..4"),
    ({"variant": "s0", "frozen_stages": 5}, "frozen_stages must lie in -1..4"),
    ({"variant": "s0", "output_stride": 4}, "output_stride must be 8, 16 or 32"),
])
def test_bad_backbone_settings_are_one_line_errors(arguments, message):
    with pytest.raises(MobileReproError, match=message):
        build_backbone(MMDET_MODELS, "MobileOne", **arguments)


# -- whole networks ------------------------------------------------------------------------------------------------
def detection_sample(size):
    sample = DetDataSample(metainfo={"img_shape": (size, size), "ori_shape": (size, size), "pad_shape": (size, size),
                                     "scale_factor": (1.0, 1.0), "batch_input_shape": (size, size)})
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[10.0, 20.0, 150.0, 200.0], [30.0, 30.0, 90.0, 80.0]]),
                                       labels=torch.tensor([3, 17]))
    return sample


@pytest.mark.parametrize("config", [
    pytest.param(lambda: networks.ssdlite("mobileone_s0"), id="ssdlite-mobileone_s0"),
    pytest.param(lambda: networks.ssdlite("mobilenet_v2"), id="ssdlite-mobilenet_v2-anchor"),
    pytest.param(lambda: networks.retinanet("mnv4_conv_s"), id="retinanet-mnv4_conv_s"),
])
def test_detectors_take_a_loss_and_a_backward_step_then_predict(config):
    config = config()
    size = config.get("input_size", 320)
    model = networks.build(config)
    images = torch.randn(2, 3, size, size)
    model.train()
    losses = model.loss(images, [detection_sample(size), detection_sample(size)])
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v) for v in losses.values())
    total.backward()
    assert torch.isfinite(total)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.backbone.parameters())
    model.eval()
    with torch.no_grad():
        predictions = model.predict(images, [detection_sample(size), detection_sample(size)])
    assert len(predictions) == 2 and predictions[0].pred_instances.bboxes.shape[1] == 4


@pytest.mark.parametrize(("backbone", "output_stride"), [("mobileone_s0", 8), ("mobileone_s0", 16),
                                                         ("mobilenet_v2", 8)])
def test_deeplabv3_takes_a_loss_step_and_predicts_full_resolution_masks(backbone, output_stride):
    model = networks.build(networks.deeplabv3(backbone, "voc", output_stride))
    size = 96
    images = torch.randn(2, 3, size, size)
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo={"img_shape": (size, size), "ori_shape": (size, size),
                                         "pad_shape": (size, size)})
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 21, (1, size, size)))
        samples.append(sample)
    model.train()
    losses = model.loss(images, samples)
    assert {"decode.loss_ce", "aux.loss_ce"} <= set(losses)
    sum(losses[k] for k in ("decode.loss_ce", "aux.loss_ce")).backward()
    model.eval()
    with torch.no_grad():
        predictions = model.predict(images, samples)
    assert predictions[0].pred_sem_seg.data.shape == (1, size, size)
    assert int(predictions[0].pred_sem_seg.data.max()) < 21
    logits = networks.DenseForward(model)(images)[0]
    assert logits.shape[-1] * output_stride == size


def test_the_split_of_params_and_macs_adds_up_and_the_backbone_part_is_the_zoo_models():
    model = networks.build(networks.retinanet("mnv4_conv_s"), deploy=True)
    counts = networks.complexity(model, (3, 384, 384))
    assert counts["params"] == sum(p.numel() for p in model.parameters())
    assert counts["macs"] == counts["backbone_macs"] + counts["neck_macs"] + counts["head_macs"]
    assert min(counts["backbone_macs"], counts["neck_macs"], counts["head_macs"]) > 0
    classifier = build_model("mnv4_conv_s")
    head_params = sum(p.numel() for name, p in classifier.named_parameters()
                      if not name.startswith(("stem", "stages")))
    assert counts["backbone_params"] == sum(p.numel() for p in classifier.parameters()) - head_params


def test_separable_head_and_fpn_have_no_dense_3x3_convolution():
    model = networks.build(networks.retinanet("mnv4_conv_s"))
    for part in (model.neck.fpn_convs, model.bbox_head):
        for module in part.modules():
            if isinstance(module, torch.nn.Conv2d) and module.kernel_size == (3, 3):
                assert module.groups == module.in_channels, module


def test_a_backbone_that_has_no_openmmlab_form_is_a_one_line_error():
    with pytest.raises(MobileReproError, match="not a MobileOne, MobileNetV4 or EfficientNet model"):
        networks.ssdlite("ghostnet_1_0")


@pytest.mark.parametrize("config", [
    pytest.param(lambda: networks.ssdlite("mobileone_s0"), id="ssdlite"),
    pytest.param(lambda: networks.retinanet("mnv4_conv_s", input_size=256), id="retinanet"),
])
def test_detector_post_processing_runs_at_the_bound_of_its_test_config(config):
    config = config()
    size = config.get("input_size", 320)
    model = networks.build(config, deploy=True)
    post = networks.PostProcessing(model, (3, size, size))
    kept = post()[0]
    test_cfg = model.bbox_head.test_cfg
    assert len(kept) == post.outputs() == test_cfg.max_per_img
    assert float(kept.scores.min()) >= test_cfg.score_thr
    assert torch.equal(post()[0].bboxes, kept.bboxes)  # fixed inputs: the timed work is the same every run


def test_segmenter_post_processing_is_what_predict_does_after_the_network():
    model = networks.build(networks.deeplabv3("mobileone_s0", "voc", 16), deploy=True)
    size = 96
    post = networks.PostProcessing(model, (3, size, size), seed=3)
    images = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(3))
    sample = SegDataSample(metainfo={"img_shape": (size, size), "ori_shape": (size, size), "pad_shape": (size, size)})
    with torch.no_grad():
        predicted = model.predict(images, [sample])[0].pred_sem_seg.data
    assert torch.equal(post()[0].pred_sem_seg.data, predicted)
    assert post.outputs() == size * size


def test_a_dense_chapter_times_post_processing_apart_and_exports_every_network_to_core_ml(smoke_run):
    from mobilerepro import experiments
    from mobilerepro.experiments._dense_latency import POST_PROCESSING

    result = experiments.get("mnv4/table7").load(smoke_run("mnv4/table7"))
    post = result.rows[result.rows.backend == POST_PROCESSING]
    assert list(post.backbone) == list(result.counts_table().backbone)
    assert (post.status == "ok").all() and post.roofline_floor_ms.isna().all()
    assert f"{POST_PROCESSING} (min, ms)" in result.latency_table().columns
    census = result.coreml_table()
    assert list(census.backbone) == list(result.counts_table().backbone)
    assert (census["Core ML ops"] != "export failed").all(), census
