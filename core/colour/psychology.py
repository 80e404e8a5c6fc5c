"""The seven FER2013 emotions as colours: a research-informed table, used as a soft prior.

Each emotion has three colours, strongest association first, with the share of that emotion's weight
each colour carries. The evidence column says how firm each pairing is:

- robust: found across many nations and languages. Jonauskaite et al. (2020), "Universal patterns in
  color-emotion associations are further shaped by linguistic and geographic proximity",
  Psychological Science 31(10) (4,598 participants, 30 nations, 20 emotion concepts x 12 colour
  terms): red–anger, yellow–joy, black–sadness and fear, grey–sadness are among the most consistent
  pairs; black–hate and brown–disgust are also reported there, less strongly.
- reported: found in a single-population study. Kaya & Epps (2004), "Relationship between color and
  emotion: a study of college students", College Student Journal 38(3): green with relaxation,
  comfort and happiness; blue with calm; yellow with happiness and excitement; black and grey with
  sadness, fear and boredom.
- design: our choice where research gives no single colour (surprise is not among the 20 emotions
  of the Geneva Emotion Wheel that Jonauskaite et al. used). It follows Valdez & Mehrabian (1994),
  "Effects of color on emotions", J. Exp. Psychol. General 123(4): saturation raises arousal,
  brightness raises pleasantness.

Colour-emotion links are statistical tendencies shaped by culture and context, not rules; the
recommender treats this table as a soft prior that nudges which posters fit, never as a diagnosis.

A mood (primary + two secondary emotions) becomes up to five colours: the primary's three, carrying
`primary_weight` of the total, and the strongest colour of each secondary, sharing the rest equally.
An emotion's strength (0..1) sets its colours' intensity, as in the capstone: at full strength the
colour is the table's; a weaker feeling is a little lighter and softer but keeps its identity: the
same hue angle, at most 35% less chroma, and at most ΔE00 8 from the table colour at strength 0
(the earlier rule, 65% less chroma and 60% of the way to L* = 78, turned a weak "vivid magenta" into
a dusty pink and "black" into a mid-grey). Each colour is named after the colour shown: the nearest
of its emotion's table colours and the plain colour names (shown_colour_name), so a softened colour
that no longer looks like the table's says what it looks like.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.colour.ciede2000 import ciede2000
from core.colour.space import lab_to_srgb, srgb_to_lab
from core.values.emotions import EMOTIONS, check_emotion
from core.values.results import EmotionResult, MoodColour

DEFAULT_PRIMARY_STRENGTH = 1.0
DEFAULT_SECONDARY_STRENGTH = 0.5  # the same as a declared mood from the webcam page's fallback
# Intensity: a weaker feeling moves its colour along the path towards a pale, soft version of the same
# hue (lightness up towards L* = 78, never darker; chroma down to 65%), but only by up to
# SOFTEN_DELTA_E at strength 0, so the colour stays recognisably itself (under the ΔE00 10 within which
# the quality benchmark counts a poster colour as a mood colour).
PALE_LIGHTNESS = 78.0
MIN_CHROMA_SCALE = 0.65
SOFTEN_DELTA_E = 8.0
ACHROMATIC_CHROMA = 25.0  # below this chroma the softening budget shrinks in proportion ...
ACHROMATIC_SHARE = 0.35  # ... down to this share of it for black and greys
DUPLICATE_DELTA_E = 6.0  # a secondary colour this close to one already chosen is replaced by its next one

# Who says so, for the evidence column.
SOURCES: dict[str, str] = {
    "J2020": "Jonauskaite et al. 2020, Psychological Science 31(10), 4,598 people in 30 nations",
    "KE2004": "Kaya & Epps 2004, College Student Journal 38(3)",
    "VM1994": "Valdez & Mehrabian 1994, J. Exp. Psychol. General 123(4)",
}


@dataclass(frozen=True)
class PaletteEntry:
    name: str
    name_ko: str
    hex: str
    share: float  # of its emotion's weight
    evidence: str  # robust | reported | design
    note: str

    @property
    def rgb(self) -> tuple[int, int, int]:
        return (int(self.hex[1:3], 16), int(self.hex[3:5], 16), int(self.hex[5:7], 16))


E = PaletteEntry
# fmt: off
EMOTION_PALETTES: dict[str, tuple[PaletteEntry, ...]] = {
    "angry": (
        E("red", "빨강", "#d62828", 0.5, "robust", "J2020: red–anger, among the most universal; KE2004"),
        E("dark crimson", "진홍", "#7a0e1a", 0.3, "design", "darker, heavier red; VM1994: dark = unpleasant"),
        E("black", "검정", "#1c1c1c", 0.2, "reported", "J2020: black goes with hate and anger"),
    ),
    "disgust": (
        E("brown", "갈색", "#7a5230", 0.45, "reported", "J2020: brown is the colour most tied to disgust"),
        E("olive", "올리브색", "#6f7a2e", 0.35, "design", "murky yellow-green of decay, low pleasantness"),
        E("bile green", "황록색", "#aab52a", 0.2, "design", "sickly yellow-green"),
    ),
    "fear": (
        E("black", "검정", "#141414", 0.45, "robust", "J2020: black–fear; KE2004: black with fear"),
        E("deep violet", "짙은 보라", "#3a2352", 0.3, "design", "dark and cool; VM1994: dark = unpleasant"),
        E("dark slate", "짙은 청회색", "#2f3e46", 0.25, "design", "cold, dim grey-blue"),
    ),
    "happy": (
        E("sunny yellow", "노랑", "#ffd23f", 0.5, "robust", "J2020: yellow–joy; KE2004: yellow–happiness"),
        E("warm orange", "주황", "#ff8c1a", 0.3, "design", "bright warm hue beside yellow; VM1994"),
        E("fresh green", "연두", "#7bc950", 0.2, "reported", "KE2004: green with happiness and comfort"),
    ),
    "sad": (
        E("grey", "회색", "#6e7378", 0.4, "robust", "J2020: grey–sadness; KE2004: grey–sadness, boredom"),
        E("black", "검정", "#161616", 0.35, "robust", "J2020: black–sadness; KE2004"),
        E("dark blue", "남색", "#23395b", 0.25, "design", "'feeling blue'; J2020: grey, black stronger"),
    ),
    "surprise": (
        E("vivid magenta", "선명한 자홍", "#e0218a", 0.4, "design", "VM1994: high saturation = high arousal"),
        E("electric violet", "밝은 보라", "#8f3fd9", 0.3, "design", "saturated and unexpected"),
        E("bright cyan", "밝은 하늘색", "#1fc8e0", 0.3, "design", "bright and saturated: alert, open"),
    ),
    "neutral": (
        E("sage green", "세이지 그린", "#9caf88", 0.4, "reported", "KE2004: green with relaxation and calm"),
        E("soft blue", "연한 파랑", "#8fa9c8", 0.35, "reported", "KE2004: blue with calm and relaxation"),
        E("warm grey", "따뜻한 회색", "#bdb5a6", 0.25, "design", "low chroma = low arousal (VM1994)"),
    ),
}
# fmt: on
del E

# Plain names for any colour (poster colours in the recommender's reasons), matched by CIEDE2000.
BASIC_COLOURS: dict[str, tuple[str, str]] = {
    "black": ("#141414", "검정"),
    "charcoal": ("#3a3a3a", "짙은 회색"),
    "grey": ("#808080", "회색"),
    "silver": ("#c0c0c0", "은색"),
    "white": ("#f4f4f4", "흰색"),
    "cream": ("#f1e6c8", "크림색"),
    "beige": ("#cdb891", "베이지"),
    "brown": ("#7a5230", "갈색"),
    "dark brown": ("#3f2a1a", "고동색"),
    "tan": ("#b58a5a", "황갈색"),
    "red": ("#d62828", "빨강"),
    "dark red": ("#7a0e1a", "검붉은색"),
    "pink": ("#f08cb4", "분홍"),
    "magenta": ("#d0208a", "자홍"),
    "orange": ("#ff8c1a", "주황"),
    "gold": ("#d4a82a", "금색"),
    "yellow": ("#ffd23f", "노랑"),
    "olive": ("#6f7a2e", "올리브색"),
    "green": ("#3c9a3c", "초록"),
    "light green": ("#9ed27a", "연두"),
    "dark green": ("#1e4a2a", "짙은 초록"),
    "teal": ("#1f8a8a", "청록"),
    "cyan": ("#1fc8e0", "하늘색"),
    "light blue": ("#9cc3e6", "연한 파랑"),
    "blue": ("#2a5cc8", "파랑"),
    "navy": ("#1a2650", "남색"),
    "purple": ("#7a3fb0", "보라"),
    "lavender": ("#b9a5da", "연보라"),
    "plum": ("#5a2a4a", "자주"),
}
_BASIC_NAMES = tuple(BASIC_COLOURS)
_BASIC_LAB = srgb_to_lab([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h, _ in BASIC_COLOURS.values()])


def basic_colour_name(lab: Sequence[float] | np.ndarray, locale: str = "en") -> str:
    """The nearest plain colour name (by ΔE00) for a CIELAB colour."""
    name = _BASIC_NAMES[int(np.argmin(ciede2000(_BASIC_LAB, np.asarray(lab, dtype=np.float64))))]
    return BASIC_COLOURS[name][1] if locale == "ko" else name


def colour_name(colour: MoodColour, locale: str = "en") -> str:
    """A mood colour's name in the UI language (its Korean name for "ko")."""
    if locale == "ko":
        if colour.name_ko:
            return colour.name_ko
        for entry in EMOTION_PALETTES.get(colour.emotion, ()):
            if entry.name == colour.name:
                return entry.name_ko
    return colour.name


