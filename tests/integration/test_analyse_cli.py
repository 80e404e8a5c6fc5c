"""`moodreel analyse`: two folders of face images in, the emotion result and movie picks out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import pytest
import pytest_asyncio

from cli.main import main
from core.config import Settings
from core.storage.store import Store
from core.values.emotions import EMOTIONS
from tests.support.face_frames import decode_image, face_frames, no_face_frames
from tests.support.services import load_some_movies


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


@pytest_asyncio.fixture
async def cli(
    store: Store, settings: Settings, mongo_uri: str, database_name: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Awaitable[Outcome]]:
    """Run `moodreel analyse ...` in this process against the test database (with a few movies in it)."""
    await load_some_movies(store, settings)
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    monkeypatch.setenv("MOODREEL_MONGODB_DATABASE", database_name)
    monkeypatch.setenv("MOODREEL_SECRET", "test")

    async def run(*args: str, capsys: pytest.CaptureFixture[str]) -> Outcome:
        code = await asyncio.to_thread(main, ["analyse", *args])  # the CLI runs its own event loop
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("faces")
    baseline, stimulus = root / "baseline", root / "stimulus"
    baseline.mkdir()
    stimulus.mkdir()
    for i, jpeg in enumerate(face_frames(8, (320, 240), labels=["neutral"], seed=5)):
        (baseline / f"{i:02d}.jpg").write_bytes(jpeg)
    for i, jpeg in enumerate(face_frames(8, (320, 240), labels=["happy"], seed=6)):
        if i % 2:  # PNGs too: they are re-encoded, as the page's frames are JPEG
            cv2.imwrite(str(stimulus / f"{i:02d}.png"), decode_image(jpeg))
        else:
            (stimulus / f"{i:02d}.jpg").write_bytes(jpeg)
    (stimulus / "notes.txt").write_text("not an image")
    return baseline, stimulus


Cli = Callable[..., Awaitable[Outcome]]


async def test_analyse_prints_json_with_the_result(
    folders: tuple[Path, Path], cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline, stimulus = folders
    done = await cli(
        "--baseline", str(baseline), "--stimulus", str(stimulus), "--json", "--top", "5", capsys=capsys
    )
    assert done.code == 0, done.err
    doc = json.loads(done.out.strip().splitlines()[-1])
    assert doc["primary"] in EMOTIONS
    assert len(doc["secondary"]) <= 2 and set(doc["secondary"]) <= set(EMOTIONS)
    assert doc["primary"] not in doc["secondary"]
    assert doc["method"] in ("change", "levels")
    assert doc["face_frames"] == {"baseline": 8, "stimulus": 8}
    assert len(doc["scores"]) == 7 and {"p_value", "effect_size", "change"} <= set(doc["scores"][0])
    assert 1 <= len(doc["recommendations"]) <= 5
    assert {"tmdb_id", "title", "score", "reason"} <= set(doc["recommendations"][0])
    assert "skipped notes.txt (not an image file)" in done.out


async def test_too_few_faces_is_a_clear_error_or_the_declared_feeling(
    tmp_path: Path, folders: tuple[Path, Path], cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for i, jpeg in enumerate(no_face_frames(3, (320, 240))):
        (empty / f"{i}.jpg").write_bytes(jpeg)
    done = await cli("--baseline", str(empty), "--stimulus", str(folders[1]), capsys=capsys)
    assert done.code == 2
    assert "try again" in done.err and "--feeling" in done.err
    # Declared instead; without --json the result is a table.
    done = await cli(
        "--baseline", str(empty), "--stimulus", str(folders[1]), "--feeling", "sad", capsys=capsys
    )
    assert done.code == 0, done.err
    assert "You told us you feel Sad. (too few face images" in done.out
    assert "face images: baseline 0, stimulus 8" in done.out and " score " in done.out


async def test_missing_folder_is_a_clear_error(
    tmp_path: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    done = await cli("--baseline", str(tmp_path / "nope"), "--stimulus", str(tmp_path), capsys=capsys)
    assert done.code == 2 and "is not a folder" in done.err
    done = await cli("--baseline", str(tmp_path), "--stimulus", str(tmp_path), capsys=capsys)
    assert done.code == 2 and "no images in" in done.err
