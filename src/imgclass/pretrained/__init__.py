"""Prediction on arbitrary images: a pretrained ImageNet classifier and runs trained by imgclass.

>>> from imgclass.pretrained.predict import ImageNetPredictor, predict_images
>>> r = predict_images(["photo.jpg", "photos/"], ImageNetPredictor(device="auto"), top=5)
>>> r["results"][0]["predictions"][0]["class"]              # e.g. 'Egyptian cat'
>>> from imgclass.runs import load_model                      # any run imgclass trained is a predictor too
>>> r = predict_images(["digit.png"], load_model("runs/...-linear-softmax-digits"))

Modules: :mod:`.efficientnet` (EfficientNet-Lite0, its weights and the 1000
class names), :mod:`.predict` (decoding, preprocessing, batching, top-k,
annotated PNGs), :mod:`.cli` (``imgclass
predict``). Nothing here imports PyTorch until a model is loaded.
"""
