"""Readable generated names for runs started without one (W&B's ``fluent-river-12`` style).

``adjective-noun-number``: the two words are picked from the run id (so every process of a
run, and a rerun of the same id, agrees on them) and the number is how many runs the
project's folder holds, the new one included. Two machines can produce the same name;
that is harmless: the id stays the run's key, the name is only what people read. The
word lists are our own.
"""

from __future__ import annotations

import os
import zlib  # loaded by import tracker already (hashlib would add ~1 ms to it)
from pathlib import Path
from typing import Final

__all__: list[str] = []

ADJECTIVES: Final = (
    "amber", "ancient", "autumn", "bold", "brave", "breezy", "bright", "brisk", "calm", "celestial",
    "clever", "cobalt", "cosmic", "crimson", "crisp", "curious", "dainty", "dapper", "daring", "dawn",
    "deep", "dreamy", "dusky", "eager", "earnest", "electric", "elegant", "ember", "fancy", "fearless",
    "fiery", "fluent", "fresh", "frosty", "gentle", "gilded", "glad", "glowing", "golden", "graceful",
    "grand", "happy", "hardy", "hazy", "hidden", "honest", "humble", "icy", "jade", "jolly",
    "keen", "kind", "lively", "lucky", "lunar", "mellow", "merry", "misty", "modest", "morning",
    "nimble", "noble", "northern", "ocean", "olive", "patient", "peaceful", "polar", "proud", "quiet",
    "radiant", "rapid", "restful", "rosy", "royal", "rustic", "sage", "scarlet", "serene", "shiny",
    "silent", "silver", "sleek", "snowy", "solar", "spring", "steady", "stellar", "stormy", "sunny",
    "swift", "tidy", "tranquil", "vivid", "warm", "wild", "winter", "wise", "young", "zesty",
)  # fmt: skip
NOUNS: Final = (
    "aurora", "badger", "bay", "beacon", "bird", "blossom", "breeze", "brook", "butterfly", "canyon",
    "cascade", "cedar", "cliff", "cloud", "comet", "coral", "cosmos", "creek", "crystal", "dawn",
    "delta", "dew", "dream", "dune", "eagle", "echo", "ember", "falcon", "feather", "fern",
    "field", "firefly", "flame", "flower", "forest", "fox", "frost", "galaxy", "garden", "glacier",
    "grove", "harbor", "hawk", "haze", "hill", "horizon", "island", "lake", "lantern", "leaf",
    "light", "lily", "maple", "meadow", "meteor", "mist", "moon", "moss", "mountain", "nebula",
    "night", "oak", "ocean", "orbit", "otter", "owl", "paper", "pebble", "pine", "planet",
    "pond", "prairie", "rain", "rainbow", "reef", "river", "sea", "shadow", "shore", "sky",
    "snow", "sound", "spark", "star", "stone", "storm", "sun", "sunset", "surf", "thunder",
    "tree", "valley", "violet", "water", "wave", "willow", "wind", "wood", "yak", "zephyr",
)  # fmt: skip


def generated_name(run_id: str, number: int) -> str:
    """``adjective-noun-number``, the words chosen by ``run_id``."""
    digest = zlib.crc32(run_id.encode())
    adjective = ADJECTIVES[digest % len(ADJECTIVES)]
    noun = NOUNS[(digest // len(ADJECTIVES)) % len(NOUNS)]
    return f"{adjective}-{noun}-{number}"


def name_for_new_run(run_dir: Path, run_id: str) -> str:
    """The generated name of a new run whose folder ``run_dir`` exists: numbered by the
    folders of its project (an unreadable folder numbers it 1)."""
    try:
        with os.scandir(run_dir.parent) as entries:
            number = sum(1 for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:
        number = 1
    return generated_name(run_id, max(number, 1))
