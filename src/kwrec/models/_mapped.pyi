from collections.abc import Sequence
from typing import TypeVar

from typing_extensions import Buffer

_T = TypeVar("_T", bound=tuple[str, float])

def lower_bound(blob: Buffer, offsets: Buffer, target: Buffer, lo: int = ..., hi: int = ..., /) -> int: ...
def strings(blob: Buffer, offsets: Buffer, ids: Sequence[int], /) -> list[str]: ...
def prefix_run(blob: Buffer, offsets: Buffer, prefix: Buffer, /) -> tuple[int, int]: ...
def scored(
    blob: Buffer,
    offsets: Buffer,
    scores: Buffer,
    ids: Sequence[int],
    cls: type[_T],
    premade: list[_T | None] | None = None,
    /,
) -> list[_T]: ...
def smallest_distinct(values: Buffer, start: int, end: int, limit: int, /) -> list[int]: ...
