"""Which movie genres suit which emotion, with the reason for each choice.

Genre names are TMDB's English ones, as stored on every movie. The table mixes two strategies from
media-psychology research, and says which one each row uses:
- mood management (Zillmann 1988, "Mood management through communication choices", American
  Behavioral Scientist 31(3)): people pick entertainment that keeps a good mood and repairs a bad
  one, and calms over-arousal or lifts boredom;
- meaningful, mood-congruent viewing (Oliver 1993, "Exploring the paradox of the enjoyment of sad
  films", Human Communication Research 19(3); Oliver & Raney 2011): sad or reflective viewers often
  want poignant stories that feel understanding rather than forced cheer.
Nothing here is a clinical claim; like the colour table, it is a documented starting point.

A mood's genres are the primary emotion's (the secondary emotions already shape the colours, and
adding their genres would open most of the catalogue); every movie with at least one of them and
none of the primary emotion's excluded genres (EXCLUDED_GENRES, each with its reason) is a
candidate, and the poster colours rank the candidates.
"""

from __future__ import annotations

from core.values.emotions import check_emotion
from core.values.results import EmotionResult

# TMDB's movie genres by id (GET /genre/movie/list?language=en-US); fixed by TMDB. The crawler maps
# ids to these names, and every movie stores them.
TMDB_GENRE_IDS: dict[int, str] = {
    28: "Action", 12: "Adventure", 16: "Animation", 35: "Comedy", 80: "Crime", 99: "Documentary",
    18: "Drama", 10751: "Family", 14: "Fantasy", 36: "History", 27: "Horror", 10402: "Music",
    9648: "Mystery", 10749: "Romance", 878: "Science Fiction", 10770: "TV Movie", 53: "Thriller",
    10752: "War", 37: "Western",
}  # fmt: skip
TMDB_GENRES: frozenset[str] = frozenset(TMDB_GENRE_IDS.values())

EMOTION_GENRES: dict[str, tuple[tuple[str, str], ...]] = {
    "happy": (
        ("Comedy", "keeps a good mood going: in good moods people favour light, upbeat fare (Zillmann)"),
        ("Animation", "bright, playful worlds that match high-energy joy"),
        ("Adventure", "momentum and discovery for an active, upbeat mood"),
        ("Family", "warm, low-stakes stories that share the good feeling"),
        ("Music", "rhythm and song amplify positive energy"),
    ),
    "sad": (
        ("Drama", "sad viewers often seek poignant stories that feel understanding (Oliver 1993)"),
        ("Romance", "tender, hopeful stories lift a low mood gently"),
        ("Family", "comfort and warmth without demands"),
        ("Comedy", "mood repair: the classic way to lift sadness (Zillmann)"),
    ),
    "angry": (
        ("Action", "gives high arousal a channel, with a clear release at the end"),
        ("Crime", "wrongs confronted and justice pursued answer a sense of injustice"),
        ("Thriller", "matches high arousal with tension that pays off"),
        ("Comedy", "humour defuses irritation (mood repair)"),
    ),
    "disgust": (
        ("Comedy", "lightness and laughter clear a sour mood (mood repair)"),
        ("Mystery", "a puzzle pulls attention away from what repelled you"),
        ("Science Fiction", "somewhere else entirely: distance from the everyday"),
        ("Crime", "moral disgust finds resolution when wrongdoing is exposed"),
    ),
    "fear": (
        ("Family", "safety and reassurance: calming an over-aroused mood (Zillmann)"),
        ("Animation", "gentle, safe worlds with kind endings"),
        ("Fantasy", "wonder at a protective distance from real threats"),
        ("Mystery", "uncertainty made safe: suspense that ends in answers"),
    ),
    "surprise": (
        ("Science Fiction", "novelty and big ideas feed an alert, curious mood"),
        ("Mystery", "twists and reveals keep the surprise coming"),
        ("Fantasy", "the unexpected as a world of its own"),
        ("Adventure", "discovery around every corner"),
    ),
    "neutral": (
        ("Drama", "a calm, open mood has room for character-driven stories"),
        ("Comedy", "easy, light engagement for an even keel"),
        ("Romance", "gentle stories suit a relaxed mood"),
        ("History", "calm attention suits slower, reflective films"),
    ),
}

