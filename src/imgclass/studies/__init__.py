"""Studies: small experiments made of several runs, each written to one study directory (kind ``study``).

:mod:`.train_fraction` trains one configuration on growing fractions of the training split;
:mod:`.baselines` puts scikit-learn's linear classifiers next to imgclass's. ``imgclass report
STUDY_DIR`` renders either.
"""
