"""Linear classifiers: SVM and softmax, naive and vectorized losses, estimators, sweeps."""
