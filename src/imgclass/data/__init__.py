"""Datasets, splits, preprocessing and minibatches.

>>> from imgclass import data
>>> ds = data.load("digits")                      # uint8 (N, 1, 8, 8), labels, classes
>>> split = data.make_split(ds, val=0.1, seed=0)  # seeded, stratified validation split
>>> pre = data.Preprocessor(normalize="pixel", flatten=True, bias=True).fit(split.x_train)
>>> x_train = pre.transform(split.x_train)        # float32 (N, 65)
"""

from imgclass.data.batches import Batches
from imgclass.data.dataset import Dataset
from imgclass.data.preprocess import Preprocessor, zca_matrix
from imgclass.data.registry import available, load
from imgclass.data.splits import Split, make_split, stratified_indices

__all__ = ["Batches", "Dataset", "Preprocessor", "Split", "available", "load", "make_split", "stratified_indices",
           "zca_matrix"]
