"""bench.detect --sheet: the frames BlazeFace got wrong, drawn so that a person can see why."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.detect import GREEN, RED, SHEET_TILE, YELLOW, Miss, main, miss_sheet
from bench.scenes import scene


def _has(img: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int((np.abs(img.astype(int) - np.array(colour)).sum(axis=2) < 40).sum())


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    assert img is not None, path
    return img


def test_a_sheet_marks_found_missed_and_false_boxes(tmp_path: Path) -> None:
    frame = scene("multi", 0, faces=3)
    far = (560, 400, 60, 60)
    miss = Miss("multi", 0, frame, (frame.faces[0].box, frame.faces[1].box, far), (0, 1, None))
    out = tmp_path / "sheet.png"
    assert miss_sheet([miss, miss], str(out)) == 2
    img = _read(out)
    assert img.shape == (SHEET_TILE[1], 2 * SHEET_TILE[0], 3)
    assert _has(img, GREEN) > 100 and _has(img, YELLOW) > 50 and _has(img, RED) > 50
    assert miss_sheet([], str(tmp_path / "none.png")) == 0
    assert not (tmp_path / "none.png").exists()


def test_the_benchmark_writes_its_sheet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "misses.png"
    assert (
        main(["--n", "40", "--conditions", "multi", "--seed", "2", "--repeat", "1", "--sheet", str(out)]) == 0
    )
    said = capsys.readouterr().out
    assert "contact sheet: 1 of 1 frames" in said  # seed 2 scene 25: a tight FER crop boxed 1.73x
    assert "groups of 2+ faces again at 288 px" in said
    assert _read(out).shape == (SHEET_TILE[1], SHEET_TILE[0], 3)


def test_the_header_says_when_there_is_no_finer_look(capsys: pytest.CaptureFixture[str]) -> None:
    """A --size at or above the group size gives no finer look, and the header says so."""
    assert main(["--n", "1", "--conditions", "multi", "--repeat", "1", "--size", "320"]) == 0
    assert "no finer look at groups" in capsys.readouterr().out