@functools.cache
def _names_lab(emotion: str) -> np.ndarray:
    """CIELAB of the emotion's table colours followed by the plain colours, for naming."""
    return np.concatenate([srgb_to_lab([e.rgb for e in EMOTION_PALETTES[emotion]]), _BASIC_LAB])


def shown_colour_name(emotion: str, lab: Sequence[float] | np.ndarray) -> tuple[str, str]:
    """(English, Korean) name of the colour as shown: the nearest by ΔE00 among the emotion's table
    colours and the plain colour names, so a softened "vivid magenta" that now looks pink says so.
    The table's own colours come first, so at full strength a colour keeps the table's name."""
    entries = EMOTION_PALETTES[check_emotion(emotion)]
    gaps = ciede2000(_names_lab(emotion), np.asarray(lab, dtype=np.float64))
    best = int(np.argmin(gaps))
    if best < len(entries):
        return entries[best].name, entries[best].name_ko
    name = _BASIC_NAMES[best - len(entries)]
    return name, BASIC_COLOURS[name][1]


def _check_strength(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0 or value != value:
        raise ValueError(f"strength of {name!r} must be between 0 and 1 (got {value!r})")
    return value


Intensity = Callable[[tuple[int, int, int], float], tuple[tuple[int, int, int], tuple[float, float, float]]]


def _softened(lab: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points t (n,) along the path from a colour to its pale, soft version (same hue angle), (n, 3)."""
    chroma_scale = 1 - t * (1 - MIN_CHROMA_SCALE)
    lightness = lab[0] + t * max(PALE_LIGHTNESS - float(lab[0]), 0.0)  # lighter, never darker
    return np.stack([lightness, lab[1] * chroma_scale, lab[2] * chroma_scale], -1)


_PATH_STEPS = np.linspace(0.0, 1.0, 513)


@functools.cache
def _path(rgb: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The colour's softening path sampled finely, and each point's ΔE00 from the colour (rising)."""
    lab = srgb_to_lab(rgb)
    points = _softened(lab, _PATH_STEPS)
    return points, np.maximum.accumulate(ciede2000(points, lab))


def intensify(
    rgb: tuple[int, int, int], strength: float
) -> tuple[tuple[int, int, int], tuple[float, float, float]]:
    """The colour at an emotion's strength: full strength keeps it; weaker is a little lighter and
    softer, with the same hue angle, at ΔE00 (1 − strength) × its budget from the table colour (or at
    the end of the path, for colours already pale and soft). The budget is SOFTEN_DELTA_E for a
    colour with a hue (chroma ACHROMATIC_CHROMA or more) and shrinks to ACHROMATIC_SHARE of it
    for black and greys, whose only identity is their lightness: a weak "black" stays black.

    Returns sRGB and its CIELAB (recomputed from the gamut-clipped sRGB, so the two always agree).
    """
    s = _check_strength("colour", strength)
    if s < 1:
        points, gaps = _path((int(rgb[0]), int(rgb[1]), int(rgb[2])))
        chroma = float(np.hypot(points[0][1], points[0][2]))
        budget = SOFTEN_DELTA_E * min(1.0, max(ACHROMATIC_SHARE, chroma / ACHROMATIC_CHROMA))
        t = float(np.interp((1 - s) * budget, gaps, _PATH_STEPS))
        out = lab_to_srgb(_softened(points[0], np.array([t]))[0])
        rgb = (int(out[0]), int(out[1]), int(out[2]))
    lab_out = srgb_to_lab(rgb)
    return rgb, (round(float(lab_out[0]), 3), round(float(lab_out[1]), 3), round(float(lab_out[2]), 3))


def _strength(emotion: EmotionResult, name: str, default: float) -> float:
    value = emotion.strengths.get(name)
    return default if value is None else _check_strength(name, value)


def _colour(
    emotion: str, rgb: tuple[int, int, int], lab: tuple[float, float, float], weight: float
) -> MoodColour:
    name, name_ko = shown_colour_name(emotion, lab)
    return MoodColour(emotion, name, rgb, lab, weight, name_ko)


def mood_colours(
    emotion: EmotionResult, primary_weight: float = 0.6, *, intensity: Intensity = intensify
) -> tuple[MoodColour, ...]:
    """The mood's colours with weights summing to 1: the primary's three, then one per secondary.

    `primary_weight` must exceed 1/3 so the primary emotion outweighs each secondary one. Each colour
    is named after the colour shown (see shown_colour_name). `intensity` turns a table colour and a
    strength into the colour shown (the quality benchmark passes the earlier rule to compare).
    """
    if not 1 / 3 < primary_weight <= 1:
        raise ValueError(
            f"primary_weight must be above 1/3 and at most 1, so the primary emotion outweighs each "
            f"secondary one (got {primary_weight!r})"
        )
    primary = check_emotion(emotion.primary)
    secondary = [check_emotion(s) for s in emotion.secondary]
    out: list[MoodColour] = []
    strength = _strength(emotion, primary, DEFAULT_PRIMARY_STRENGTH)
    for entry in EMOTION_PALETTES[primary]:
        rgb, lab = intensity(entry.rgb, strength)
        out.append(_colour(primary, rgb, lab, primary_weight * entry.share))
    each = (1 - primary_weight) / len(secondary) if secondary else 0.0
    for name in secondary:
        if each <= 0:
            break
        strength = _strength(emotion, name, DEFAULT_SECONDARY_STRENGTH)
        chosen = None
        for entry in EMOTION_PALETTES[name]:
            rgb, lab = intensity(entry.rgb, strength)
            taken = np.array([c.lab for c in out])
            if chosen is None:
                chosen = (entry, rgb, lab)  # fallback if every colour repeats one already chosen
            if float(ciede2000(taken, np.array(lab)).min()) >= DUPLICATE_DELTA_E:
                chosen = (entry, rgb, lab)
                break
        assert chosen is not None
        entry, rgb, lab = chosen
        out.append(_colour(name, rgb, lab, each))
    total = sum(c.weight for c in out)
    return tuple(dataclasses.replace(c, weight=round(c.weight / total, 6)) for c in out)


def emotion_from_names(
    primary: str,
    secondary: Sequence[str] = (),
    strengths: Mapping[str, float] | None = None,
    method: str = "declared",
) -> EmotionResult:
    """An EmotionResult from emotion names (the CLI, a declared feeling, tests).

    Missing secondaries are filled with the primary's usual neighbours (as for a declared feeling);
    missing strengths default to 1.0 for the primary and 0.5 for the secondaries.
    """
    from core.emotion.stats import DECLARED_NEIGHBOURS

    first = check_emotion(primary)
    second = [check_emotion(s) for s in secondary]
    if len(second) > 2:
        raise ValueError(f"at most two secondary emotions, got {len(second)}: {', '.join(second)}")
    chosen = [first, *second]
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"the primary and secondary emotions must all differ (got {', '.join(chosen)})")
    for fill in (*DECLARED_NEIGHBOURS[first], *EMOTIONS):
        if len(second) == 2:
            break
        if fill not in chosen:
            second.append(fill)
            chosen.append(fill)
    values = {first: DEFAULT_PRIMARY_STRENGTH} | {s: DEFAULT_SECONDARY_STRENGTH for s in second}
    for name, value in (strengths or {}).items():
        values[check_emotion(name)] = _check_strength(name, value)
    return EmotionResult(first, (second[0], second[1]), values, (), method, (0, 0))
