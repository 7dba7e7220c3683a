"""The test split used once: stored scores, one log entry per use, metrics and plots written in the run."""

import numpy as np

from imgclass.runs import Run, record_test, stored_scores, write_test_metrics


def test_record_test_stores_the_scores_logs_the_use_and_writes_the_metrics(tmp_path):
    run = Run.create("train", {}, path=tmp_path / "r")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 40)
    scores = rng.standard_normal((40, 3)) + 3 * np.eye(3)[y]
    images = rng.integers(0, 256, (40, 1, 8, 8), dtype=np.uint8)
    assert stored_scores(run) is None and run.test_log() == []
    m = record_test(run, scores, y, images, ["a", "b", "c"], by="train", loss=0.5)
    assert m["accuracy"] == round(float(np.mean(scores.argmax(1) == y)), 4) and m["test_uses"] == 1
    assert [e["by"] for e in run.test_log()] == ["train"] and run.test_log()[0]["images"] == 40
    s, labels = stored_scores(run)
    np.testing.assert_array_equal(labels, y)
    np.testing.assert_allclose(s, scores, rtol=1e-6)
    assert {p.name for p in run.plots.glob("*.png")} == {"confusion.png", "per_class.png", "mistakes.png"}
    again = write_test_metrics(run, s, labels, images, ["a", "b", "c"])  # a report from the stored scores
    assert again["accuracy"] == m["accuracy"] and again["test_uses"] == 1  # not another use
    record_test(run, scores, y, images, ["a", "b", "c"], by="evaluate")
    assert [e["by"] for e in run.test_log()] == ["train", "evaluate"]
