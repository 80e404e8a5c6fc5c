"""Saving and loading the shipped weights with the metadata that describes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from models.net import EmotionNet

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "emotion_net.pt"


def save_weights(model: EmotionNet, path: Path, meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    blob = {"state_dict": state, "widths": model.widths, "extra_blocks": model.extra_blocks, "meta": meta}
    torch.save(blob, tmp)
    tmp.replace(path)


def load_model(path: Path | str = DEFAULT_WEIGHTS) -> EmotionNet:
    """The network in eval mode, ready for CPU inference."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = EmotionNet(tuple(blob["widths"]), extra_blocks=int(blob.get("extra_blocks", 0)))
    model.load_state_dict(blob["state_dict"])
    return model.eval()


def weights_meta(path: Path | str = DEFAULT_WEIGHTS) -> dict[str, Any]:
    return dict(torch.load(path, map_location="cpu", weights_only=True)["meta"])
