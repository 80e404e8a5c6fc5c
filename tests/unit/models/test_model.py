"""The shipped emotion model loads and reads faces sensibly; models.evaluate counts right."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models.evaluate import Evaluation, confusion_matrix, main
from models.net import EMOTIONS, EmotionNet, normalise
from models.pipeline import load_pipeline, pipeline_meta
from models.weights import DEFAULT_WEIGHTS, load_model, weights_meta
from tests.support.paths import ROOT

FER_ROWS = 400  # PublicTest faces used by the sanity check; enough for a stable accuracy estimate


@pytest.fixture(scope="module")
def model() -> EmotionNet:
    return load_model()


@pytest.fixture(scope="module")
def public_test(shared_data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixels, labels, FER+ votes in label order) of the first PublicTest rows."""
    from models.data import FERPLUS_TO_FER

    with np.load(shared_data / "fer2013" / "fer2013.npz") as data:
        rows = np.flatnonzero(data["usage"] == 1)[:FER_ROWS]
        votes = data["ferplus_votes"][rows][:, FERPLUS_TO_FER]
        return data["pixels"][rows], data["label"][rows].astype(np.int64), votes


@torch.inference_mode()
def _predict(model: EmotionNet, pixels: np.ndarray) -> np.ndarray:
    return torch.softmax(model(normalise(torch.from_numpy(pixels))), 1).numpy()


def test_shipped_weights_load(model: EmotionNet) -> None:
    assert DEFAULT_WEIGHTS.stat().st_size < 10 * 1024 * 1024
    assert not model.training
    meta = weights_meta()
    assert 0.0 < meta["publictest_accuracy"] <= 1.0
    out = model(normalise(torch.zeros(2, 48, 48, dtype=torch.uint8)))
    assert out.shape == (2, len(EMOTIONS))


def test_model_card_states_the_shipped_accuracy() -> None:
    """models/README.md must quote the accuracy stored with the committed pipeline (what MoodReel runs)
    and, for the single network, the one stored with its weights."""
    card = (ROOT / "models" / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"PublicTest accuracy:\W*([0-9]+\.[0-9]+)\s*%", card)
    assert stated, "the model card must state 'PublicTest accuracy: NN.NN %'"
    assert float(stated.group(1)) == pytest.approx(100 * pipeline_meta()["publictest_accuracy"], abs=0.01)
    single = re.search(r"single EmotionNet pass:\W*([0-9]+\.[0-9]+)\s*%", card)
    assert single, "the model card must state 'single EmotionNet pass: NN.NN %'"
    assert float(single.group(1)) == pytest.approx(100 * weights_meta()["publictest_accuracy"], abs=0.01)
    blend = re.search(r"blend weight:\W*([0-9.]+)", card)
    assert blend and float(blend.group(1)) == pytest.approx(pipeline_meta()["net_weight"])


