"""How keywords are indexed for autocomplete: namespaces of keys in one sorted key table.

A key is the 두벌식 keystroke sequence of the folded text with spaces removed, so that mid-syllable
prefixes (아이ㅍ, 아잎), spacing variants (아이폰케이스 = 아이폰 케이스), NFD/NFC and case all meet on
the same key. Each namespace is a one-character marker prepended to the key.
"""

from __future__ import annotations

from itertools import accumulate

from kwrec.core.text.hangul import keystrokes, keystrokes_per_char

FULL = "\x01"  # the whole keyword
WORD = "\x02"  # from the start of its 2nd, 3rd, ... word (케이스 -> 아이폰 케이스)
CHO = "\x03"  # 초성 of the whole keyword (ㅇㅇㅍ -> 아이폰)
CHO_WORD = "\x04"  # 초성 from a later word
TAIL = "\x05"  # word-level suffixes of queries, for completing unseen queries (ids into the tail table)
MERGED = "\x06"  # the whole key of a query merged into a keyword (a typo, a layout mistake) -> its id
ALIAS = "\x07"  # the same keys -> the merged query's alias id, ranked by its own searches (train._aliases)

MAX_WORD_STARTS = 8  # later words of very long queries are not indexed on their own
MAX_TAIL_WORDS = 3  # TAIL holds query suffixes of up to this many words
HANGUL = r"[\uac00-\ud7a3]"


def search_key_of(folded: str) -> str:
    return keystrokes(folded).replace(" ", "")


def key_ends(folded: str) -> list[int]:
    """``ends[j] == len(search_key_of(folded[:j]))`` for j in 0..len(folded), in one pass.

    Keystrokes are per character, so the key of a head of the query is a head of the query's key.
    """
    if folded.isascii():  # one keystroke per character but spaces: counted in compiled code
        return list(accumulate(map(" ".__ne__, folded), initial=0))
    return list(accumulate((0 if c == " " else keystrokes_per_char(c) for c in folded), initial=0))
