"""Evaluation of finished runs: metrics (scikit-learn), plots (matplotlib), the HTML report."""
