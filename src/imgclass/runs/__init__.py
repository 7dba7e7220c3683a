"""Run directories: the one owner of everything a command writes and every reader reads.

>>> from imgclass import runs
>>> run = runs.Run.open("runs/20260101-120000-torch-cnn-digits-s0")
>>> run.kind                       # train, seeds, linear, linear-sweep, sweep or study
>>> run.results()["test_accuracy"]  # one results schema for every kind (runs.schema)
>>> model = runs.load_model(run.path)   # weights + preprocessing + class names
>>> split = runs.rebuild_split(run.train_config())

Modules: :mod:`.files` (file names), :mod:`.layout` (:class:`Run`: kind, reading and
writing), :mod:`.schema` (the results schema), :mod:`.legacy` (directories written by older
versions), :mod:`.split` (the split rebuilt from a config), :mod:`.models` (loading a trained
model), :mod:`.testing` (the test split used once, and its log).
"""

from imgclass.runs.files import KINDS, resolve
from imgclass.runs.layout import Run
from imgclass.runs.models import TrainedModel, load_model
from imgclass.runs.schema import COMMON, hyperparameters, results
from imgclass.runs.split import rebuild_split
from imgclass.runs.testing import record_test, stored_scores, write_test_metrics

__all__ = ["COMMON", "KINDS", "Run", "TrainedModel", "hyperparameters", "load_model", "rebuild_split",
           "record_test", "resolve", "results", "stored_scores", "write_test_metrics"]
