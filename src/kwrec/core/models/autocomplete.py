"""Autocomplete look-ups over a built index (see ``autocomplete_build``).

Answers come in tiers, each consulted only while the answer is still short of ``limit``:
exact prefix (what reads as the typed text first), 초성, queries merged into a keyword (typos people
often make), 한/영 layout conversion, completion of an unseen query from popular word-level suffixes,
word-start (infix) matches, and finally one typo counted in jamo keystrokes.
The common case (a prefix with enough exact completions) is one fold, one translate and one
search in compiled code (:class:`kwrec.core.models.key_index.KeyIndex`).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kwrec.core.models.banned import BannedText
from kwrec.core.models.columns import StringTable, open_column
from kwrec.core.models.key_index import KeyIndex
from kwrec.core.models.keys import (
    ALIAS,
    CHO,
    CHO_WORD,
    FULL,
    MAX_TAIL_WORDS,
    MERGED,
    TAIL,
    WORD,
    key_ends,
    search_key_of,
)
from kwrec.core.models.layout import (
    ALIAS_PREFIX,
    HEAVY_PREFIX,
    HEAVY_TOP_FILE,
    KEYS_PREFIX,
    NO_ID,
    VARIANT_PREFIX,
)
from kwrec.core.models.protocol import Suggestion
from kwrec.core.text.hangul import is_choseong_only
from kwrec.core.text.keyboard import jamo_to_latin, latin_to_jamo
from kwrec.core.text.normalize import clean_text, fold

# Relative weight of each tier's scores; reported scores never increase down the list.
W_CONVERTED = 0.9
W_SYNTH = 0.3
W_INFIX = 0.5
W_FUZZY = 0.2

# A query made up to fill a short answer must end in a suffix that follows at least this many
# different words (a suffix's stored score is that count plus a fraction, ``train._tail_table``):
# "agatha c" may go on to agatha cookbook, never to "agatha chamber of secrets", which only ever
# follows "potter". Measured on AOL (docs/benchmarks.md), unseen MRR@10: no filling 0.0933, filling
# with any suffix 0.0972, with this bound 0.0971.
FILL_MIN_CONTINUATIONS = 2

PREMADE_PER_PREFIX = 10  # the API's default limit: these answers are built once per process

MAX_FUZZY_KEY = 32  # keystrokes; longer inputs are pasted text, not typing
MIN_FUZZY_KEY = 4
FUZZY_WINDOW = 3  # edits are tried at the few positions before the point where matching failed
# Index probes the typo tier of one look-up may make (both namespaces): keeps the tail of look-up
# latency bounded (a short head can be followed by dozens of characters, two variants each, at each of
# the window's positions). Typo recall against no bound, measured (docs/benchmarks.md): the same on the
# sample customers; on AOL's vocabulary 0.775 vs 0.795 (96 probes: 0.795, with p99 ~20 us higher).
MAX_FUZZY_PROBES = 48


@dataclass(frozen=True)
class AutocompleteOptions:
    infix: bool = True
    synthesize: bool = True
    fuzzy: bool = True


def _read_pairs(prefix: Path) -> list[tuple[str, int]]:
    """(text, keyword id) rows of a side table written by training; none in artifacts that predate it."""
    ids_path = prefix.with_name(prefix.name + ".ids")
    if not ids_path.is_file():
        return []
    texts = StringTable(prefix)
    return [(texts[i], kid) for i, kid in enumerate(open_column(ids_path, "u32"))]


class SpacingVariants:
    """Other spacings people typed of a keyword, by id ("dishnetwork" for "dish network").

    Consulted off the common path: read into a dict on first use, not when a model opens.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._variants: dict[int, list[str]] | None = None

    def of(self, keyword_id: int) -> list[str]:
        if self._variants is None:
            self._variants = {}
            for text, kid in _read_pairs(self._directory / VARIANT_PREFIX):
                self._variants.setdefault(kid, []).append(text)
        return self._variants.get(keyword_id, [])


class Aliases:
    """Queries merged into a keyword (typos, layout mistakes), by alias id: best first by their own
    searches (``train._aliases``). Artifacts that predate them have none (``open`` returns None)."""

    def __init__(self, directory: Path) -> None:
        prefix = directory / ALIAS_PREFIX
        self.typed = StringTable(prefix)
        self.keyword_ids = open_column(prefix.with_name(f"{ALIAS_PREFIX}.ids"), "u32")
        self.scores = open_column(prefix.with_name(f"{ALIAS_PREFIX}.score"), "score")

    @classmethod
    def open(cls, directory: Path) -> Aliases | None:
        return cls(directory) if (directory / f"{ALIAS_PREFIX}.ids").is_file() else None