def test_known_faces_get_sensible_answers(
    model: EmotionNet, public_test: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    pixels, labels, votes = public_test
    probs = _predict(model, pixels)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # Faces where at least 9 of 10 FER+ voters saw happiness, as the original label says.
    plain_happy = (labels == EMOTIONS.index("happy")) & (votes[:, EMOTIONS.index("happy")] >= 9)
    assert plain_happy.sum() >= 20
    assert (probs[plain_happy].argmax(1) == EMOTIONS.index("happy")).mean() >= 0.9
    # Well above the 25% a constant "happy" would get; the shipped model claims 68% or more.
    assert (probs.argmax(1) == labels).mean() >= 0.55
    # A mirrored face shows the same expression.
    mirrored = _predict(model, np.ascontiguousarray(pixels[:, :, ::-1]))
    assert (mirrored.argmax(1) == probs.argmax(1)).mean() >= 0.8


def test_confusion_matrix_and_derived_numbers() -> None:
    labels = np.array([0, 0, 0, 3, 3, 6, 6, 6, 6, 1])
    predicted = np.array([0, 6, 0, 3, 0, 6, 6, 3, 6, 6])
    result = Evaluation(confusion_matrix(labels, predicted))
    assert result.confusion[0].tolist() == [2, 0, 0, 0, 0, 0, 1]
    assert result.confusion[6].tolist() == [0, 0, 0, 1, 0, 0, 3]
    assert (result.correct, result.total) == (6, 10)
    assert result.accuracy == pytest.approx(0.6)
    assert result.recall() == pytest.approx([2 / 3, 0.0, None, 0.5, None, None, 0.75])
    assert result.precision() == pytest.approx([2 / 3, None, None, 0.5, None, None, 0.6])


def _tiny_npz(tmp_path: Path, model: EmotionNet, pixels: np.ndarray) -> tuple[Path, np.ndarray, np.ndarray]:
    """12 faces: labels agree with the model on rows 0-6 and are off by one on rows 7-11.

    Rows 0-5 are usage 0, rows 6-11 usage 1, so usage 1 holds exactly one right answer (row 6).
    """
    faces = pixels[:12]
    predicted = load_pipeline()(faces).argmax(1)  # what models.evaluate scores by default
    labels = np.where(np.arange(12) < 7, predicted, (predicted + 1) % 7).astype(np.uint8)
    usage = np.array([0] * 6 + [1] * 6, np.uint8)
    path = tmp_path / "tiny.npz"
    np.savez(path, pixels=faces, label=labels, usage=usage)
    return path, labels.astype(np.int64), predicted


def test_evaluate_counts_right_on_a_tiny_npz(
    tmp_path: Path,
    model: EmotionNet,
    public_test: tuple[np.ndarray, np.ndarray, np.ndarray],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, labels, predicted = _tiny_npz(tmp_path, model, public_test[0])
    assert main(["--data", str(path), "--json", "--batch-size", "5"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[1].startswith("accuracy: 58.33% (7/12)")
    result = json.loads(out[-1])
    assert result["accuracy"] == pytest.approx(7 / 12)
    assert (result["correct"], result["total"]) == (7, 12)
    expected = np.zeros((7, 7), int)
    np.add.at(expected, (labels, predicted), 1)
    assert result["confusion"] == expected.tolist()
    for i, name in enumerate(EMOTIONS):
        n = int((labels == i).sum())
        assert result["support"][name] == n
        want = None if n == 0 else float(((labels == i) & (predicted == i)).sum()) / n
        assert result["recall"][name] == (pytest.approx(want) if want is not None else None)

    assert main(["--data", str(path), "--usage", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (result["correct"], result["total"]) == (1, 6)
    assert result["accuracy"] == pytest.approx(1 / 6)
    assert result["usage"] == 1


def test_evaluate_single_scores_one_network_pass(
    tmp_path: Path,
    model: EmotionNet,
    public_test: tuple[np.ndarray, np.ndarray, np.ndarray],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--single scores one float32 EmotionNet pass per face, as training does, not the pipeline."""
    faces = public_test[0][:40]
    single = _predict(model, faces).argmax(1)
    path = tmp_path / "single.npz"
    np.savez(path, pixels=faces, label=single.astype(np.uint8))
    assert main(["--data", str(path), "--single", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["accuracy"] == pytest.approx(1.0) and result["quantised"] is False
    assert main(["--data", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    expected = (load_pipeline()(faces).argmax(1) == single).mean()
    assert result["accuracy"] == pytest.approx(expected) and result["quantised"] is True


def test_evaluate_as_a_command(tmp_path: Path, model: EmotionNet, public_test: tuple) -> None:
    path, _, _ = _tiny_npz(tmp_path, model, public_test[0])
    done = subprocess.run(
        [sys.executable, "-m", "models.evaluate", "--data", str(path), "--usage", "0", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert "confusion matrix" in done.stdout and "recall" in done.stdout
    assert json.loads(lines[-1])["accuracy"] == pytest.approx(1.0)  # usage 0 rows all agree


def test_evaluate_refuses_unusable_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.savez(tmp_path / "nolabels.npz", pixels=np.zeros((3, 48, 48), np.uint8))
    assert main(["--data", str(tmp_path / "nolabels.npz")]) == 2
    assert "lacks the array(s) label" in capsys.readouterr().err
    np.savez(tmp_path / "ok.npz", pixels=np.zeros((3, 48, 48), np.uint8), label=np.zeros(3, np.uint8))
    assert main(["--data", str(tmp_path / "ok.npz"), "--usage", "1"]) == 2
    assert "lacks the array(s) usage" in capsys.readouterr().err
    np.savez(
        tmp_path / "bad.npz",
        pixels=np.zeros((3, 48, 48), np.uint8),
        label=np.array([0, 9, 1], np.uint8),
        usage=np.zeros(3, np.uint8),
    )
    assert main(["--data", str(tmp_path / "bad.npz")]) == 2
    assert "labels must lie in 0..6" in capsys.readouterr().err
    np.savez(
        tmp_path / "nousage2.npz",
        pixels=np.zeros((3, 48, 48), np.uint8),
        label=np.zeros(3, np.uint8),
        usage=np.zeros(3, np.uint8),
    )
    assert main(["--data", str(tmp_path / "nousage2.npz"), "--usage", "2"]) == 2
    assert "no rows with usage 2" in capsys.readouterr().err
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert main(["--data", str(tmp_path / "junk.npz")]) == 2
    assert "not a readable npz" in capsys.readouterr().err
    assert main(["--data", str(tmp_path / "missing.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err
