"""Hand-set and learned convolution filters on the NumPy engine.

>>> from imgclass.filters import gaussian_blur, learn_filter_bank
>>> y = gaussian_blur(images, size=5, sigma=1.0)   # (N, C, H, W) through nn.layers.Conv2d
>>> r = learn_filter_bank(seed=0)                  # learn a 20x3x5x5 bank back from its outputs
>>> r.weight_rel, r.output_rel                     # both near 0

Pictures are in :mod:`imgclass.filters.plots` (matplotlib is imported only there).
"""

from imgclass.filters.blur import blur_dataset, blur_image, gaussian_blur, gaussian_kernel, gaussian_layer
from imgclass.filters.learn import FilterLearning, learn_filter_bank, load_weights, save_learning

__all__ = ["FilterLearning", "blur_dataset", "blur_image", "gaussian_blur", "gaussian_kernel", "gaussian_layer",
           "learn_filter_bank", "load_weights", "save_learning"]
