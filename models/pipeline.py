"""The shipped expression pipeline: three networks, EmotionNet and mini-Xception on a face and its mirror.

    probabilities = w * mean(EmotionNet(face), EmotionNet(mirror))
                  + v * WideNet(face)
                  + (1 - w - v) * mean(MiniXception(face), MiniXception(mirror))

WideNet is a wider EmotionNet trained apart (weights/emotion_net_wide.pt). It reads the face alone:
its mirror view cost ~0.4 ms a face (about 14% of the graph) and, with the weights re-chosen, added no
accuracy on PublicTest (`build --wide-mirror` puts it back; the file records which). A pipeline file
without WideNet (v = 0) blends the other two as before.

All of them run int8-quantised (post-training static quantisation, torch.ao FX graph mode, x86
backend) when this torch has it; `python -m models.pipeline build` calibrates the activation ranges on
Training faces and writes them with the int8 weights to weights/pipeline.pt, together with the blend
weights `w` and `v` and the pipeline's PublicTest accuracy. models.evaluate and core.emotion.classify both run
`load_pipeline()`, so the figure on the card is the one production gets.

torch.ao.quantization is deprecated upstream; MoodReel pins torch 2.13.0, where it works (tested). Where
it does not (another torch, a CPU without the x86/fbgemm engine), `load_pipeline` falls back to the same
ensemble in float32 and says so in `Pipeline.quantised`.
"""

from __future__ import annotations

import argparse
import copy
import functools
import hashlib
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.data import DEFAULT_NPZ
from models.minixception import DEFAULT_WEIGHTS as MINIX_WEIGHTS
from models.minixception import INPUT_SIZE as MINIX_SIZE
from models.minixception import load_minixception, prepare_input
from models.net import EMOTIONS, INPUT_SIZE, normalise
from models.weights import DEFAULT_WEIGHTS, load_model

PIPELINE_WEIGHTS = Path(__file__).resolve().parent / "weights" / "pipeline.pt"
WIDE_WEIGHTS = Path(__file__).resolve().parent / "weights" / "emotion_net_wide.pt"
BACKEND = "x86"
CALIBRATION_FACES = 2000  # Training faces (and their mirror images) that set the int8 activation ranges
CALIBRATION_SEED = 0
BOTH_VIEWS = "each on the face and its mirror"


class Ensemble(nn.Module):
    """(N, 48, 48) grey levels -> (N, 7) probabilities: every network on the face and its mirror, but
    WideNet on the face alone unless `wide_mirror`."""

    def __init__(
        self,
        net: nn.Module,
        minix: nn.Module,
        net_weight: float,
        wide: nn.Module | None = None,
        wide_weight: float = 0.0,
        wide_mirror: bool = True,
    ) -> None:
        super().__init__()
        if wide is None and wide_weight:
            raise ValueError("a wide_weight needs a wide network")
        if not (net_weight >= 0 and wide_weight >= 0 and net_weight + wide_weight <= 1):
            raise ValueError("the blend weights must be at least 0 and add up to at most 1")
        self.net, self.minix, self.wide = net, minix, wide
        self.net_weight, self.wide_weight = float(net_weight), float(wide_weight)
        self.wide_mirror = wide_mirror

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.float()
        views = torch.cat([x, x.flip(-1)])  # faces, then their mirror images
        grey = normalise(views)
        p = self.net_weight * _views_mean(self.net(grey))
        p = p + (1.0 - self.net_weight - self.wide_weight) * _views_mean(self.minix(prepare_input(views)))
        if self.wide is not None:
            if self.wide_mirror:
                p = p + self.wide_weight * _views_mean(self.wide(grey))
            else:
                faces = grey.chunk(2)[0]  # chunk, not a slice by len(): the trace keeps N free
                p = p + self.wide_weight * torch.softmax(self.wide(faces), 1)
        return p


def _views_mean(logits: torch.Tensor) -> torch.Tensor:
    """(2N, 7) logits of faces then mirrors -> (N, 7) probabilities averaged over the two views."""
    return torch.softmax(logits, 1).reshape(2, -1, len(EMOTIONS)).mean(0)


@contextmanager
def _quiet() -> Iterator[None]:
    """torch.ao.quantization's deprecation notices, once per call, say nothing the module doc does not."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantiz.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*reduce_range.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*observer.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*TypedStorage.*", category=UserWarning)
        yield


def quantisation_available() -> bool:
    try:
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx  # noqa: F401
    except ImportError:
        return False
    return BACKEND in torch.backends.quantized.supported_engines


def _prepared(model: nn.Module, size: int) -> nn.Module:
    """The FX graph of `model` with observers (batch norm and ReLU fused into the convolutions)."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import prepare_fx

    torch.backends.quantized.engine = BACKEND
    example = (torch.zeros(1, 1, size, size),)
    with _quiet():
        return prepare_fx(copy.deepcopy(model).eval(), get_default_qconfig_mapping(BACKEND), example)


