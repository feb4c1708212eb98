"""Recipe presets and the schedules they imply, at known steps."""

import math

import pytest
import torch

from mobilerepro import MobileReproError, paper
from mobilerepro.models import mobileone
from mobilerepro.train.recipe import Recipe, Schedule, build_optimizer, parameter_groups, preset, preset_names


def test_every_published_recipe_value_has_a_provenance():
    presets = [p for family in paper.load("recipes").values() for p in family["presets"].values()]
    for entry in presets:
        for key, item in entry.items():
            if key not in ("description", "inherits"):
                assert item["provenance"] in paper.PROVENANCE_TAGS, key


def published_settings(name: str) -> dict:
    """The preset's published settings, its `inherits` chain resolved (the nearest entry wins), as plain values."""
    presets = {n: e for family in paper.load("recipes").values() for n, e in family["presets"].items()}
    chain = [presets[name]]
    while "inherits" in chain[-1]:
        chain.append(presets[chain[-1]["inherits"]])
    settings = {}
    for entry in reversed(chain):
        settings.update({k: v["value"] for k, v in entry.items() if isinstance(v, dict)})
    return settings


def as_plain(value):
    return [as_plain(v) for v in value] if isinstance(value, list | tuple) else value


@pytest.mark.parametrize("name", preset_names())
def test_every_published_setting_reaches_the_recipe(name):
    recipe = preset(name)
    settings = published_settings(name)
    assert settings
    for key, value in settings.items():
        assert as_plain(getattr(recipe, key)) == value, (name, key)


def test_presets_resolve_their_inheritance():
    assert preset("mobileone_s2s4").augmentation != preset("mobileone_s0s1").augmentation
    assert preset("mobileone_s2s4").lr == preset("mobileone_s0s1").lr
    conv_s, conv_m = preset("mnv4_conv_s"), preset("mnv4_conv_m")
    # Tab. 10 gives EMA and L2 to Conv-S alone: Conv-M inherits Conv-S's entry and must undo both.
    assert conv_s.ema_decay and conv_s.l2_regularization > 0
    assert conv_m.ema_decay is None and conv_m.l2_regularization == 0
    assert preset("mnv4_hybrid_l").mixup_probability == preset("mnv4_conv_l").mixup_probability > 0
    assert preset("mnv4_hybrid_l").cosine_alpha > preset("mnv4_conv_l").cosine_alpha == 0
    # The reduced-scale finalist recipe keeps Conv-S's optimizer and overrides only what a short run needs.
    finalist = preset("nas_finalist_reduced")
    assert finalist.optimizer == conv_s.optimizer and finalist.lr == conv_s.lr and finalist.ema_decay is None
    assert "nas_finalist_reduced" in preset_names() and len(set(preset_names())) == len(preset_names())
    student = preset("distill_student_reduced")  # MNv4 §8: AdamW, flips only, the soft labels as the targets
    assert student.optimizer == "adamw" and student.augmentation == "none" and student.label_smoothing == 0


def test_unknown_preset_and_setting_are_one_line_errors():
    with pytest.raises(MobileReproError, match="unknown recipe 'mobileone'"):
        preset("mobileone")
    with pytest.raises(MobileReproError, match="no setting 'lr_peak'"):
        preset("mobileone_s0s1").with_overrides(lr_peak=1)


def test_lr_scales_with_batch_warms_up_linearly_then_follows_the_cosine():
    recipe = Recipe(epochs=10, warmup_epochs=2, lr=0.1, batch_size=256)
    schedule = Schedule(recipe, epochs=10, steps_per_epoch=10, batch_size=512)
    assert schedule.peak_lr == pytest.approx(0.2)
    assert schedule.warmup_steps == 20
    assert schedule.lr(0) == pytest.approx(0.2 / 20)
    assert schedule.lr(19) == pytest.approx(0.2)
    assert schedule.lr(20) == pytest.approx(0.2)
    assert schedule.lr(60) == pytest.approx(0.1)
    assert schedule.lr(80) == pytest.approx(0.2 * 0.5 * (1 + math.cos(math.pi * 0.75)))
    assert schedule.lr(100) == pytest.approx(0.0)


def test_warmup_is_the_same_fraction_of_a_shorter_run():
    recipe = Recipe(epochs=500, warmup_epochs=20)
    assert Schedule(recipe, epochs=50, steps_per_epoch=10, batch_size=256).warmup_steps == 20