class Autocompleter:
    def __init__(
        self,
        directory: Path,
        keywords: StringTable,
        scores: memoryview,
        tails: StringTable,
        tail_scores: memoryview,
        options: AutocompleteOptions,
        topk: int,
        banned: BannedText | None = None,
    ) -> None:
        self._keys = KeyIndex(
            directory / KEYS_PREFIX, directory / HEAVY_PREFIX, directory / HEAVY_TOP_FILE, topk
        )
        self._keywords = keywords
        self._scores = scores
        self._tails = tails
        self._tail_scores = tail_scores
        # Tails are stored best first: those that may fill a short answer are the first ids.
        self._common_tails = int(np.count_nonzero(np.asarray(tail_scores) >= FILL_MIN_CONTINUATIONS))
        self._options = options
        self._topk = topk
        self._banned = banned or BannedText()
        self._premade = self._premade_suggestions()
        self._variants = SpacingVariants(directory)
        self._aliases = Aliases.open(directory)

    def _premade_suggestions(self) -> list[Suggestion | None]:
        """The Suggestion of every keyword in the first answers of a precomputed prefix, by id.

        Building ten (text, score) objects costs more than the rest of a look-up; these keywords are
        few and popular, so they are built once here and a look-up only picks them.
        """
        top = self._keys.precomputed_rows(FULL)[:, :PREMADE_PER_PREFIX]
        ids = np.unique(top[top != NO_ID]).tolist()
        premade: list[Suggestion | None] = [None] * (ids[-1] + 1 if ids else 0)
        for i, suggestion in zip(ids, self._keywords.scored(ids, self._scores, Suggestion), strict=True):
            premade[i] = suggestion
        return premade

    # -- primitive: the best ids under one namespaced prefix -------------------------------------
    def _ids(self, ns: str, key: str, limit: int) -> list[int]:
        return self._keys.top_ids(ns + key, limit)

    # -- public --------------------------------------------------------------------------------
    def complete(self, query: str, limit: int = 10) -> list[Suggestion]:
        folded = fold(query)
        if not folded or limit <= 0:
            return []
        key = search_key_of(folded)
        if not key:
            return []
        # A trailing space says the last word is finished: "new " wants "new york", not "newspaper".
        word_done = query[-1:].isspace()  # U+3000 (the CJK keyboard's space) included
        if word_done:
            wider = self._ids(FULL, key, self._topk)
            ids, first = self._literal_first(wider, folded, limit, whole_words=True)
        else:
            ids = self._ids(FULL, key, limit)
            first = self._suggestions(ids)
            hangul = bool(_HANGUL.search(folded))
            if not all(_literal(s.keyword, folded, hangul) for s in first):
                # Outside Hangul, spaces carry meaning: forms that keep the user's spacing go first.
                # In Hangul spacing is optional, but what is on screen is not: "화" is on the way to
                # 환율 as much as to 화재, yet 화재 is what it reads (mid-syllable matches go after).
                wider = self._ids(FULL, key, self._topk) if len(ids) >= limit else ids
                ids, first = self._literal_first(wider, folded, limit, hangul=hangul)
            elif hangul and _spaced_differently(first, folded):
                # A keyword is shown in the spacing the user types when people typed it that way
                # (아이폰16 for "아이폰1").
                ids, first = self._literal_first(ids, folded, limit, hangul=True)
            if self._aliases is not None:
                ids, first = self._with_aliases(self._aliases, ids, first, folded, key, limit, hangul)
            if len(ids) >= limit:  # the common case: distinct and already best first
                return first
        ranked = _Ranked(limit, self._suggestions)
        ranked.add_first(ids, first)
        choseong_query = is_choseong_only(folded)
        if choseong_query:
            ranked.add(self._ids(CHO, key, limit), 1.0)
        # A prefix of a typo people often make ("goggl", "capitol o") finds the keyword it was merged
        # into, shown corrected, after every keyword that keeps what the user typed.
        ranked.add(self._ids(MERGED, key, limit), 1.0)
        # Layout mistakes (dkdlvhs) and queries nobody typed are recognised by having no completion at
        # all; a prefix that has some is taken as meant, which also keeps these tiers off the common path.
        if not ranked.items:
            for alt in self._converted_keys(query, folded):
                ranked.add(self._ids(FULL, alt, limit), W_CONVERTED)
        found_exact = bool(ranked.items)
        # A short answer is filled with completions of a query nobody typed yet, after every real one.
        if not ranked.full and self._options.synthesize:
            self._synthesize(folded, key, word_done, ranked, found_exact)
        if not ranked.full and self._options.infix:
            ranked.add(self._ids(WORD, key, limit), W_INFIX)
            if choseong_query:
                ranked.add(self._ids(CHO_WORD, key, limit), W_INFIX)
        if not found_exact and not ranked.full and self._options.fuzzy:
            budget = _Probes(MAX_FUZZY_PROBES)  # shared by both namespaces: one bound per look-up
            ranked.add(self._fuzzy_ids(FULL, key, limit, budget), W_FUZZY)
            if not ranked.full and self._options.infix:
                ranked.add(self._fuzzy_ids(WORD, key, limit, budget), W_FUZZY * W_INFIX)
        return ranked.result()

    def _suggestions(self, ids: list[int]) -> list[Suggestion]:
        return self._keywords.scored(ids, self._scores, Suggestion, self._premade)

    def has_precomputed(self, query: str) -> bool:
        return self._keys.has_precomputed(FULL + search_key_of(fold(query)))

    def exact_id(self, query: str) -> int | None:
        """The keyword id whose whole key equals the query's (with 한/영, 초성 and merged-query fallbacks)."""
        folded = fold(query)
        key = search_key_of(folded)
        if not key:
            return None
        tries = [(FULL, key), *((FULL, a) for a in self._converted_keys(query, folded))]
        if is_choseong_only(folded):
            tries.append((CHO, key))
        for ns, alt in (*tries, (MERGED, key)):
            ids = self._keys.exact(ns + alt)
            if ids:
                return min(ids)
        return None

    # -- tiers ---------------------------------------------------------------------------------
    @staticmethod
    def _converted_keys(query: str, folded: str) -> list[str]:
        alts = []
        # The keyboard map needs the original case (Shift+r is ㄲ), so convert the cleaned, unfolded text.
        hangul = latin_to_jamo(clean_text(query))
        if hangul:
            alts.append(hangul.replace(" ", ""))
        latin = jamo_to_latin(folded)
        if latin:
            alts.append(latin.lower().replace(" ", ""))
        return alts

    def _literal_first(
        self, ids: list[int], folded: str, limit: int, *, whole_words: bool = False, hangul: bool = False
    ) -> tuple[list[int], list[Suggestion]]:
        """Completions shown in a form that keeps what the user typed, those first, scores non-increasing.

        A keyword is shown in the spacing its users typed most ("dish network"), but a user typing
        "dishnetw" means the other form that people also typed ("dishnetwork"): shown in that form, it
        keeps its rank. ``whole_words``: the user ended a word ("new "), so only completions that
        continue after that whole word are kept, and the typed words alone ("new") come after those
        that continue them. ``hangul``: spacing does not decide the order, only the form (completions
        that start with the typed text whatever its spacing go first).
        """
        head = folded + " " if whole_words else folded

        def keeps(text: str) -> bool:
            return (text.lower() + " ").startswith(head) if whole_words else text.lower().startswith(head)

        kept: list[tuple[int, Suggestion]] = []
        typed: list[tuple[int, Suggestion]] = []  # whole_words: what the user has typed, no more
        other: list[tuple[int, Suggestion]] = []
        for i, s in zip(ids, self._suggestions(ids), strict=True):
            if keeps(s.keyword):
                (typed if whole_words and s.keyword.lower() == folded else kept).append((i, s))
                continue
            form = next((v for v in self._variants.of(i) if keeps(v)), None)
            if form is not None:
                (typed if whole_words and form.lower() == folded else kept).append(
                    (i, Suggestion(form, s.score))
                )
            elif hangul and _literal(s.keyword, folded, hangul):
                kept.append((i, s))
            elif not whole_words:
                other.append((i, s))
        chosen = (kept + typed + other)[:limit]
        return [i for i, _ in chosen], _non_increasing([s for _, s in chosen])

    def _with_aliases(
        self,
        aliases: Aliases,
        ids: list[int],
        first: list[Suggestion],
        folded: str,
        key: str,
        limit: int,
        hangul: bool,
    ) -> tuple[list[int], list[Suggestion]]:
        """The completions with the typos people make ranked among them by their own searches.

        "capitol one" was typed often enough to come first for `capitol`, as the most popular
        completion would list it; it is shown as capital one, the keyword it was merged into, with its
        own score. Only a typed spelling that keeps what the user typed takes part (the same rule as
        ``_literal_first``); the others come after, in the MERGED tier. Ties go to the literal
        completion.
        """
        aids = self._ids(ALIAS, key, limit)
        scores = aliases.scores
        if not aids or (len(first) >= limit and scores[aids[0]] <= first[-1].score):
            return ids, first  # the common case: no typo of this prefix is searched as much
        pending = [a for a in aids if _literal(aliases.typed[a], folded, hangul)]
        out_ids: list[int] = []
        out: list[Suggestion] = []
        i = 0
        while len(out) < limit and (i < len(first) or pending):
            if pending and (i >= len(first) or scores[pending[0]] > first[i].score):
                a = pending.pop(0)
                kid = aliases.keyword_ids[a]
                suggestion = Suggestion(self._keywords[kid], scores[a])
            else:
                kid, suggestion = ids[i], first[i]
                i += 1
            if kid not in out_ids:
                out_ids.append(kid)
                out.append(suggestion)
        return out_ids, _non_increasing(out)

    def _split_points(
        self, folded: str, key: str, ends: list[int], first: int, *, in_words: bool
    ) -> list[int]:
        """Where a query may be cut into the user's own words and a suffix to complete.

        After each space the user typed, and (``in_words``) after any part that is itself a known
        keyword, so that "아이폰케이스" and "아이폰 케이스" are cut in the same places and get the same
        answers. ``key`` is the query's search key, ``ends`` its ``key_ends``; no cut before ``first``.
        """
        start = max(first, 1)
        points = [j for j in range(start, len(folded)) if folded[j - 1] == " "]
        if in_words:  # a cut inside a typed word, where the head is a keyword
            inside = [j for j in range(start, len(folded)) if folded[j - 1] != " " and folded[j] != " "]
            if inside:
                heads = self._keys.key_heads(FULL + key, [1 + ends[j] for j in inside])
                points = sorted(points + [inside[i] for i in heads])
        return points

    def _synthesize(self, folded: str, key: str, word_done: bool, ranked: _Ranked, found_exact: bool) -> None:
        """Complete a query nobody typed: the user's own leading words + a query suffix.

        The most context first: the whole typed text as the start of a suffix ("bethesda" -> bethesda
        md, which ends "hotels bethesda md"), then the split points in order, each with its suffixes
        best first (see ``train._tail_table``). Outside Hangul the suffix must keep the user's
        spacing: "kushner in j" is "in j...", never "injury". ``found_exact``: the answer already
        has real completions, and a made-up query only follows them when its suffix is a common
        ending (see ``FILL_MIN_CONTINUATIONS``).
        """
        seen_splits: set[str] = set()
        literal = word_done or not _HANGUL.search(folded)
        ends = key_ends(folded)
        # A cut before the last few spaces leaves a suffix longer than any stored one (unless the
        # user split its words).
        spaces = [i for i, c in enumerate(folded) if c == " "]
        words = MAX_TAIL_WORDS + word_done
        first = spaces[-words] if len(spaces) >= words else 0
        # Filling a short answer, the user's words stay as typed: "spokanemo" after its real
        # completions is not cut into spokane + movies (measured: the same MRR, a quarter less time).
        cuts = self._split_points(folded, key, ends, first, in_words=not found_exact)
        for j in (0, *cuts):
            tail_key = key[ends[j] :]
            if not tail_key or tail_key in seen_splits:
                continue
            seen_splits.add(tail_key)
            head, tail = folded[:j].rstrip(" ") + " " if j else "", folded[j:].lstrip(" ")
            if tail.count(" ") >= words:
                continue
            fill = bool(j) and found_exact
            # A literal match may drop some of the key's suffixes: then look further down.
            done = 0  # the ids already tried: a deeper look-up starts with the same ones
            for depth in (ranked.limit, self._topk) if literal else (ranked.limit,):
                found = self._ids(TAIL, tail_key, depth)
                more = len(found) == depth
                tids, done = found[done:], len(found)
                if fill:  # ids ascend, so the common endings are a head of the list
                    common = bisect_left(tids, self._common_tails)
                    more = more and common == len(tids)
                    tids = tids[:common]
                texts: Iterable[Suggestion] = self._tails.scored(tids, self._tail_scores, Suggestion)
                if word_done:
                    whole = tail + " "
                    texts = (t for t in texts if (t.keyword + " ").startswith(whole))
                elif literal:
                    texts = (t for t in texts if t.keyword.startswith(tail))
                made = ((head + text, score) for text, score in texts)
                if self._banned:  # text no ban has seen (see kwrec.core.models.banned)
                    made = ((text, score) for text, score in made if not self._banned.blocks(text))
                ranked.add_texts(made, W_SYNTH)
                if ranked.full:
                    return
                if not more:
                    break  # that was every suffix the key may use

    def _fuzzy_ids(self, ns: str, key: str, limit: int, budget: _Probes) -> list[int]:
        """Keywords one keystroke edit away from being completions of ``key``."""
        if not MIN_FUZZY_KEY <= len(key) <= MAX_FUZZY_KEY:
            return []
        found, budget.left = self._keys.typo_keys(ns, key, FUZZY_WINDOW, budget.left)
        ids: set[int] = set()
        for variant in found:
            ids.update(self._ids(ns, variant, limit))
        return sorted(ids)[:limit]


