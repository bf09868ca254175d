"""Text forms and Korean input handling shared by preprocessing, training and serving."""

from kwrec.core.text.hangul import (
    CONJOINING_TO_COMPAT,
    choseong,
    compose,
    conjoining_to_compat,
    is_choseong_only,
    keystrokes,
)
from kwrec.core.text.keyboard import hangul_from_latin, jamo_to_latin, latin_to_jamo
from kwrec.core.text.normalize import clean_text, clean_text_expr, fold, fold_expr, search_key, word_starts

__all__ = [
    "CONJOINING_TO_COMPAT",
    "choseong",
    "clean_text",
    "clean_text_expr",
    "compose",
    "conjoining_to_compat",
    "fold",
    "fold_expr",
    "hangul_from_latin",
    "is_choseong_only",
    "jamo_to_latin",
    "keystrokes",
    "latin_to_jamo",
    "search_key",
    "word_starts",
]
