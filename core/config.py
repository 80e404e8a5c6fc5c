"""Settings: config.yaml defaults, overridden by MOODREEL_<SECTION>_<KEY>.

Secrets come from the environment only.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config.yaml"


class ConfigError(ValueError):
    """An invalid setting; the message names it."""


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    request_timeout: float = 10.0

    def __post_init__(self) -> None:
        _check(1 <= self.port <= 65535, "server.port", "must be between 1 and 65535", self.port)
        _check(self.request_timeout > 0, "server.request_timeout", "must be positive", self.request_timeout)

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@dataclass(frozen=True)
class MongoSettings:
    database: str = "moodreel"
    data_dir: str = ""
    startup_timeout: float = 30.0
    request_timeout: float = 2.0
    operation_timeout: float = 15.0
    restart_tries: int = 5

    def __post_init__(self) -> None:
        _check(bool(self.database), "mongodb.database", "must not be empty", self.database)
        _check(self.startup_timeout > 0, "mongodb.startup_timeout", "must be positive", self.startup_timeout)
        _check(self.request_timeout > 0, "mongodb.request_timeout", "must be positive", self.request_timeout)
        _check(
            self.operation_timeout > 0,
            "mongodb.operation_timeout",
            "must be positive",
            self.operation_timeout,
        )
        _check(self.restart_tries >= 0, "mongodb.restart_tries", "must be 0 or more", self.restart_tries)


@dataclass(frozen=True)
class CatalogueSettings:
    sample: str = "core/data/sample_catalogue.jsonl.gz"
    palette_colours: int = 6
    workers: int = 0
    posters_dir: str = "../shared/data/movies/posters"

    def __post_init__(self) -> None:
        _check(
            1 <= self.palette_colours <= 16,
            "catalogue.palette_colours",
            "must be 1..16",
            self.palette_colours,
        )
        _check(self.workers >= 0, "catalogue.workers", "must be 0 (auto) or more", self.workers)


@dataclass(frozen=True)
class SessionSettings:
    link_ttl_minutes: float = 10.0
    baseline_seconds: float = 8.0
    stimulus_seconds: float = 8.0
    max_session_seconds: float = 120.0
    max_frame_bytes: int = 262144
    max_fps: float = 15.0
    min_face_frames: int = 5
    allowed_origins: tuple[str, ...] = ()
    retention_days: float = 30.0

    def __post_init__(self) -> None:
        for name in (
            "link_ttl_minutes",
            "baseline_seconds",
            "stimulus_seconds",
            "max_session_seconds",
            "max_fps",
            "retention_days",
        ):
            _check(getattr(self, name) > 0, f"sessions.{name}", "must be positive", getattr(self, name))
        _check(
            self.max_frame_bytes >= 1024, "sessions.max_frame_bytes", "must be >= 1024", self.max_frame_bytes
        )
        _check(self.min_face_frames >= 2, "sessions.min_face_frames", "must be >= 2", self.min_face_frames)


@dataclass(frozen=True)
class AnalysisSettings:
    workers: int = 2
    queue_per_worker: int = 4
    # With crop matching keeping boxes on a moving face, the whole-frame search only has to find
    # new faces and put sizes right: every 5th frame is a third of a second at 15 fps.
    detect_every: int = 5
    detect_width: int = 160

    def __post_init__(self) -> None:
        _check(self.workers >= 1, "analysis.workers", "must be >= 1", self.workers)
        _check(self.queue_per_worker >= 1, "analysis.queue_per_worker", "must be >= 1", self.queue_per_worker)
        _check(self.detect_every >= 1, "analysis.detect_every", "must be >= 1", self.detect_every)
        _check(self.detect_width >= 64, "analysis.detect_width", "must be >= 64", self.detect_width)


@dataclass(frozen=True)
class StageSettings:
    """The audience stage (core.stage, webcam_page.stage): one camera on a crowd, a background per window."""

    window_seconds: float = 20.0
    fade_seconds: float = 4.0
    max_faces: int = 30
    detect_size: int = 448
    detect_threshold: float = 0.6
    link_ttl_minutes: float = 720.0
    max_minutes: float = 240.0

    def __post_init__(self) -> None:
        _check(1 <= self.window_seconds <= 600, "stage.window_seconds", "must be 1..600", self.window_seconds)
        _check(
            0 <= self.fade_seconds <= self.window_seconds,
            "stage.fade_seconds",
            "must be between 0 and stage.window_seconds",
            self.fade_seconds,
        )
        _check(1 <= self.max_faces <= 64, "stage.max_faces", "must be 1..64", self.max_faces)
        _check(64 <= self.detect_size <= 1280, "stage.detect_size", "must be 64..1280", self.detect_size)
        _check(
            0 < self.detect_threshold < 1,
            "stage.detect_threshold",
            "must be in (0, 1)",
            self.detect_threshold,
        )
        for name in ("link_ttl_minutes", "max_minutes"):
            _check(getattr(self, name) > 0, f"stage.{name}", "must be positive", getattr(self, name))


@dataclass(frozen=True)
class RecommenderSettings:
    top_n: int = 10
    primary_weight: float = 0.6
    min_vote_average: float = 0.0

    def __post_init__(self) -> None:
        _check(1 <= self.top_n <= 100, "recommender.top_n", "must be 1..100", self.top_n)
        _check(
            0 <= self.min_vote_average <= 10,
            "recommender.min_vote_average",
            "must be between 0 (off) and 10",
            self.min_vote_average,
        )
        _check(
            0 < self.primary_weight <= 1,
            "recommender.primary_weight",
            "must be in (0, 1]",
            self.primary_weight,
        )


GROUP_STRATEGIES = ("average_without_misery", "average", "least_misery")


@dataclass(frozen=True)
class GroupSettings:
    """The group movie night (core.group): how members' fits are combined, and when the pick is made."""

    strategy: str = "average_without_misery"
    misery_threshold: float = 0.4  # a movie fitting a member less than this (0..1) is a misery for them
    pick_after_minutes: float = 60.0  # the group is picked for by itself this long after it started
    max_members: int = 25
    top_n: int = 10
    poll_size: int = 3

    def __post_init__(self) -> None:
        _check(
            self.strategy in GROUP_STRATEGIES,
            "group.strategy",
            "must be " + ", ".join(repr(s) for s in GROUP_STRATEGIES),
            self.strategy,
        )
        _check(
            0 <= self.misery_threshold < 1,
            "group.misery_threshold",
            "must be in [0, 1)",
            self.misery_threshold,
        )
        _check(
            self.pick_after_minutes > 0,
            "group.pick_after_minutes",
            "must be positive",
            self.pick_after_minutes,
        )
        _check(2 <= self.max_members <= 100, "group.max_members", "must be 2..100", self.max_members)
        _check(1 <= self.top_n <= 25, "group.top_n", "must be 1..25", self.top_n)
        _check(
            2 <= self.poll_size <= min(10, self.top_n),
            "group.poll_size",
            "must be 2..min(10, top_n)",
            self.poll_size,
        )


