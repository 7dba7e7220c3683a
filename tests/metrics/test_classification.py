"""Metrics against scikit-learn directly, confident mistakes, and the terminal table."""

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

from imgclass.metrics import classification_metrics, confident_mistakes, format_metrics, softmax


def _scores(rng, n=200, k=4):
    y = np.arange(n) % k
    s = rng.normal(size=(n, k))
    s[np.arange(n), y] += np.where(y == 0, 3.0, 0.5)  # class 0 easy, the others hard
    return y, s


def test_classification_metrics_match_sklearn(rng):
    y, s = _scores(rng)
    classes = ["cat", "dog", "eel", "fox"]
    m = classification_metrics(y, s, classes)
    pred = s.argmax(axis=1)
    assert m["accuracy"] == round(accuracy_score(y, pred), 4)
    assert m["confusion_matrix"] == confusion_matrix(y, pred).tolist()
    assert [r["accuracy"] for r in m["per_class"]] == [round(v, 4) for v in recall_score(y, pred, average=None)]
    assert m["macro_f1"] == round(f1_score(y, pred, average="macro"), 4)
    assert m["best_class"] == "cat"
    per = {r["class"]: r["accuracy"] for r in m["per_class"]}
    assert m["worst_class_accuracy"] == min(per.values()) and per[m["worst_class"]] == min(per.values())


def test_confident_mistakes_are_wrong_and_sorted_by_probability(rng):
    y, s = _scores(rng)
    mistakes = confident_mistakes(y, s, k=10)
    p = softmax(s)
    assert len(mistakes) == 10
    assert all(m["pred"] != m["true"] == y[m["index"]] for m in mistakes)
    probs = [m["prob"] for m in mistakes]
    assert probs == sorted(probs, reverse=True)
    wrong = s.argmax(axis=1) != y
    assert probs[0] == round(float(p[wrong].max()), 4)


def test_format_metrics_shows_best_and_worst_class_and_the_confusion_matrix(rng):
    y, s = _scores(rng)
    m = classification_metrics(y, s, ["cat", "dog", "eel", "fox"])
    text = format_metrics(m)
    assert f"best class  {m['best_class']} ({m['best_class_accuracy']:.4f})" in text
    assert f"worst class {m['worst_class']} ({m['worst_class_accuracy']:.4f})" in text
    assert f"test accuracy {m['accuracy']:.4f}" in text
    assert "confusion matrix" in text and all(name in text for name in ("cat", "dog", "eel", "fox"))
