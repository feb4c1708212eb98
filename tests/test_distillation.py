"""The student side of distillation in the trainer: the loss against soft labels, training from one or two stores
(D1 + D2 mixed), flips-only student augmentation, and the refusal of a store without its teacher."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from timm.loss import SoftTargetCrossEntropy
from train_helpers import CLASSES, tiny_train_config, write_image_folder

from mobilerepro import MobileReproError
from mobilerepro.data import soft_labels as store
from mobilerepro.train import trainer


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 12), st.integers(1, 6), st.integers(0, 10**6))
def test_the_soft_target_loss_of_one_hot_labels_is_cross_entropy(classes, batch, seed):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, classes, generator=generator, dtype=torch.float64)
    labels = torch.randint(classes, (batch,), generator=generator)
    one_hot = torch.nn.functional.one_hot(labels, classes).double()
    assert torch.allclose(SoftTargetCrossEntropy()(logits, one_hot), torch.nn.CrossEntropyLoss()(logits, labels))


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("images") / "set", per_class=8)


def teacher():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(4, len(CLASSES)))


@pytest.fixture(scope="module")
def stores(image_root, tmp_path_factory):
    """D1 and D2 stores of the trainer's own training split."""
    train_split, _ = trainer.datasets(tiny_train_config(image_root, "unused"))
    folders = {}
    for kind in ("d1", "d2"):
        folders[kind] = tmp_path_factory.mktemp(kind)
        store.write(folders[kind], train_split, teacher(), lambda pixels: pixels.float() / 255,
                    store.Augmentation(kind, 16), shard_size=8)
        store.finalize(folders[kind])
    return folders, store.teacher_digest(teacher())


def test_a_student_trains_on_two_stores_mixed_with_soft_targets(image_root, stores, tmp_path):
    folders, digest = stores
    config = tiny_train_config(image_root, tmp_path / "student", soft_labels=[str(folders["d1"]), str(folders["d2"])],
                            teacher=digest)
    run = trainer.Trainer(config)
    assert len(run.train_set) == 2 * len(run.train_samples)  # D1 + D2: one record of each per image
    assert isinstance(run.criterion, SoftTargetCrossEntropy)
    run.train_set.transform = run.train_transform(16).build()
    images, targets, _ = run._loader(run.train_set, run.epoch_batches(0)[:1]).__iter__().__next__()
    assert images.shape == (4, 3, 16, 16) and targets.shape == (4, len(CLASSES))
    assert torch.allclose(targets.sum(1), torch.ones(4), atol=1e-3)
    names = [type(t).__name__ for t in run.train_transform(16).build().transforms]
    assert "RandomResizedCrop" not in names and "RandomHorizontalFlip" in names  # flips only
    run.fit()
    history = trainer.TrainingRun.load(tmp_path / "student").history
    assert history.train_loss.notna().all() and "val_top1" in history


def test_a_store_is_used_only_with_its_teacher(image_root, stores, tmp_path):
    folders, digest = stores
    with pytest.raises(MobileReproError, match="needs the teacher's digest"):
        trainer.Trainer(tiny_train_config(image_root, tmp_path / "a", soft_labels=[str(folders["d1"])]))
    with pytest.raises(MobileReproError, match="another teacher"):
        trainer.Trainer(tiny_train_config(image_root, tmp_path / "b", soft_labels=[str(folders["d1"])],
                                       teacher="0" * 16))
    with pytest.raises(MobileReproError, match="another dataset"):  # a store of another split
        trainer.Trainer(tiny_train_config(image_root, tmp_path / "c", soft_labels=[str(folders["d1"])], teacher=digest,
                                       val_fraction=0.5))


@pytest.mark.slow
def test_the_lite0_teacher_fine_tunes_scores_and_is_read_back(image_root, tmp_path):
    from mobilerepro.distill.teacher import TeacherRecipe, finetune

    train, val = trainer.datasets(tiny_train_config(image_root, "unused"))
    recipe = TeacherRecipe(size=32, epochs=1, batch_size=4)
    teacher, record = finetune(train, val, tmp_path, recipe, progress=False)
    assert record["val_images"] == len(val) and 0 <= record["top1"] <= 100
    assert teacher._fc.out_features == len(CLASSES) and not teacher.training
    again, same = finetune(train, val, tmp_path, recipe, progress=False)  # read back, not trained again
    assert same == record
    assert all(torch.equal(a, b) for a, b in zip(teacher.state_dict().values(), again.state_dict().values(),
                                                 strict=True))
