from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import ConfigError, load_settings
from tests.support.paths import ROOT


def test_defaults_come_from_config_yaml() -> None:
    s = load_settings(env={})
    assert s.server.port == 8080
    assert s.sessions.max_frame_bytes == 256 * 1024
    assert s.tmdb.vote_count_gte == 200
    assert s.mongodb_uri == "" and s.secret == ""


def test_environment_overrides_and_secrets() -> None:
    s = load_settings(
        env={
            "MOODREEL_SERVER_PORT": "9001",
            "MOODREEL_DISCORD_GUILD_IDS": "1, 2",
            "MOODREEL_SESSIONS_MAX_FPS": "12.5",
            "DISCORD_TOKEN": "abc",
            "MONGODB_URI": "mongodb://db:27017",
            "MOODREEL_SECRET": "s3cret",
        }
    )
    assert s.server.port == 9001
    assert s.discord.guild_ids == (1, 2)
    assert s.sessions.max_fps == 12.5
    assert s.discord.token == "abc"
    assert s.mongodb_uri == "mongodb://db:27017"
    assert s.secret == "s3cret"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MOODREEL_SERVER_PORT": "abc"}, "MOODREEL_SERVER_PORT: expected int"),
        ({"MOODREEL_SERVER_PORT": "70000"}, "server.port: must be between 1 and 65535"),
        ({"MOODREEL_DISCORD_DELIVER": "pigeon"}, "discord.deliver"),
        ({"MOODREEL_SESSIONS_MAX_FPS": "-1"}, "sessions.max_fps: must be positive"),
    ],
)
def test_invalid_settings_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env)


def test_unknown_keys_and_secrets_in_the_file_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("server:\n  prot: 1\n")
    with pytest.raises(ConfigError, match=r"unknown setting server\.prot"):
        load_settings(bad, env={})
    bad.write_text("discord:\n  token: leaked\n")
    with pytest.raises(ConfigError, match=r"unknown setting discord\.token"):
        load_settings(bad, env={})
    bad.write_text("nonsense: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, env={})


def test_cli_reports_a_bad_setting_in_one_line() -> None:
    env = {**os.environ, "MOODREEL_SERVER_PORT": "abc"}
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "catalogue", "stats"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "moodreel: invalid setting MOODREEL_SERVER_PORT: expected int (got 'abc')"


def test_cli_help_lists_the_commands() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0
    for command in ("serve", "catalogue", "recommend", "emotion", "analyse", "crawl"):
        assert command in proc.stdout
