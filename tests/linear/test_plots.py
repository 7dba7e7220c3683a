import numpy as np
import pytest
from PIL import Image

from imgclass.errors import ImgclassError
from imgclass.linear.plots import loss_history_figure, templates, templates_figure
from imgclass.fileio import save_figure


def test_templates_gray_and_rgb_layout_and_scaling():
    rng = np.random.default_rng(0)
    gray = templates(rng.standard_normal((10, 1 * 8 * 6)), (1, 8, 6))
    assert gray.shape == (10, 8, 6) and gray.dtype == np.uint8
    assert (gray.min(axis=(1, 2)) == 0).all() and (gray.max(axis=(1, 2)) == 255).all()  # each rescaled alone
    w = np.zeros((2, 3 * 4 * 5))
    w[0, 0] = 1.0  # class 0: red channel, pixel (0, 0)
    w[1, 2 * 20 + 7] = 1.0  # class 1: blue channel, pixel (1, 2)
    rgb = templates(w, (3, 4, 5))
    assert rgb.shape == (2, 4, 5, 3)
    assert tuple(rgb[0, 0, 0]) == (255, 0, 0) and tuple(rgb[1, 1, 2]) == (0, 0, 255)


def test_template_shape_mismatch():
    with pytest.raises(ImgclassError, match="drop the bias column"):
        templates(np.zeros((10, 65)), (1, 8, 8))


def test_figures_render(tmp_path):
    rng = np.random.default_rng(1)
    p1 = save_figure(loss_history_figure(np.exp(-np.linspace(0, 3, 500)) + 0.01 * rng.random(500)), tmp_path / "l.png")
    p2 = save_figure(templates_figure(rng.standard_normal((10, 3 * 32 * 32)), (3, 32, 32), [str(k) for k in range(10)]),
                     tmp_path / "t.png")
    for p in (p1, p2):
        with Image.open(p) as img:
            assert img.width > 300