def test_weight_decay_is_annealed_on_the_same_cosine():
    schedule = Schedule(preset("mobileone_s0s1"), epochs=300, steps_per_epoch=10, batch_size=256)
    assert schedule.weight_decay(0) == pytest.approx(1e-4)
    assert schedule.weight_decay(1500) == pytest.approx(5.5e-5)
    assert schedule.weight_decay(3000) == pytest.approx(1e-5)
    for step in (0, 700, 1500, 2400):  # the same cosine: WD - final is proportional to LR
        assert (schedule.weight_decay(step) - 1e-5) / 9e-5 == pytest.approx(schedule.lr(step) / schedule.peak_lr)


def test_constant_weight_decay_when_annealing_is_off():
    schedule = Schedule(preset("mobileone_s0s1").with_overrides(final_weight_decay=None), 10, 10, 256)
    assert {schedule.weight_decay(step) for step in (0, 50, 99)} == {1e-4}


def test_progressive_resolution_switches_at_the_papers_epochs_and_scales():
    recipe = preset("mobileone_s0s1")
    full = Schedule(recipe, epochs=300, steps_per_epoch=1, batch_size=256)
    assert [full.resolution(e) for e in (0, 36, 37, 111, 112, 299)] == [160, 160, 192, 192, 224, 224]
    short = Schedule(recipe, epochs=30, steps_per_epoch=1, batch_size=256)
    assert short.switch_epochs() == [(0, 160), (4, 192), (11, 224)]
    assert [short.resolution(e) for e in (3, 4, 10, 11)] == [160, 192, 192, 224]


def test_norm_parameters_and_biases_do_not_decay():
    model = mobileone.mobileone("s0", num_classes=10)
    groups = parameter_groups(model, preset("mobileone_s0s1"))
    decaying, fixed = (set(map(id, group["params"])) for group in groups)
    for name, parameter in model.named_parameters():
        is_norm_or_bias = name.endswith("bias") or ".bn." in name or "skip_branch" in name
        assert (id(parameter) in fixed) == is_norm_or_bias, name
    assert len(decaying) + len(fixed) == len(list(model.parameters()))
    schedule = Schedule(preset("mobileone_s0s1"), 10, 10, 256)
    optimizer = build_optimizer(model, schedule)
    schedule.apply(optimizer, 50)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [schedule.weight_decay(50), 0.0]


def test_decay_everywhere_when_the_recipe_says_so():
    model = mobileone.mobileone("s0", num_classes=10)
    groups = parameter_groups(model, preset("mobileone_s0s1").with_overrides(no_decay_on_norm_and_bias=False))
    assert len(groups) == 1 and len(groups[0]["params"]) == len(list(model.parameters()))


def test_optimizers_follow_the_recipe():
    model = torch.nn.Linear(4, 2)
    sgd = build_optimizer(model, Schedule(preset("mobileone_s0s1").with_overrides(nesterov=True), 1, 1, 256))
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["nesterov"] and sgd.defaults["momentum"] == 0.9
    conv_s = preset("mnv4_conv_s")
    adamw = build_optimizer(model, Schedule(conv_s, 1, 1, conv_s.batch_size))
    assert isinstance(adamw, torch.optim.AdamW)
    assert adamw.param_groups[0]["lr"] == pytest.approx(conv_s.lr)  # the paper's batch: no scaling
    assert adamw.defaults["betas"] == conv_s.betas and adamw.defaults["eps"] == conv_s.eps


@pytest.mark.parametrize("alpha", [0.0, 0.001, 0.5])
def test_the_cosine_ends_at_alpha_times_the_peak(alpha):
    schedule = Schedule(preset("mnv4_hybrid_l").with_overrides(cosine_alpha=alpha), 10, 20, 1024)
    assert schedule.lr(schedule.total_steps) == pytest.approx(alpha * schedule.peak_lr)
    middle = (schedule.warmup_steps + schedule.total_steps) / 2
    assert schedule.lr(middle) == pytest.approx(schedule.peak_lr * (alpha + (1 - alpha) * 0.5))


@pytest.mark.parametrize(("setting", "value"), [("cosine_alpha", 1.5), ("randaugment_probability", -0.1),
                                                ("mixup_probability", 2.0)])
def test_probabilities_and_fractions_outside_0_1_are_refused(setting, value):
    with pytest.raises(MobileReproError, match=setting):
        preset("mnv4_conv_l").with_overrides(**{setting: value})


def test_randaugment_is_applied_to_the_recipes_share_of_images():
    from torchvision.transforms import v2

    from mobilerepro.data.transforms import TrainTransform

    always = TrainTransform(augmentation="randaugment").build()
    sometimes = TrainTransform(augmentation="randaugment", randaugment_probability=0.5).build()
    assert any(isinstance(t, v2.RandAugment) for t in always.transforms)
    applied = [t for t in sometimes.transforms if isinstance(t, v2.RandomApply)]
    assert len(applied) == 1 and applied[0].p == 0.5 and isinstance(applied[0].transforms[0], v2.RandAugment)
