"""Two releases of the sample customers with known changes, for the release-review tests.

Day 1 is the bundled sample data. Day 2 changes it in exactly four ways:
  shop-kr   a burst: 60 new users search BURST (and HOSTILE) in the last minutes  -> retrained
  books-en  BANNED is put on the customer's ban list                             -> retrained
  news-kr   nothing                                                              -> reused
  mall-kr   a new customer                                                       -> new
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kwrec.adapters.stores import open_store
from kwrec.core.manifest import Manifest
from kwrec.core.store import ArtifactStore
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
OLD_TS, NEW_TS = "2611270900", "2611280900"
BURST = "비전프로 헤드셋"
BANNED = "harry potter"
NEW_CUSTOMER = "mall-kr"
# a query users typed: the review page must show it as text, never run it
HOSTILE = "<script>document.title='pwned'</script>"


@dataclass(frozen=True)
class TwoReleases:
    root: Path
    settings: Settings
    old: Manifest
    new: Manifest

    @property
    def store(self) -> ArtifactStore:
        return open_store(self.settings.store)


def day_two(day_one: Path, out: Path) -> Path:
    shutil.copytree(day_one, out)
    with (out / "shop-kr" / "events-2026-11-27.csv").open("a", encoding="utf-8") as fh:
        for i in range(60):
            fh.write(f"2026-11-27T07:58:{i:02d}+09:00,burst{i},sb{i},{BURST},10,1\n")
            fh.write(f"2026-11-27T07:59:{i:02d}+09:00,burst{i},sb{i},{HOSTILE},10,1\n")
    (out / "books-en" / "banned.txt").write_text(f"{BANNED}\n", encoding="utf-8")
    mall = out / NEW_CUSTOMER
    mall.mkdir()
    rows = ["timestamp,user_id,session_id,query"]
    for i in range(40):
        for q in ("운동화", "운동화 세일", "러닝화"):
            rows.append(f"2026-11-27T08:{i % 60:02d}:00+09:00,m{i},ms{i},{q}")
    (mall / "events.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


@functools.cache
def two_releases() -> TwoReleases:
    """Trained once per test session (several modules use it), removed when the session ends."""
    root = Path(tempfile.mkdtemp(prefix="kwrec-review-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    day1 = root / "day1"
    shutil.copytree(SAMPLE, day1)
    settings = Settings(store=str(root / "store"), cache_dir=root / "cache", data_dir=day1)
    store = open_store(settings.store)
    old = train_release(settings, store, timestamp=OLD_TS, evaluate=True).manifest
    day2 = settings.model_copy(update={"data_dir": day_two(day1, root / "day2")})
    new = train_release(day2, store, timestamp=NEW_TS, evaluate=True).manifest
    return TwoReleases(root, settings, old, new)