# Where a chat result goes: privately to the person who asked (with a Share button), as a direct
# message, or publicly in the channel where the command was used.
DELIVER_MODES = ("private", "dm", "channel")
DELIVER_RULE = "must be 'private', 'dm' or 'channel'"


@dataclass(frozen=True)
class DiscordSettings:
    guild_ids: tuple[int, ...] = ()
    deliver: str = "private"
    carousel_timeout: float = 900.0
    token: str = ""  # DISCORD_TOKEN

    def __post_init__(self) -> None:
        _check(self.deliver in DELIVER_MODES, "discord.deliver", DELIVER_RULE, self.deliver)
        _check(
            self.carousel_timeout > 0, "discord.carousel_timeout", "must be positive", self.carousel_timeout
        )


@dataclass(frozen=True)
class MattermostSettings:
    scheme: str = "https"
    port: int = 443
    locale: str = "en"
    deliver: str = "private"
    deliver_retry_seconds: float = 30.0
    url: str = ""  # MATTERMOST_URL (host name, or a full URL)
    token: str = ""  # MATTERMOST_TOKEN: the bot account's access token
    command_token: str = ""  # MATTERMOST_COMMAND_TOKEN: the slash command's verification token

    def __post_init__(self) -> None:
        _check(self.scheme in ("http", "https"), "mattermost.scheme", "must be http or https", self.scheme)
        _check(self.locale in ("en", "ko"), "mattermost.locale", "must be 'en' or 'ko'", self.locale)
        _check(self.deliver in DELIVER_MODES, "mattermost.deliver", DELIVER_RULE, self.deliver)
        _check(1 <= self.port <= 65535, "mattermost.port", "must be between 1 and 65535", self.port)
        _check(
            self.deliver_retry_seconds > 0,
            "mattermost.deliver_retry_seconds",
            "must be positive",
            self.deliver_retry_seconds,
        )

    @property
    def enabled(self) -> bool:
        return bool(self.url and self.token and self.command_token)


@dataclass(frozen=True)
class TmdbSettings:
    api_base: str = "https://api.themoviedb.org/3"
    image_base: str = "https://image.tmdb.org/t/p"
    watch_region: str = "KR"
    monetization: str = "flatrate"
    vote_average_gte: float = 6.0
    vote_count_gte: int = 200
    language: str = "ko-KR"
    pages: int = 100
    requests_per_second: float = 20.0
    timeout: float = 20.0
    max_retries: int = 5
    api_key: str = ""  # TMDB_API_KEY: a v3 key or a v4 read-access token

    def __post_init__(self) -> None:
        _check(self.pages >= 1, "tmdb.pages", "must be >= 1", self.pages)
        _check(
            self.requests_per_second > 0,
            "tmdb.requests_per_second",
            "must be positive",
            self.requests_per_second,
        )
        _check(self.max_retries >= 0, "tmdb.max_retries", "must be >= 0", self.max_retries)


