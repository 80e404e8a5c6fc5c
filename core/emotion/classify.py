"""Faces to emotion probabilities: the shipped expression pipeline (models.pipeline) at inference.

Every face goes through every network of the ensemble (EmotionNet and mini-Xception on the face and on its
mirror image, WideNet on the face), int8-quantised and as one frozen TorchScript graph; the probabilities
are blended with the weights stored beside the int8 weights. models.evaluate scores this very pipeline,
so the model card's accuracy is what the frame analyser gets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.pipeline import PIPELINE_WEIGHTS, Pipeline, load_pipeline
from models.weights import DEFAULT_WEIGHTS


class EmotionClassifier:
    """(N, 48, 48) uint8 grey faces -> (N, 7) float32 probabilities in EMOTIONS order.

    `weights` replaces the shipped EmotionNet; its int8 calibration belongs to the shipped weights, so
    another net runs in float32 (see models.pipeline.load_pipeline). `optimise=False` runs the same
    ensemble unquantised and eagerly (a reference for the optimised path).
    """

    def __init__(
        self,
        weights: Path | str | None = None,
        optimise: bool = True,
        pipeline: Path | str = PIPELINE_WEIGHTS,
    ) -> None:
        net = Path(weights) if weights else DEFAULT_WEIGHTS
        if not net.is_file():
            raise FileNotFoundError(f"emotion model weights not found at {net}")
        self.weights = net
        self.pipeline: Pipeline = load_pipeline(
            pipeline, net_weights=net, quantised=None if optimise else False, freeze=optimise
        )

    @property
    def description(self) -> str:
        return self.pipeline.description

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        """ValueError unless `faces` is uint8 (N, 48, 48); an empty batch gives (0, 7)."""
        return self.pipeline(faces)
