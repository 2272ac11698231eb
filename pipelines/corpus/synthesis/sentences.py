"""Deterministic English sentences from a small grammar, for the synthetic corpus.

Sentence ``i`` (1-based) is the utterance id ``i`` of every speaker who says it, like VCTK's
numbered prompts. The grammar uses common real words only, so a speech recogniser (the Whisper
check later in the pipeline) can transcribe the clips.
"""

from __future__ import annotations

import numpy as np

__all__ = ["build_sentences"]

WORDS: dict[str, tuple[str, ...]] = {
    "name": ("Sarah", "Peter", "Emma", "David", "Laura", "James", "Anna", "Thomas", "Lucy",
             "Michael", "Helen", "Robert"),
    "person": ("farmer", "teacher", "doctor", "driver", "painter", "student", "baker", "nurse",
               "fisherman", "neighbour", "gardener", "pilot"),
    "thing": ("basket", "letter", "bicycle", "window", "blanket", "lamp", "ticket", "jacket",
              "bottle", "picture", "kettle", "map", "box", "chair"),
    "things": ("apples", "plates", "candles", "books", "chairs", "flowers", "cups", "shoes",
               "stones", "papers"),
    "place": ("station", "market", "library", "harbour", "garden", "village", "kitchen",
              "museum", "bridge", "school", "office", "river"),
    "animal": ("dog", "horse", "cat", "fox", "rabbit", "goat", "owl", "sheep"),
    "adj": ("old", "young", "quiet", "tall", "friendly", "busy", "small", "careful", "happy",
            "tired", "clever", "brave"),
    "colour": ("red", "blue", "green", "yellow", "white", "black", "brown", "grey"),
    "state": ("heavy", "cold", "warm", "wet", "late", "expensive", "early", "dark", "loud"),
    "verb_t": ("carried", "painted", "found", "cleaned", "opened", "borrowed", "repaired",
               "bought", "dropped", "moved", "washed", "sold"),
    "verb_i": ("walked", "drove", "ran", "hurried", "cycled", "travelled", "returned", "went"),
    "verb_imp": ("put", "leave", "place", "keep", "hide", "set"),
    "verb_ing": ("running", "sleeping", "eating", "playing", "standing", "waiting"),
    "verb_inf": ("carry", "open", "move", "use", "read", "wear", "fix", "sell"),
    "prep": ("under", "behind", "beside", "near", "on"),
    "furniture": ("table", "bed", "door", "shelf", "stairs", "sofa", "desk"),
    "time": ("this morning", "last night", "after lunch", "on Sunday", "before dinner",
             "yesterday", "in the evening", "last week", "at noon", "every day"),
    "number": ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
               "twelve", "twenty"),
    "day": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "relative": ("sister", "brother", "mother", "father", "uncle", "aunt", "cousin",
                 "grandmother"),
    "event": ("party", "wedding", "meeting", "picnic", "dinner", "concert"),
    "weather": ("rain", "snow", "wind", "fog", "storm", "sunshine"),
}

TEMPLATES: tuple[str, ...] = (
    "The {adj} {person} {verb_t} the {colour} {thing} {time}.",
    "{name} {verb_i} to the {place} {time}.",
    "Please {verb_imp} the {colour} {thing} {prep} the {furniture}.",
    "We need {number} {colour} {things} for the {event} on {day}.",
    "Did you see the {animal} {verb_ing} near the {place}?",
    "{name} said the {thing} was too {state} to {verb_inf}.",
    "The {place} will open at {number} o'clock on {day}.",
    "My {relative} {verb_t} a {adj} {thing} {time}.",
    "The {weather} kept the {person} away from the {place} {time}.",
    "{name} {verb_i} home with a {adj} {person} after the {event}.",
    "There are {number} {things} {prep} the {furniture} in the {place}.",
    "Why was the {person} so {adj} at the {event} on {day}?",
    "The {animal} {verb_i} across the {place} before the {weather} came.",
    "I think the {thing} {prep} the {furniture} belongs to {name}.",
)


def _fill(template: str, rng: np.random.Generator) -> str:
    slots = {name: words[rng.integers(len(words))] for name, words in WORDS.items()}
    return template.format(**slots)


def build_sentences(n: int, seed: int) -> list[str]:
    """``n`` distinct sentences; the same ``(n, seed)`` always gives the same list.

    Templates rotate so consecutive utterance ids have different structures.
    """
    if n < 1:
        raise ValueError(f"need at least one sentence, got n={n}")
    rng = np.random.default_rng(seed)
    out: list[str] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 100 * n:
            raise ValueError(f"the grammar could not produce {n} distinct sentences")
        sentence = _fill(TEMPLATES[len(out) % len(TEMPLATES)], rng)
        if sentence not in seen:
            seen.add(sentence)
            out.append(sentence)
    return out
