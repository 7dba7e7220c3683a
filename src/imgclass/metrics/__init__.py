"""Metrics of a classifier's scores on labelled images (scikit-learn), and their plots (matplotlib).

Pure functions of arrays: they know nothing of run directories, so the trainer, the
linear commands and ``imgclass evaluate`` all score a test split the same way.

>>> from imgclass.metrics import classification_metrics, confident_mistakes
>>> m = classification_metrics(y_test, scores, classes)   # accuracy, per class, confusion matrix
"""

from imgclass.metrics.classification import classification_metrics, confident_mistakes, format_metrics, softmax

__all__ = ["classification_metrics", "confident_mistakes", "format_metrics", "softmax"]