for _emotion, _rows in EMOTION_GENRES.items():
    for _genre, _ in _rows:
        assert _genre in TMDB_GENRES, f"{_emotion}: {_genre!r} is not a TMDB genre"

# Genres a mood never gets, whatever its colours: a movie in one of them is left out even when it is
# also in one of the mood's genres (a horror comedy is not a comedy for a sad viewer). The same two
# strategies decide: mood management does not feed a bad mood more of itself nor break a good one,
# and calming an anxious viewer means nothing threatening.
EXCLUDED_GENRES: dict[str, tuple[tuple[str, str], ...]] = {
    "happy": (
        ("Horror", "dread and gore break a good mood rather than keep it (Zillmann)"),
        ("War", "loss and atrocity are the opposite of the light fare good moods seek"),
        ("Thriller", "sustained tension and threat cut into a cheerful mood"),
    ),
    "sad": (
        ("Horror", "fear and gore on top of sadness: no poignancy, no repair"),
        ("War", "grief and loss in bulk deepen a low mood instead of understanding it"),
        ("Thriller", "menace rather than tenderness; bleak thrillers were the grim sad picks"),
        ("Crime", "violence and cruelty are not the poignant, hopeful stories sad viewers seek"),
        ("Action", "violent spectacle is neither poignant nor comforting (a brutal epic is no repair)"),
    ),
    "angry": (("Horror", "dread and cruelty feed anger instead of giving it a release"),),
    "disgust": (
        ("Horror", "gore and body horror add to the revulsion"),
        ("War", "atrocity is moral disgust without resolution"),
    ),
    "fear": (
        ("Horror", "an anxious viewer needs calming, not more fear (Zillmann: calm over-arousal)"),
        ("Thriller", "menace and suspense that keep arousal high"),
        ("Crime", "threat, violence and victims: nothing grim for fear"),
        ("War", "mortal danger on screen keeps fear alive"),
        ("Action", "violence and peril keep arousal up instead of soothing it"),
        ("Western", "gunfights and bleak frontiers: grim rather than safe"),
    ),
    "surprise": (("Horror", "jump scares are shock and dread, not the curious, open surprise of the mood"),),
    "neutral": (
        ("Horror", "a calm, even mood is not a cue for fright (a slasher comedy is still a slasher)"),
        ("Thriller", "tension upsets a calm, even keel"),
        ("War", "violence and loss disturb a calm mood"),
    ),
}

for _emotion, _rows in EXCLUDED_GENRES.items():
    _included = {genre for genre, _ in EMOTION_GENRES[_emotion]}
    for _genre, _ in _rows:
        assert _genre in TMDB_GENRES, f"{_emotion}: {_genre!r} is not a TMDB genre"
        assert _genre not in _included, f"{_emotion}: {_genre!r} is both included and excluded"


def excluded_for(emotion: str) -> tuple[str, ...]:
    return tuple(genre for genre, _ in EXCLUDED_GENRES[check_emotion(emotion)])


def mood_excluded(emotion: EmotionResult) -> tuple[str, ...]:
    """The genres no pick for the mood may have: the primary emotion's exclusions."""
    return excluded_for(emotion.primary)


def genres_for(emotion: str) -> tuple[str, ...]:
    return tuple(genre for genre, _ in EMOTION_GENRES[check_emotion(emotion)])


def mood_genres(emotion: EmotionResult) -> tuple[str, ...]:
    """The genres whose movies are candidates for the mood: the primary emotion's."""
    return genres_for(emotion.primary)
