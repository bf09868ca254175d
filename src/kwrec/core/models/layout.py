"""File names inside a customer's artifact directory, shared by the builders and the readers.

Kept apart from the builders so that serving never imports the training stack (polars).
"""

from __future__ import annotations

KEYS_PREFIX = "keys"  # sorted key table: keys.bin/.off/.idoff/.ids
HEAVY_PREFIX = "heavy"  # sorted heavy prefixes (heavy.bin/.off); prefix i -> row i of heavy.top
HEAVY_TOP_FILE = "heavy.top"
NO_ID = 0xFFFFFFFF  # pads a heavy prefix's row of top ids
VARIANT_PREFIX = "variant"  # other spacings of keywords (variant.bin/.off), their keyword ids (.ids)
# Queries merged into keywords, best first by their own searches: their most typed spelling
# (alias.bin/.off), their keyword's id (alias.ids), their own score (alias.score).
ALIAS_PREFIX = "alias"
