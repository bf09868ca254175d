"""How keywords are indexed for autocomplete: namespaces of keys in one trie.

A key is the 두벌식 keystroke sequence of the folded text with spaces removed, so that mid-syllable
prefixes (아이ㅍ, 아잎), spacing variants (아이폰케이스 = 아이폰 케이스), NFD/NFC and case all meet on
the same key. Each namespace is a one-character marker prepended to the key.
"""

from __future__ import annotations

from collections.abc import Iterator

from kwrec.text.hangul import choseong, keystrokes

FULL = "\x01"  # the whole keyword
WORD = "\x02"  # from the start of its 2nd, 3rd, ... word (케이스 -> 아이폰 케이스)
CHO = "\x03"  # 초성 of the whole keyword (ㅇㅇㅍ -> 아이폰)
CHO_WORD = "\x04"  # 초성 from a later word
TAIL = "\x05"  # word-level suffixes of queries, for completing unseen queries (ids into the tail table)

NAMESPACES = (FULL, WORD, CHO, CHO_WORD, TAIL)


def _has_hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def keyword_entries(norm: str) -> Iterator[tuple[str, str]]:
    """(namespace, key) pairs under which a folded keyword is found."""
    words = norm.split(" ")
    word_keys = [keystrokes(w) for w in words]
    yield FULL, "".join(word_keys)
    for i in range(1, len(words)):
        yield WORD, "".join(word_keys[i:])
    if _has_hangul(norm):
        cho = [choseong(w) for w in words]
        yield CHO, "".join(cho)
        for i in range(1, len(words)):
            yield CHO_WORD, "".join(cho[i:])


def search_key_of(folded: str) -> str:
    return keystrokes(folded).replace(" ", "")
