"""Grad-CAM: which part of an image made a conv net decide (Selvaraju et al., 2017).

For a class c and a conv layer's activations A (N, K, h, w), the weight of channel k is the
spatial mean of dy_c/dA_k, and the map is ReLU(sum_k weight_k * A_k), upsampled bilinearly to the
input size and scaled to [0, 1] per image. The layer is the last one whose output is still a
spatial map (h * w > 1): the last activation before global pooling or flattening, where the
features are the most semantic that still know where they are. Test-time augmentation is not
part of an explanation: the map is of the plain forward pass.

>>> maps, logits = grad_cam(net, x, classes=[281])      # x: normalized (N, C, H, W) tensor
>>> explain_images(predictor, images, classes=[None])   # None: each image's top class
"""

from __future__ import annotations

import numpy as np

from imgclass.errors import ImgclassError


def last_spatial_layer(net, x):
    """The module whose output is the last 4-D activation with more than one position, in call order."""
    import torch

    calls = []  # (module, output) in call order
    hooks = [m.register_forward_hook(lambda mod, inp, out: calls.append((mod, out)))
             for m in net.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            net(x[:1])
    finally:
        for h in hooks:
            h.remove()
    for mod, out in reversed(calls):
        if isinstance(out, torch.Tensor) and out.ndim == 4 and out.shape[2] * out.shape[3] > 1:
            return mod
    raise ImgclassError("this model has no convolutional feature map to explain (Grad-CAM needs a conv net; "
                        "linear and MLP models have none)")


def grad_cam(net, x, classes, layer=None):
    """Grad-CAM maps (N, H, W) in [0, 1] of ``classes`` (one index per image) and the logits (N, K).

    Parameters
    ----------
    net : torch.nn.Module in eval mode
    x : tensor (N, C, H, W), the network's (normalized) input
    classes : sequence of int, one per image
    layer : torch.nn.Module, optional
        The layer explained; default :func:`last_spatial_layer`.
    """
    import torch
    import torch.nn.functional as F

    layer = layer if layer is not None else last_spatial_layer(net, x)
    store = {}
    hook = layer.register_forward_hook(lambda mod, inp, out: store.__setitem__("a", out))
    try:
        with torch.enable_grad():
            logits = net(x.detach().requires_grad_(True))  # so a frozen network's activations get gradients too
            a = store["a"]  # (N, K, h, w)
            picked = logits[torch.arange(len(x)), torch.as_tensor(list(classes), device=logits.device)]
            (grads,) = torch.autograd.grad(picked.sum(), a)  # each image's logit depends on its own row only
    finally:
        hook.remove()
    weights = grads.mean(dim=(2, 3), keepdim=True)  # (N, K, 1, 1)
    cam = F.relu((weights * a).sum(dim=1, keepdim=True)).float()  # (N, 1, h, w)
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    top = cam.flatten(1).amax(dim=1).clamp(min=1e-12)[:, None, None]
    return (cam / top).detach().cpu().numpy(), logits.detach().float().cpu().numpy()


def torch_view(predictor):
    """(net, to_input) of a predictor that Grad-CAM can explain: uint8 (N, C, H, W) -> the net's input."""
    import torch

    model = getattr(predictor, "model", None)
    if hasattr(predictor, "mean") and isinstance(model, torch.nn.Module):  # the pretrained ImageNet net
        device = next(model.parameters()).device

        def to_input(x):
            return (torch.from_numpy(np.ascontiguousarray(x)).to(device).float() - predictor.mean) / predictor.std

        return model.eval(), to_input
    engine = getattr(predictor, "scorer", None)
    if not hasattr(engine, "eval_module"):
        raise ImgclassError("Grad-CAM explains torch conv nets: this run is a numpy-engine or linear model "
                            "(train it with --engine torch and a cnn, resnet or fast model)")
    net = engine.eval_module.eval()
    device = next(net.parameters()).device

    def to_input(x):
        return torch.from_numpy(predictor.pre.transform(x)).to(device).float()

    return net, to_input


def explain_images(predictor, images: np.ndarray, classes) -> tuple[np.ndarray, np.ndarray]:
    """Maps (N, H, W) and class probabilities (N, K) for uint8 images; ``classes[i]`` None = image i's top class."""
    import torch

    net, to_input = torch_view(predictor)
    x = to_input(images)
    with torch.no_grad():
        probs = torch.softmax(net(x).float(), dim=1).cpu().numpy()
    picked = [int(np.argmax(p)) if c is None else int(c) for p, c in zip(probs, classes, strict=True)]
    maps, _ = grad_cam(net, x, picked)
    return maps, probs


def class_index(name: str, class_names: list[str]) -> int:
    """The index of a class given by name (exact, else the one name that contains it) or number."""
    if name in class_names:
        return class_names.index(name)
    if name.isdigit() and int(name) < len(class_names):
        return int(name)
    found = [i for i, c in enumerate(class_names) if name.lower() in c.lower()]
    if len(found) == 1:
        return found[0]
    hint = f"; it is part of {len(found)} names, e.g. {', '.join(class_names[i] for i in found[:4])}" if found else ""
    raise ImgclassError(f"--explain-class {name!r} is not one of the model's {len(class_names)} classes{hint}")


def overlay_figure(image: np.ndarray, maps: list[np.ndarray], titles: list[str], source: str):
    """The image, then one heat-map overlay per map (jet, alpha 0.45), in one row."""
    from imgclass.data.plots import _plt, to_display

    plt = _plt()
    shown = to_display(image)
    gray = image.shape[0] == 1
    fig, axes = plt.subplots(1, 1 + len(maps), figsize=(3.2 * (1 + len(maps)), 3.4), squeeze=False)
    axes[0, 0].imshow(shown, cmap="gray" if gray else None, vmin=0, vmax=255)
    axes[0, 0].set_title(source, fontsize=9)
    for ax, m, t in zip(axes[0, 1:], maps, titles, strict=True):
        ax.imshow(shown, cmap="gray" if gray else None, vmin=0, vmax=255)
        ax.imshow(m, cmap="jet", alpha=0.45, vmin=0, vmax=1, interpolation="bilinear")
        ax.set_title(t, fontsize=9)
    for ax in axes[0]:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def explain_mistakes(model, images: np.ndarray, mistakes: list[dict], path, k: int = 8):
    """A figure of the ``k`` most confident mistakes (images, then Grad-CAM of the wrong class); its path.

    None when the model has nothing Grad-CAM can explain (numpy-engine, linear and MLP runs) or no mistakes.
    """
    from imgclass.data.plots import _plt, to_display
    from imgclass.fileio import save_figure

    picked = mistakes[:k]
    if not picked:
        return None
    try:
        net, to_input = torch_view(model)
        x = to_input(images[[m["index"] for m in picked]])
        maps, _ = grad_cam(net, x, [m["pred"] for m in picked])
    except ImgclassError:
        return None
    plt = _plt()
    names = model.classes
    fig, axes = plt.subplots(2, len(picked), figsize=(1.9 * len(picked) + 0.4, 4.2), squeeze=False)
    for j, (m, cam) in enumerate(zip(picked, maps, strict=True)):
        img = images[m["index"]]
        shown, cmap = to_display(img), "gray" if img.shape[0] == 1 else None
        axes[0, j].imshow(shown, cmap=cmap, vmin=0, vmax=255)
        axes[0, j].set_title(f"{names[m['true']]} → {names[m['pred']]}\n{m['prob']:.0%}", fontsize=8)
        axes[1, j].imshow(shown, cmap=cmap, vmin=0, vmax=255)
        axes[1, j].imshow(cam, cmap="jet", alpha=0.45, vmin=0, vmax=1, interpolation="bilinear")
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle("most confident mistakes; below: Grad-CAM of the predicted class (where it looked)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
