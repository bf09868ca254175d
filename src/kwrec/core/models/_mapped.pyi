from collections.abc import Sequence
from typing import TypeVar

from typing_extensions import Buffer

_T = TypeVar("_T", bound=tuple[str, float])

def lower_bound(blob: Buffer, offsets: Buffer, target: Buffer, lo: int = ..., hi: int = ..., /) -> int: ...
def prefix_run(blob: Buffer, offsets: Buffer, prefix: Buffer, /) -> tuple[int, int]: ...
def next_chars(blob: Buffer, offsets: Buffer, prefix: Buffer, limit: int, /) -> str: ...
def scored(
    blob: Buffer,
    offsets: Buffer,
    scores: Buffer,
    ids: Sequence[int],
    cls: type[_T],
    premade: list[_T | None] | None = None,
    /,
) -> list[_T]: ...

class TopIds:
    def __init__(
        self,
        keys_blob: Buffer,
        keys_offsets: Buffer,
        id_offsets: Buffer,
        ids: Buffer,
        heavy_blob: Buffer,
        heavy_offsets: Buffer,
        top: Buffer,
        topk: int,
        /,
    ) -> None: ...
    def get(self, key: str, limit: int, /) -> list[int]: ...
    def row(self, key: str, /) -> int: ...
    def typo_keys(self, ns: str, key: str, window: int, budget: int, /) -> tuple[list[str], int]: ...
    def key_heads(self, key: str, lengths: list[int], /) -> list[int]: ...
