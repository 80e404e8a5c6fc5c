"""`moodreel emotion IMAGE... [--json]` on real face frames, empty rooms and files that are not images."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from bench.scenes import Scene, match, scenes
from cli.main import main
from core.values.emotions import EMOTIONS
from tests.support.face_frames import decode_image, face_jpeg_for, labelled_frames, no_face_frames

Capsys = pytest.CaptureFixture[str]


@pytest.fixture(scope="module")
def group() -> Scene:
    return scenes("multi", 3, 5)[1]  # four FER2013 PublicTest faces of 98-116 px in one room


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, group: Scene) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("emotion-cli")
    paths = {
        "happy": folder / "happy.jpg",
        "face_png": folder / "face.png",
        "room": folder / "room.jpg",
        "text": folder / "notes.jpg",
        "crop": folder / "crop.png",
        "group": folder / "group.jpg",
    }
    paths["group"].write_bytes(group.jpeg)
    paths["happy"].write_bytes(face_jpeg_for("happy"))
    frame = labelled_frames(1, (320, 240), seed=21)[0]
    grey = decode_image(frame.jpeg)
    cv2.imwrite(str(paths["face_png"]), grey)  # not a JPEG: the command reads any image OpenCV can
    paths["room"].write_bytes(no_face_frames(1, seed=21)[0])
    paths["text"].write_text("this is not a picture")
    x, y, w, h = frame.box
    cv2.imwrite(str(paths["crop"]), cv2.cvtColor(grey[y : y + h, x : x + w], cv2.COLOR_BGR2GRAY))
    return paths


def _json(capsys: Capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_json_gives_probabilities_per_image(images: dict[str, Path], capsys: Capsys) -> None:
    code = main(["emotion", str(images["happy"]), str(images["face_png"]), str(images["room"]), "--json"])
    assert code == 0
    out = _json(capsys)
    assert out["emotions"] == list(EMOTIONS)
    happy, png, room = out["images"]
    assert happy["path"] == str(images["happy"]) and happy["error"] is None
    assert happy["face"] and happy["top"] == "happy"
    assert set(happy["probs"]) == set(EMOTIONS)
    assert sum(happy["probs"].values()) == pytest.approx(1.0, abs=1e-5)
    assert happy["top"] == max(happy["probs"], key=happy["probs"].get)
    assert len(happy["box"]) == 4 and happy["box"][2] > 100  # a webcam-sized face in a 640x480 frame
    assert png["face"] and png["top"] in EMOTIONS
    assert room == {
        "path": str(images["room"]),
        "error": None,
        "face": False,
        "box": None,
        "top": None,
        "probs": None,
        "faces": [],
    }


def test_text_output_names_the_emotion_or_says_no_face(images: dict[str, Path], capsys: Capsys) -> None:
    assert main(["emotion", str(images["happy"]), str(images["room"])]) == 0
    out = capsys.readouterr().out
    assert f"{images['happy']}: happy (face " in out
    for name in EMOTIONS:
        assert f"  {name:<9}" in out
    assert f"{images['room']}: no face found" in out


def test_unreadable_files_are_reported_and_the_rest_still_analysed(
    images: dict[str, Path], capsys: Capsys
) -> None:
    missing = images["happy"].parent / "missing.jpg"
    code = main(["emotion", str(images["text"]), str(missing), str(images["happy"]), "--json"])
    assert code == 2
    captured = capsys.readouterr()
    assert "2 of 3 images could not be read" in captured.err
    text, gone, happy = json.loads(captured.out.strip().splitlines()[-1])["images"]
    assert text["error"] == "not an image OpenCV can read" and not text["face"]
    assert gone["error"] == "no such file"
    assert happy["face"] and happy["error"] is None


def test_whole_image_classifies_a_ready_crop(images: dict[str, Path], capsys: Capsys) -> None:
    crop = cv2.imread(str(images["crop"]), cv2.IMREAD_GRAYSCALE)
    assert crop is not None
    assert main(["emotion", "--whole-image", str(images["crop"]), "--json"]) == 0
    (entry,) = _json(capsys)["images"]
    assert entry["face"] and entry["box"] == [0, 0, crop.shape[1], crop.shape[0]]
    assert [f["box"] for f in entry["faces"]] == [entry["box"]]
    assert sum(entry["probs"].values()) == pytest.approx(1.0, abs=1e-5)


def test_missing_weights_is_one_clear_line(images: dict[str, Path], capsys: Capsys) -> None:
    assert main(["emotion", str(images["happy"]), "--weights", "/nonexistent/net.pt"]) == 2
    assert "emotion model weights not found at /nonexistent/net.pt" in capsys.readouterr().err


def test_every_face_of_a_group_photo_is_read_largest_first(
    images: dict[str, Path], group: Scene, capsys: Capsys
) -> None:
    assert main(["emotion", str(images["group"]), "--json"]) == 0
    (entry,) = _json(capsys)["images"]
    faces = entry["faces"]
    hits, false = match(group.faces, [f["box"] for f in faces])
    assert len(faces) == len(group.faces) == 4 and None not in hits and false == 0
    assert faces[0]["box"] == entry["box"] and faces[0]["probs"] == entry["probs"]
    sides = [f["box"][2] for f in faces]
    assert sides == sorted(sides, reverse=True)
    for face in faces:
        assert face["top"] == max(face["probs"], key=face["probs"].get)
        assert sum(face["probs"].values()) == pytest.approx(1.0, abs=1e-5)
    assert main(["emotion", str(images["group"])]) == 0
    out = capsys.readouterr().out
    assert "the largest of 4 faces)" in out
    for k, face in enumerate(faces[1:], 2):
        x, y, w, h = face["box"]
        assert f"  face {k} of 4: {face['top']} " in out and f"(face {w}x{h} at {x},{y})" in out
