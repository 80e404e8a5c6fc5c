"""`moodreel audience` on folders of multi-face frames (real FER2013 faces of known labels painted into
rooms), and `moodreel stage`'s links."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cli.main import main
from core.colour.psychology import EMOTION_PALETTES
from core.stage.links import StageSigner
from tests.support.crowd_frames import crowd_frames, empty_room
from tests.support.paths import ROOT

FPS = 10


def folder(tmp_path: Path, name: str, frames: list[bytes]) -> Path:
    path = tmp_path / name
    path.mkdir()
    for i, jpeg in enumerate(frames):
        (path / f"frame{i:04d}.jpg").write_bytes(jpeg)
    (path / "notes.txt").write_text("not a frame")  # skipped, and said so
    return path


def audience(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["audience", *args])
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    return code, lines, captured.err


@pytest.fixture(scope="module")
def show(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of a happy crowd (6 faces), 3 s of an empty room, 3 s of a mostly surprised crowd (8)."""
    frames = crowd_frames(["happy"] * 6, 30, seed=1)
    frames += empty_room(30, seed=1)
    frames += crowd_frames(["surprise"] * 5 + ["happy", "neutral", "sad"], 30, seed=3)
    return folder(tmp_path_factory.mktemp("audience"), "show", frames)


def test_each_window_names_the_crowds_dominant_emotion_and_falls_back_when_empty(
    show: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, windows, err = audience(
        capsys,
        "--frames",
        str(show),
        "--window",
        "3",
        "--intended",
        "sad",
        "--json",
        "--summary",
        str(tmp_path),
    )
    assert code == 0, err
    assert "skipped notes.txt (not an image file)" in err
    assert [w["emotion"] for w in windows] == ["happy", "sad", "surprise"]
    assert [w["fallback"] for w in windows] == [False, True, False]
    assert [(w["start"], w["end"], w["frames"]) for w in windows] == [(0, 3, 30), (3, 6, 30), (6, 9, 30)]
    happy, empty, surprised = windows
    assert happy["faces"] == 6 and surprised["faces"] >= 7  # nearly every face is found
    assert happy["confidence"] > 0.5 and surprised["confidence"] > 0.3
    assert empty["confidence"] is None and empty["faces"] == 0 and empty["readings"] == 0
    # Each window carries its background's colours: the emotion's three, intensity from confidence.
    for w in windows:
        names = [c["name"] for c in w["colours"]]
        assert names == [e.name for e in EMOTION_PALETTES[w["emotion"]]]
        assert all(c["hex"].startswith("#") for c in w["colours"])
    assert happy["brightness"] > surprised["brightness"]
    # The performer's summary: the same windows as a CSV, and the timeline picture.
    table = pd.read_csv(tmp_path / "windows.csv")
    assert list(table["emotion"]) == ["happy", "sad", "surprise"]
    assert (tmp_path / "timeline.png").read_bytes()[:4] == b"\x89PNG"


def test_single_emotion_crowds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for label, seed in (("happy", 5), ("surprise", 6), ("neutral", 7)):
        path = folder(tmp_path, label, crowd_frames([label] * 5, 20, seed=seed))
        code, windows, err = audience(capsys, "--frames", str(path), "--window", "1", "--json")
        assert code == 0, err
        assert len(windows) == 2 and {w["emotion"] for w in windows} == {label}, (label, windows)
        assert not any(w["fallback"] for w in windows)


def test_an_empty_room_falls_back_on_the_intended_feeling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = folder(tmp_path, "empty", empty_room(25, seed=4))
    code, windows, _ = audience(
        capsys, "--frames", str(path), "--fps", "5", "--window", "2", "--intended", "fear", "--json"
    )
    assert code == 0
    assert [(w["start"], w["end"], w["emotion"], w["fallback"]) for w in windows] == [
        (0, 2, "fear", True),
        (2, 4, "fear", True),
        (4, 5, "fear", True),  # 25 frames at 5 fps: the last window is one second long
    ]
    # Without --json: a table that marks the fallback.
    assert main(["audience", "--frames", str(path), "--fps", "5", "--window", "2", "--intended", "fear"]) == 0
    table = capsys.readouterr().out
    assert "fear*" in table and "no faces in the window" in table


def test_bad_arguments_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audience", "--frames", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["audience", "--frames", str(tmp_path), "--fps", "0"]) == 2
    assert "--fps" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["audience", "--frames", str(tmp_path), "--intended", "bored"])


def test_help_explains_the_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "audience", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0
    for words in ("--frames DIR", "--fps F", "--window S", "--intended EMOTION", "--json", "name order"):
        assert words in proc.stdout


def test_moodreel_stage_prints_links_the_server_accepts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOODREEL_SECRET", "stage-secret")
    assert main(["stage", "happy", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    signer = StageSigner("stage-secret")
    control = signer.verify("control", doc["control_url"].rsplit("/", 1)[1])
    show = signer.verify("show", doc["stage_url"].rsplit("/", 1)[1])
    assert control.stage_id == show.stage_id == doc["stage_id"] and control.intended == "happy"
    assert main(["stage"]) == 0
    out = capsys.readouterr().out
    assert "intended feeling: neutral" in out and "/stage/control/" in out and "/stage/show/" in out
    monkeypatch.delenv("MOODREEL_SECRET")
    assert main(["stage"]) == 2
    assert "MOODREEL_SECRET" in capsys.readouterr().err


def test_the_csv_is_plain_pandas(show: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, _ = audience(
        capsys, "--frames", str(show), "--window", "9", "--summary", str(tmp_path), "--json"
    )
    assert code == 0
    table = pd.read_csv(io.StringIO((tmp_path / "windows.csv").read_text()))
    assert len(table) == 1 and table["frames"][0] == 90