def _converted(prepared: nn.Module) -> nn.Module:
    from torch.ao.quantization.quantize_fx import convert_fx

    with _quiet():
        return convert_fx(prepared)  # type: ignore[arg-type]


@torch.inference_mode()
def quantise(model: nn.Module, inputs: torch.Tensor, batch_size: int = 250) -> nn.Module:
    """Post-training static int8 quantisation of `model`, calibrated on `inputs` (its own input layout)."""
    prepared = _prepared(model, inputs.shape[-1])
    for start in range(0, len(inputs), batch_size):
        prepared(inputs[start : start + batch_size])
    return _converted(prepared)


def quantised_from_state(model: nn.Module, size: int, state: dict[str, Any]) -> nn.Module:
    """Rebuild a model that `quantise` produced from its state dict (same float model, same torch)."""
    quantised = _converted(_prepared(model, size))
    with _quiet():
        quantised.load_state_dict(state)
    return quantised.eval()


def calibration_faces(data: Path, count: int = CALIBRATION_FACES, seed: int = CALIBRATION_SEED) -> np.ndarray:
    """`count` Training faces (usage 0) drawn with a fixed seed, followed by their mirror images."""
    with np.load(data) as npz:
        rows = np.flatnonzero(npz["usage"] == 0)
        pick = np.sort(np.random.default_rng(seed).choice(rows, count, replace=False))
        faces = npz["pixels"][pick]
    return np.concatenate([faces, faces[:, :, ::-1]])


def _freeze(module: nn.Module) -> nn.Module:
    """Frozen TorchScript of the whole ensemble (about a third faster at one face); eager without it."""
    example = torch.zeros(1, INPUT_SIZE, INPUT_SIZE, dtype=torch.uint8)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            return torch.jit.freeze(torch.jit.trace(module.eval(), example))
    except (AttributeError, RuntimeError):
        return module.eval()


@dataclass(frozen=True)
class Pipeline:
    """The ready ensemble: (N, 48, 48) uint8 faces in, (N, 7) float32 probabilities out."""

    module: nn.Module
    quantised: bool
    meta: dict[str, Any]

    @torch.inference_mode()
    def __call__(self, faces: np.ndarray) -> np.ndarray:
        faces = np.asarray(faces)
        if faces.ndim != 3 or faces.shape[1:] != (INPUT_SIZE, INPUT_SIZE) or faces.dtype != np.uint8:
            raise ValueError(f"faces must be uint8 of shape (N, 48, 48), got {faces.dtype} {faces.shape}")
        if len(faces) == 0:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        return self.module(torch.from_numpy(np.ascontiguousarray(faces))).numpy()

    @property
    def description(self) -> str:
        kind = "int8" if self.quantised else "float32"
        w, v = self.meta["net_weight"], self.meta.get("wide_weight", 0.0)
        net, minix = f"{kind} EmotionNet x {w:.2f}", f"mini-Xception x {1 - w - v:.2f}"
        if not v:
            return f"{net} + {minix}, {BOTH_VIEWS}"
        if _wide_mirror(self.meta):
            return f"{net} + WideNet x {v:.2f} + {minix}, {BOTH_VIEWS}"
        return f"{net} + WideNet x {v:.2f} (face only) + {minix} (face and mirror)"


def _wide_mirror(meta: dict[str, Any]) -> bool:
    """Whether WideNet reads the mirror image too; files built before the choice had it do so."""
    return bool(meta.get("wide_mirror", True))