@dataclass(frozen=True)
class WatchaSettings:
    base_url: str = "https://pedia.watcha.com"
    page_timeout: float = 20.0
    delay_seconds: float = 1.0
    mapping_file: str = "crawler/watcha_mapping.yaml"


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    mongodb: MongoSettings = field(default_factory=MongoSettings)
    catalogue: CatalogueSettings = field(default_factory=CatalogueSettings)
    sessions: SessionSettings = field(default_factory=SessionSettings)
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    stage: StageSettings = field(default_factory=StageSettings)
    recommender: RecommenderSettings = field(default_factory=RecommenderSettings)
    group: GroupSettings = field(default_factory=GroupSettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    mattermost: MattermostSettings = field(default_factory=MattermostSettings)
    tmdb: TmdbSettings = field(default_factory=TmdbSettings)
    watcha: WatchaSettings = field(default_factory=WatchaSettings)
    mongodb_uri: str = ""  # MONGODB_URI; empty = embedded mongod
    secret: str = ""  # MOODREEL_SECRET: signs session links and button contexts

    def resolve(self, relative: str) -> Path:
        """A path from the config, relative to the project root unless absolute."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else ROOT / path

    def posters_path(self) -> Path | None:
        """The local posters folder (`catalogue.posters_dir`), or None when unset or missing here."""
        if not self.catalogue.posters_dir:
            return None
        path = self.resolve(self.catalogue.posters_dir)
        return path if path.is_dir() else None


# Secrets: environment variable -> (section or None, field).
SECRETS: dict[str, tuple[str | None, str]] = {
    "DISCORD_TOKEN": ("discord", "token"),
    "MATTERMOST_URL": ("mattermost", "url"),
    "MATTERMOST_TOKEN": ("mattermost", "token"),
    "MATTERMOST_COMMAND_TOKEN": ("mattermost", "command_token"),
    "TMDB_API_KEY": ("tmdb", "api_key"),
    "MONGODB_URI": (None, "mongodb_uri"),
    "MOODREEL_SECRET": (None, "secret"),
}
SECRET_FIELDS = {(section, name) for section, name in SECRETS.values()}


def _check(ok: bool, name: str, rule: str, value: object) -> None:
    if not ok:
        raise ConfigError(f"invalid setting {name}: {rule} (got {value!r})")


def _coerce(name: str, kind: Any, value: Any) -> Any:
    """Turn a YAML or environment value into the field's type, or say which setting is wrong."""
    origin = typing.get_origin(kind)
    if origin is tuple:
        inner = typing.get_args(kind)[0]
        if isinstance(value, str):
            value = [v for v in (s.strip() for s in value.split(",")) if v]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"invalid setting {name}: must be a list (got {value!r})")
        return tuple(_coerce(name, inner, v) for v in value)
    if origin in (types.UnionType, typing.Union):
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                return value.lower() in ("1", "true", "yes", "on")
            return bool(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if kind is float:
            return float(value)
        return "" if value is None else str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"invalid setting {name}: expected {kind.__name__} (got {value!r})") from None


def _build(cls: type, section: str, values: dict[str, Any], env: dict[str, str]) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known or (section, key) in SECRET_FIELDS:
            raise ConfigError(f"unknown setting {section}.{key} in config.yaml")
    for f in dataclasses.fields(cls):
        if (section, f.name) in SECRET_FIELDS:
            continue
        env_name = f"MOODREEL_{section}_{f.name}".upper()
        if env_name in env:
            kwargs[f.name] = _coerce(env_name, hints[f.name], env[env_name])
        elif f.name in values:
            kwargs[f.name] = _coerce(f"{section}.{f.name}", hints[f.name], values[f.name])
    for env_name, (sec, name) in SECRETS.items():
        if sec == section and env.get(env_name):
            kwargs[name] = env[env_name]
    return cls(**kwargs)


def load_settings(path: Path | str | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read config.yaml (or `path`, or $MOODREEL_CONFIG) and apply environment overrides."""
    env = dict(os.environ if env is None else env)
    path = Path(path or env.get("MOODREEL_CONFIG") or DEFAULT_CONFIG)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections")
    hints = typing.get_type_hints(Settings)
    sections: dict[str, Any] = {}
    for key in raw:
        if key not in hints or not dataclasses.is_dataclass(hints[key]):
            raise ConfigError(f"unknown section {key!r} in {path}")
    for f in dataclasses.fields(Settings):
        cls = hints[f.name]
        if isinstance(cls, type) and dataclasses.is_dataclass(cls):
            values = raw.get(f.name) or {}
            if not isinstance(values, dict):
                raise ConfigError(f"invalid setting {f.name}: must be a mapping")
            sections[f.name] = _build(cls, f.name, values, env)
    return Settings(**sections, mongodb_uri=env.get("MONGODB_URI", ""), secret=env.get("MOODREEL_SECRET", ""))
