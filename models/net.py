"""A compact residual CNN for 48x48 grey faces (FER2013's seven emotions)."""

from __future__ import annotations

import torch
from torch import nn

from core.values.emotions import EMOTIONS  # the output order: one list for the network and the app

__all__ = ["EMOTIONS", "INPUT_SIZE", "EmotionNet", "normalise"]
INPUT_SIZE = 48


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a skip; a 1x1 projection when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn(cin, cout, stride)
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout))
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.skip(x))


class EmotionNet(nn.Module):
    """A stem that halves 48x48 to 24x24, then residual stages at 24, 12 and 6 pixels.

    Downsampling in the stem is what keeps one face under 3 ms on a single CPU core;
    the channel count doubles whenever the resolution halves so each stage costs alike.
    `extra_blocks` deepens the 12-pixel stage, the cheapest place to add capacity.
    """

    def __init__(
        self,
        widths: tuple[int, int, int, int] = (32, 48, 96, 192),
        num_classes: int = len(EMOTIONS),
        dropout: float = 0.3,
        extra_blocks: int = 0,
    ) -> None:
        super().__init__()
        self.widths = tuple(widths)
        self.extra_blocks = extra_blocks
        w0, w1, w2, w3 = widths
        self.stem = nn.Sequential(_conv_bn(1, w0), _conv_bn(w0, w1, stride=2))
        self.stages = nn.Sequential(
            ResidualBlock(w1, w1, 1),
            ResidualBlock(w1, w2, 2),
            ResidualBlock(w2, w3, 2),
        )
        # Kept apart from `stages` so weights of a shallower net load unchanged; each new block
        # starts as the identity (zero last-BN scale), so growing a trained net keeps its accuracy.
        self.deep = nn.Sequential(*(ResidualBlock(w2, w2, 1) for _ in range(extra_blocks)))
        for block in self.deep:
            assert isinstance(block, ResidualBlock)
            last_bn = block.conv2[1]
            assert isinstance(last_bn, nn.BatchNorm2d)
            nn.init.zeros_(last_bn.weight)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(w3, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages[1](self.stages[0](self.stem(x)))
        return self.head(self.stages[2](self.deep(x)))


# FER2013 pixel statistics (Training split), fixed so training and inference agree.
PIXEL_MEAN = 129.4
PIXEL_STD = 65.0


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 faces (N, 48, 48) -> float (N, 1, 48, 48) with roughly zero mean and unit spread."""
    return ((pixels.float() - PIXEL_MEAN) / PIXEL_STD).unsqueeze(1)
