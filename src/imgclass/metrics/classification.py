"""Classification metrics from scores and labels, computed by scikit-learn."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support


def softmax(scores: np.ndarray) -> np.ndarray:
    s = scores.astype(np.float64)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def classification_metrics(y_true: np.ndarray, scores: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, per-class accuracy (= recall), precision/F1, best and worst class, confusion matrix.

    Parameters
    ----------
    y_true : (N,) int labels
    scores : (N, K) class scores (logits or probabilities)
    classes : K class names
    """
    labels = np.arange(len(classes))
    y_pred = np.argmax(scores, axis=1)
    cm = confusion_matrix(y_true, y_pred, labels=labels)  # rows: true class, columns: predicted
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    per_class = [{"class": classes[k], "accuracy": round(float(recall[k]), 4), "precision": round(float(precision[k]), 4),
                  "f1": round(float(f1[k]), 4), "count": int(support[k])} for k in labels]
    present = [row for row in per_class if row["count"] > 0]
    best = max(present, key=lambda r: r["accuracy"])
    worst = min(present, key=lambda r: r["accuracy"])
    return {"accuracy": round(float(accuracy_score(y_true, y_pred)), 4), "count": int(len(y_true)),
            "macro_f1": round(float(np.mean(f1[support > 0])), 4), "per_class": per_class,
            "best_class": best["class"], "best_class_accuracy": best["accuracy"],
            "worst_class": worst["class"], "worst_class_accuracy": worst["accuracy"],
            "confusion_matrix": cm.tolist()}


def confident_mistakes(y_true: np.ndarray, scores: np.ndarray, k: int = 16) -> list[dict]:
    """The ``k`` wrong predictions with the highest predicted probability: index, true, predicted, probability."""
    p = softmax(scores)
    pred = np.argmax(p, axis=1)
    wrong = np.flatnonzero(pred != y_true)
    order = wrong[np.argsort(-p[wrong, pred[wrong]], kind="stable")][:k]
    return [{"index": int(i), "true": int(y_true[i]), "pred": int(pred[i]), "prob": round(float(p[i, pred[i]]), 4)}
            for i in order]


def format_metrics(m: dict) -> str:
    """A terminal table: overall accuracy, per-class accuracy, and the confusion matrix."""
    names = [r["class"] for r in m["per_class"]]
    width = max(8, max(len(n) for n in names) + 1)
    lines = [f"test accuracy {m['accuracy']:.4f} on {m['count']} images   macro F1 {m['macro_f1']:.4f}",
             f"best class  {m['best_class']} ({m['best_class_accuracy']:.4f})   "
             f"worst class {m['worst_class']} ({m['worst_class_accuracy']:.4f})", "",
             f"{'class':<{width}}{'accuracy':>9}{'precision':>10}{'count':>7}"]
    lines += [f"{r['class']:<{width}}{r['accuracy']:>9.4f}{r['precision']:>10.4f}{r['count']:>7}" for r in m["per_class"]]
    cm = np.array(m["confusion_matrix"])
    cell = max(5, len(str(cm.max())) + 1)
    short = [n[:cell - 1] for n in names]
    lines += ["", "confusion matrix (rows: true class, columns: predicted)",
              " " * width + "".join(f"{s:>{cell}}" for s in short)]
    lines += [f"{names[i]:<{width}}" + "".join(f"{v:>{cell}}" for v in row) for i, row in enumerate(cm)]
    return "\n".join(lines)