def file_digest(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _load(path: Path | str) -> dict[str, Any]:
    with _quiet():  # int8 tensors warn as they are created
        blob: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return blob


def pipeline_meta(path: Path | str = PIPELINE_WEIGHTS) -> dict[str, Any]:
    return dict(_load(path)["meta"])


def load_pipeline(
    path: Path | str = PIPELINE_WEIGHTS,
    *,
    net_weights: Path | str = DEFAULT_WEIGHTS,
    minix_weights: Path | str = MINIX_WEIGHTS,
    wide_weights: Path | str = WIDE_WEIGHTS,
    quantised: bool | None = None,
    freeze: bool = True,
) -> Pipeline:
    """The shipped pipeline. `quantised=None` takes int8 where this torch can run it, float32 elsewhere.

    The int8 weights are those of the float networks they were built from (their sha256 is stored);
    other float weights, e.g. a net under training, run in float32 instead: `quantised=True` then
    raises ValueError. Building takes seconds (FX graphs, tracing), so a process builds each
    pipeline once: the frozen module is stateless and safe to share between threads.
    """
    files = tuple(Path(p).resolve() for p in (path, net_weights, minix_weights, wide_weights))
    # A pipeline file without a wide network needs no wide weights file.
    stamps = tuple((f, f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else (f, 0, 0) for f in files)
    return _load_pipeline(stamps, quantised, freeze)


@functools.lru_cache(maxsize=8)
def _load_pipeline(
    stamps: tuple[tuple[Path, int, int], ...], quantised: bool | None, freeze: bool
) -> Pipeline:
    (path, _, _), (net_weights, _, _), (minix_weights, _, _), (wide_weights, _, _) = stamps
    blob = _load(path)
    meta = dict(blob["meta"])
    net: nn.Module = load_model(net_weights)
    minix: nn.Module = load_minixception(minix_weights)
    wide_weight = float(meta.get("wide_weight", 0.0))
    wide: nn.Module | None = load_model(wide_weights) if wide_weight else None
    matches = meta.get("net_sha256") == file_digest(net_weights) and meta.get("minix_sha256") == file_digest(
        minix_weights
    )
    if wide is not None:
        matches = matches and meta.get("wide_sha256") == file_digest(wide_weights)
    if quantised and not matches:
        raise ValueError(f"{path} was not built from {net_weights}, {minix_weights} and {wide_weights}")
    use_int8 = quantisation_available() and matches if quantised is None else quantised
    if use_int8:
        net = quantised_from_state(net, INPUT_SIZE, blob["net"])
        minix = quantised_from_state(minix, MINIX_SIZE, blob["minix"])
        if wide is not None:
            wide = quantised_from_state(wide, INPUT_SIZE, blob["wide"])
    module: nn.Module = Ensemble(net, minix, meta["net_weight"], wide, wide_weight, _wide_mirror(meta))
    return Pipeline(_freeze(module) if freeze else module.eval(), use_int8, meta)


def build(
    data: Path,
    net_weight: float,
    out: Path = PIPELINE_WEIGHTS,
    net_weights: Path = DEFAULT_WEIGHTS,
    minix_weights: Path = MINIX_WEIGHTS,
    wide_weight: float = 0.0,
    wide_weights: Path = WIDE_WEIGHTS,
    wide_mirror: bool = False,
) -> dict[str, Any]:
    """Calibrate and quantise every network on Training faces, measure PublicTest, write `out`."""
    from models.evaluate import evaluate, load_rows

    faces = torch.from_numpy(calibration_faces(data))
    net = quantise(load_model(net_weights), normalise(faces))
    minix: nn.Module = quantise(load_minixception(minix_weights), prepare_input(faces))
    wide = quantise(load_model(wide_weights), normalise(faces)) if wide_weight else None
    meta: dict[str, Any] = {
        "net_weight": net_weight,
        "wide_weight": wide_weight,
        "views": "face and mirror image" + ("" if wide_mirror or not wide_weight else "; WideNet: face only"),
        "wide_mirror": wide_mirror,
        "backend": BACKEND,
        "calibration": f"{CALIBRATION_FACES} Training faces (seed {CALIBRATION_SEED}) and their mirrors",
        "torch": torch.__version__.split("+")[0],
        "net_sha256": file_digest(net_weights),
        "minix_sha256": file_digest(minix_weights),
    }
    if wide is not None:
        meta["wide_sha256"] = file_digest(wide_weights)
    pipeline = Pipeline(_freeze(Ensemble(net, minix, net_weight, wide, wide_weight, wide_mirror)), True, meta)
    pixels, labels = load_rows(data, 1)
    meta["publictest_accuracy"] = evaluate(pipeline, pixels, labels, progress=False).accuracy
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    blob = {"net": net.state_dict(), "minix": minix.state_dict(), "meta": meta}
    if wide is not None:
        blob["wide"] = wide.state_dict()
    torch.save(blob, tmp)
    tmp.replace(out)
    return meta


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.pipeline", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="calibrate, quantise and write weights/pipeline.pt")
    b.add_argument("--data", type=Path, default=DEFAULT_NPZ)
    b.add_argument("--net-weight", type=float, required=True, help="blend weight of EmotionNet (0..1)")
    b.add_argument("--wide-weight", type=float, default=0.0, help="blend weight of WideNet (0: not used)")
    b.add_argument(
        "--wide-mirror",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="WideNet also reads the mirror image (default: the face only)",
    )
    b.add_argument("--out", type=Path, default=PIPELINE_WEIGHTS)
    b.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if min(args.net_weight, args.wide_weight) < 0.0 or args.net_weight + args.wide_weight > 1.0:
        p.error("--net-weight and --wide-weight must be at least 0 and add up to at most 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    if not quantisation_available():
        print(f"pipeline: this torch cannot quantise for the {BACKEND} backend", file=sys.stderr)
        return 2
    meta = build(
        args.data, args.net_weight, args.out, wide_weight=args.wide_weight, wide_mirror=args.wide_mirror
    )
    print(f"wrote {args.out}: PublicTest accuracy {meta['publictest_accuracy']:.4f} ({meta})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
