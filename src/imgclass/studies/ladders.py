"""The ladders an ablation study climbs (:mod:`imgclass.studies.ablation`): named lists of cumulative changes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    """One rung of a ladder: what it changes in the model description and in the training settings."""

    name: str
    what: str
    model: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)


#: The ladders a study can climb; the first step's settings switch off what the later ones add.
LADDERS: dict[str, list[Step]] = {
    "usi": [
        Step("baseline", "cifar-classic without dropout, weight decay or augmentation",
             model={"dropout": 0.0, "bias": True, "batchnorm": False},
             train={"weight_decay": 0.0, "flip": False, "jitter": 0.0, "crop_padding": 0, "tta_flip": False}),
        Step("+ weight decay", "L2 on conv and affine weights", train={"weight_decay": 5e-4}),
        Step("+ dropout", "dropout 0.5 before each fully connected layer", model={"dropout": 0.5}),
        Step("+ flip / colour jitter", "random flips, colour jitter and 4-pixel random crops of training images; "
             "test-time flip averaging", train={"flip": True, "jitter": 0.2, "crop_padding": 4, "tta_flip": True}),
        Step("no bias", "no biases in conv and affine layers", model={"bias": False}),
        Step("+ batchnorm", "batchnorm after every conv and hidden affine layer", model={"batchnorm": True}),
    ],
}