class _Probes:
    """What is left of a look-up's typo-tier budget."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


_HANGUL = re.compile("[\u3131-\u318e\uac00-\ud7a3]")


def _literal(keyword: str, folded: str, hangul: bool = False) -> bool:
    """Whether ``keyword`` starts with the typed text (``hangul``: whatever the spacing of either)."""
    if hangul:
        return keyword.lower().replace(" ", "").startswith(folded.replace(" ", ""))
    return keyword.lower().startswith(folded)


def _spaced_differently(items: list[Suggestion], folded: str) -> bool:
    """Whether some suggestion's spacing may differ from the user's within the typed part (cheap test)."""
    if " " in folded:
        return True
    n = len(folded)
    return any(" " in s.keyword[:n] for s in items)


def _non_increasing(items: list[Suggestion]) -> list[Suggestion]:
    out: list[Suggestion] = []
    for s in items:
        if out and s.score > out[-1].score:
            s = Suggestion(s.keyword, out[-1].score)
        out.append(s)
    return out


class _Ranked:
    """An ordered, de-duplicated answer that fills tier by tier, with non-increasing scores."""

    def __init__(self, limit: int, suggest: Callable[[list[int]], list[Suggestion]]) -> None:
        self.limit = limit
        self.items: list[Suggestion] = []
        self._seen_ids: set[int] = set()
        self._seen: set[str] | None = None  # folded spaceless texts, made when a second tier adds
        self._suggest = suggest

    @property
    def full(self) -> bool:
        return len(self.items) >= self.limit

    def _extend(self, rows: Iterable[tuple[str, float, Suggestion | None]], weight: float) -> None:
        """Append (text, score, its Suggestion if made) rows, weighted, until full; a text whose folded
        spaceless form is already shown is skipped (displays keep their most common casing)."""
        items, limit = self.items, self.limit
        if self._seen is None:
            self._seen = {s.keyword.lower().replace(" ", "") for s in items}
        seen = self._seen
        for text, score, item in rows:
            if len(items) >= limit:
                return
            norm = text.lower().replace(" ", "")
            if norm in seen:
                continue
            seen.add(norm)
            weighted = score * weight
            if items and weighted > items[-1].score:
                weighted = items[-1].score
            if item is None or weighted != score:
                item = Suggestion(text, round(weighted, 6))
            items.append(item)

    def add_first(self, ids: list[int], items: list[Suggestion]) -> None:
        """The first tier, already made into suggestions (``ids[i]`` shown as ``items[i]``)."""
        self._seen_ids.update(ids)
        self.items = items[: self.limit]

    def add(self, ids: Iterable[int], weight: float) -> None:
        if self.full:
            return
        fresh = [i for i in ids if i not in self._seen_ids]
        if not fresh:
            return
        self._seen_ids.update(fresh)
        if not self.items and weight == 1.0:
            # The first tier as it is: distinct keywords (one per spaceless form), best first.
            self.items = self._suggest(fresh[: self.limit])
            return
        self._extend(((s.keyword, s.score, s) for s in self._suggest(fresh)), weight)

    def add_texts(self, texts: Iterable[tuple[str, float]], weight: float) -> None:
        self._extend(((text, score, None) for text, score in texts), weight)

    def result(self) -> list[Suggestion]:
        return self.items
