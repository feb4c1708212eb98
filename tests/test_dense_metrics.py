"""The metrics the dense chapters report are mmdet's CocoMetric (pycocotools) and mmseg's IoUMetric, used as the
chapters use them: ground truth scored as predictions gives 1, and small cases whose AP / IoU is computed by hand."""

import json

import numpy as np
import pytest
import torch

from mobilerepro import stack

pytestmark = pytest.mark.skipif(not stack.available(), reason="the dense stack is not installed (make dense-setup)")

BOXES = {1: [[10, 10, 50, 60], [100, 100, 140, 180]], 2: [[20, 30, 90, 70]]}  # image id -> xyxy boxes of class 0


@pytest.fixture
def coco_file(tmp_path):
    annotations = [{"id": n, "image_id": image, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": float((x2 - x1) * (y2 - y1)), "iscrowd": 0}
                   for n, (image, (x1, y1, x2, y2)) in enumerate(
                       ((image, box) for image, boxes in BOXES.items() for box in boxes), start=1)]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({
        "images": [{"id": image, "file_name": f"{image}.jpg", "width": 200, "height": 200} for image in BOXES],
        "annotations": annotations, "categories": [{"id": 1, "name": "thing"}]}))
    return path


def coco_map(path, predictions) -> float:
    from mmdet.evaluation import CocoMetric

    metric = CocoMetric(ann_file=str(path), metric="bbox")
    metric.dataset_meta = {"classes": ("thing",)}
    for image, (boxes, scores) in predictions.items():
        metric.process({}, [{"img_id": image, "ori_shape": (200, 200), "pred_instances": {
            "bboxes": torch.tensor(boxes, dtype=torch.float32), "scores": torch.tensor(scores),
            "labels": torch.zeros(len(boxes), dtype=torch.long)}}])
    return metric.evaluate(len(predictions))["coco/bbox_mAP"]


def test_ground_truth_as_predictions_scores_a_map_of_one(coco_file):
    assert coco_map(coco_file, {image: (boxes, [1.0] * len(boxes)) for image, boxes in BOXES.items()}) == 1.0


def test_a_hand_computed_precision_recall_curve(coco_file):
    """Image 1: one box found exactly (score 0.9), one missed; image 2: a false positive (0.8) and then its box
    found exactly (0.7). Ranked: TP, FP, TP over 3 ground-truth boxes -> precision 1 up to recall 1/3, then 2/3 up to
    recall 2/3 -> COCO's 101-point interpolated AP, the same at every IoU threshold because hits are exact."""
    predictions = {1: ([BOXES[1][0]], [0.9]), 2: ([[150, 150, 190, 190], BOXES[2][0]], [0.8, 0.7])}
    recall_points = np.linspace(0, 1, 101)
    precision = np.where(recall_points <= 1 / 3 + 1e-12, 1.0, np.where(recall_points <= 2 / 3 + 1e-12, 2 / 3, 0.0))
    assert coco_map(coco_file, predictions) == pytest.approx(round(precision.mean(), 3), abs=1e-9)


def iou_metric(pairs, classes=("a", "b", "c")) -> dict:
    from mmseg.evaluation import IoUMetric

    metric = IoUMetric(iou_metrics=["mIoU"])
    metric.dataset_meta = {"classes": classes}
    for prediction, truth in pairs:
        metric.process({}, [{"pred_sem_seg": {"data": torch.tensor(prediction)[None]},
                             "gt_sem_seg": {"data": torch.tensor(truth)[None]}}])
    return metric.evaluate(len(pairs))


def test_ground_truth_as_segmentation_scores_a_miou_of_one_hundred():
    truth = np.array([[0, 0, 1, 1], [2, 2, 1, 255]])
    assert iou_metric([(truth, truth)])["mIoU"] == 100.0


def test_a_hand_computed_iou_ignores_the_ignore_label():
    truth = np.array([[0, 0, 0, 1], [1, 1, 2, 255]])
    prediction = np.array([[0, 0, 1, 1], [1, 2, 2, 0]])
    # class 0: inter 2, union 3; class 1: inter 2 (of 3 true, 3 predicted among the non-ignored), union 4;
    # class 2: inter 1, union 2; the ignored pixel's prediction counts for nothing.
    expected = 100 * np.mean([2 / 3, 2 / 4, 1 / 2])
    assert iou_metric([(prediction, truth)])["mIoU"] == pytest.approx(round(expected, 2), abs=1e-4)  # float32
