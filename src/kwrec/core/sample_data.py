"""Deterministic synthetic search logs for the bundled sample customers (``data/sample``).

The sample data is what the demo, the tests and new engineers train on, so it has to carry every
phenomenon the pipeline is meant to handle (Korean typing habits, legacy encodings, malformed rows, bots,
PII, banned terms, a rare single-user query, a trending burst) while staying small and reproducible:
only ``random.Random(seed)`` is used, every collection is iterated in a fixed order and gzip headers carry
no timestamp, so the same seed always gives byte-identical files.

Regenerate the bundled copy with ``python -m kwrec.core.sample_data data/sample``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import random
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

__all__ = [
    "BANNED_TERMS",
    "DEFAULT_END",
    "MALFORMED_ROWS",
    "SHOP_BOT_USER",
    "SHOP_RARE_KEYWORD",
    "SHOP_RARE_USER",
    "SHOP_TRENDING_KEYWORD",
    "generate",
    "layout_keys",
    "main",
]

KST = timezone(timedelta(hours=9))
DEFAULT_END = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)

# Facts about the generated data that other tests rely on; kept here so they cannot drift apart.
SHOP_TRENDING_KEYWORD = "롱패딩"
SHOP_RARE_KEYWORD = "아이폰 15 프로 맥스 티타늄 맥세이프 투명 케이스 256기가"
SHOP_RARE_USER = "u0137"
SHOP_BOT_USER = "u0401"
BANNED_TERMS = ("fake", "불법")
#: Deliberately broken lines in shop-kr's quarantine file: invalid UTF-8, a NUL byte, a missing column,
#: an unparsable timestamp and an over-long line.
MALFORMED_ROWS = 5

_SHOP_USERS = 400
_BOOK_USERS = 200
_NEWS_LINES = 2000
_DAY = timedelta(days=1)
_SESSION_GAP = timedelta(minutes=35)  # comfortably above the default 30-minute session split

# --------------------------------------------------------------------------------------------------
# Hangul helpers. Written out here rather than imported so the generator has no dependency that could
# change its output (and so it does not share code, and therefore bugs, with kwrec.core.text).
# --------------------------------------------------------------------------------------------------
_L = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_V = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_T = ("", *"ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ")
_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3

# 두벌식 on a QWERTY keyboard; shifted keys give the tense consonants and ㅒ/ㅖ.
_JAMO_KEY: dict[str, str] = dict(
    zip("ㅂㅈㄷㄱㅅㅛㅕㅑㅐㅔㅁㄴㅇㄹㅎㅗㅓㅏㅣㅋㅌㅊㅍㅠㅜㅡ", "qwertyuiopasdfghjklzxcvbnm", strict=True)
)
_JAMO_KEY.update({"ㅃ": "Q", "ㅉ": "W", "ㄸ": "E", "ㄲ": "R", "ㅆ": "T", "ㅒ": "O", "ㅖ": "P"})
_KEY_JAMO: dict[str, str] = {k: j for j, k in _JAMO_KEY.items()}
_COMPOUND: dict[str, str] = {
    "ㅘ": "ㅗㅏ", "ㅙ": "ㅗㅐ", "ㅚ": "ㅗㅣ", "ㅝ": "ㅜㅓ", "ㅞ": "ㅜㅔ", "ㅟ": "ㅜㅣ", "ㅢ": "ㅡㅣ",
    "ㄳ": "ㄱㅅ", "ㄵ": "ㄴㅈ", "ㄶ": "ㄴㅎ", "ㄺ": "ㄹㄱ", "ㄻ": "ㄹㅁ", "ㄼ": "ㄹㅂ", "ㄽ": "ㄹㅅ",
    "ㄾ": "ㄹㅌ", "ㄿ": "ㄹㅍ", "ㅀ": "ㄹㅎ", "ㅄ": "ㅂㅅ",
}  # fmt: skip
_KEY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _is_syllable(ch: str) -> bool:
    return _HANGUL_FIRST <= ord(ch) <= _HANGUL_LAST


def _decompose(ch: str) -> tuple[int, int, int]:
    code = ord(ch) - _HANGUL_FIRST
    return code // 588, (code % 588) // 28, code % 28


def _compose(lead: int, vowel: int, tail: int) -> str:
    return chr(_HANGUL_FIRST + lead * 588 + vowel * 28 + tail)


def layout_keys(text: str) -> str:
    """What ``text`` becomes when typed with the IME left in Latin mode (아이폰 -> dkdlvhs)."""
    out: list[str] = []
    for ch in text:
        if _is_syllable(ch):
            lead, vowel, tail = _decompose(ch)
            jamo = _L[lead] + _V[vowel] + _T[tail]
        else:
            jamo = ch
        for j in jamo:
            for part in _COMPOUND.get(j, j):
                out.append(_JAMO_KEY.get(part, part))
    return "".join(out)


def _chosung(text: str) -> str:
    return "".join(_L[_decompose(ch)[0]] if _is_syllable(ch) else ch for ch in text)


def _key_neighbours(key: str) -> list[str]:
    for r, row in enumerate(_KEY_ROWS):
        c = row.find(key)
        if c < 0:
            continue
        # Rows are staggered: the row above is offset to the left, the row below to the right.
        spots = [(r, c - 1), (r, c + 1), (r - 1, c), (r - 1, c + 1), (r + 1, c - 1), (r + 1, c)]
        return [_KEY_ROWS[rr][cc] for rr, cc in spots if 0 <= rr < 3 and 0 <= cc < len(_KEY_ROWS[rr])]
    return []


def _jamo_typo(rng: random.Random, text: str) -> str | None:
    """Hit a neighbouring key for one jamo (삼성 -> 샴성); None when no valid syllable results."""
    positions = [i for i, ch in enumerate(text) if _is_syllable(ch)]
    if not positions:
        return None
    for _ in range(8):
        i = rng.choice(positions)
        lead, vowel, tail = _decompose(text[i])
        slot = rng.choices((0, 1, 2), (0.45, 0.45, 0.1))[0]
        current = (_L[lead], _V[vowel], _T[tail])[slot]
        key = _JAMO_KEY.get(current)
        if key is None or not key.islower():
            continue
        candidates = [_KEY_JAMO[k] for k in _key_neighbours(key)]
        pool = (_L, _V, _T[1:])[slot]
        candidates = [j for j in candidates if j in pool]
        if not candidates:
            continue
        new = rng.choice(candidates)
        if slot == 0:
            lead = _L.index(new)
        elif slot == 1:
            vowel = _V.index(new)
        else:
            tail = _T.index(new)
        return text[:i] + _compose(lead, vowel, tail) + text[i + 1 :]
    return None


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if ch.isascii() and ch.isalnum() else ch for ch in text)


def _gzip(data: bytes) -> bytes:
    # GzipFile with mtime=0 and no file name writes a fixed header (OS byte 255), unlike zlib's gzip mode
    # whose OS byte depends on the platform it was built for.
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _new_rng(seed: int, customer: str) -> random.Random:
    # One stream per customer: changing one customer's generator leaves the other customers' files alone.
    # Not for security; str seeds are hashed with SHA-512, so this is stable across runs and platforms.
    return random.Random(f"{seed}:{customer}")  # noqa: S311


def _split(group: str) -> tuple[str, ...]:
    return tuple(kw.strip() for kw in group.split(","))


# --------------------------------------------------------------------------------------------------
# Catalogues. Each cluster is (weight, groups); a group is a comma-separated head keyword and its
# refinements, most searched first. A session
# mostly stays within a group or cluster, which is what makes related keywords learnable.
# --------------------------------------------------------------------------------------------------
_SHOP_CATALOGUE: dict[str, tuple[float, list[str]]] = {
    "apple": (3.0, [
        ("아이폰, 아이폰 케이스, 아이폰 15, 아이폰 15 프로, 아이폰 16, 아이폰 16 프로, 아이폰 충전기, "
         "아이폰 필름, 아이폰 15 케이스, 아이폰 se"),
        "에어팟, 에어팟 프로, 에어팟 프로 2, 에어팟 케이스, 에어팟 맥스",
        "아이패드, 아이패드 에어, 아이패드 프로, 아이패드 미니, 아이패드 케이스, 애플펜슬",
        "맥북, 맥북 에어, 맥북 프로, 맥북 파우치",
        "애플워치, 애플워치 스트랩, 애플워치 9, 맥세이프 충전기",
    ]),
    "samsung": (2.2, [
        ("갤럭시 s24, 갤럭시 s24 울트라, 갤럭시 s24 케이스, 갤럭시 s23, 갤럭시 z 플립6, 갤럭시 z 폴드6, "
         "갤럭시 충전기"),
        "갤럭시 버즈, 갤럭시 버즈3 프로, 갤럭시 버즈 케이스",
        "삼성, 삼성 노트북, 갤럭시북4, 삼성 모니터",
        ("삼성 냉장고, 비스포크 냉장고, 김치냉장고, 삼성 세탁기, 삼성 건조기, 비스포크 그랑데, "
         "삼성 에어컨"),
        "갤럭시 탭, 갤럭시 탭 s9, 갤럭시 워치, 갤럭시 워치7",
        "삼성 tv, 삼성 스마트 모니터",
    ]),
    "digital": (1.6, [
        "노트북, 게이밍 노트북, 엘지 그램, 노트북 가방, 노트북 거치대",
        "키보드, 기계식 키보드, 무선 키보드, 로지텍 키보드, 키보드 마우스 세트",
        "마우스, 무선 마우스, 로지텍 마우스, 버티컬 마우스, 마우스 패드",
        "모니터, 27인치 모니터, 게이밍 모니터, 모니터 암, 4k 모니터",
        "블루투스 이어폰, 헤드폰, 소니 헤드폰, 블루투스 스피커",
        "보조배터리, 고속 충전기, c타입 케이블, 멀티탭, usb 허브",
        "닌텐도 스위치, 플스5, 게임 패드",
    ]),
    "fashion": (2.0, [
        ("나이키 운동화, 나이키, 나이키 에어포스, 뉴발란스 운동화, 뉴발란스 530, 아디다스 삼바, "
         "아디다스 슬리퍼, 컨버스"),
        "원피스, 니트 원피스, 롱 원피스, 트위드 원피스",
        "니트 가디건, 가디건, 니트, 맨투맨, 후드티, 기모 후드티",
        ("패딩, 숏패딩, 경량 패딩, 패딩 조끼, 롱패딩, 롱패딩 여성, 롱패딩 남성, 노스페이스 패딩, "
         "구스다운"),
        "코트, 울 코트, 트렌치 코트, 무스탕",
        "청바지, 와이드 팬츠, 슬랙스, 조거팬츠, 레깅스, 기모 레깅스",
        "어그 부츠, 첼시 부츠, 털 슬리퍼, 양말",
        "백팩, 크로스백, 토트백, 에코백",
        "목도리, 장갑, 비니, 귀마개",
    ]),
    "kitchen": (1.5, [
        "무선 청소기, 다이슨 청소기, 다이슨, 로봇 청소기, 물걸레 청소기, 청소기 필터",
        "에어프라이어, 에어프라이어 종이호일, 전자레인지, 오븐, 밥솥, 쿠쿠 밥솥",
        "커피머신, 캡슐 커피머신, 네스프레소 캡슐, 전기포트, 믹서기, 핸드블렌더",
        "프라이팬, 냄비, 냄비 세트, 도마, 칼 세트, 수저 세트, 밀폐용기",
        "가습기, 전기요, 전기장판, 온수매트, 히터, 핫팩, 제습기, 공기청정기",
        "텀블러, 보온병, 머그컵, 와인잔",
    ]),
    "food": (1.8, [
        "생수, 삼다수, 탄산수, 제로 콜라, 콜라",
        "라면, 신라면, 짜파게티, 컵라면, 불닭볶음면",
        "닭가슴살, 프로틴, 단백질 쉐이크, 그릭요거트, 샐러드",
        "쌀, 햇반, 즉석밥, 김치, 포기김치, 김",
        "커피, 원두, 캡슐커피, 믹스커피, 녹차",
        "귤, 사과, 딸기, 샤인머스캣, 고구마, 감귤 10kg",
        "소고기, 삼겹살, 한우 선물세트, 계란, 우유",
        "과자, 초콜릿, 견과류, 아이스크림",
    ]),
    "beauty": (1.6, [
        "마스크팩, 시트 마스크, 수분 크림, 토너, 세럼, 앰플",
        "선크림, 톤업 선크림, 선스틱, 쿠션, 파운데이션",
        "립스틱, 립밤, 틴트, 아이섀도우, 마스카라",
        "샴푸, 탈모 샴푸, 트리트먼트, 바디워시, 바디로션, 핸드크림",
        "향수, 남자 향수, 여자 향수, 디퓨저",
        "클렌징폼, 클렌징 오일, 폼클렌징, 면도기, 전동칫솔, 치약",
    ]),
    "living": (1.1, [
        "캠핑 의자, 캠핑 테이블, 텐트, 침낭, 캠핑 랜턴",
        "요가매트, 덤벨, 폼롤러, 러닝화, 골프공, 골프 장갑",
        "기저귀, 물티슈, 분유, 유모차, 카시트",
        "휴지, 세탁세제, 섬유유연제, 주방세제, 수건",
        "이불, 극세사 이불, 베개, 매트리스, 암막 커튼, 러그",
        "강아지 사료, 고양이 모래, 고양이 사료, 강아지 간식",
    ]),
}  # fmt: skip

# English or Latin spellings people type for Korean brand keywords; the search engine maps them to the
# same products, so they keep the keyword's result count.
_SHOP_ALIASES: dict[str, tuple[str, ...]] = {
    "아이폰": ("iphone", "iPhone"),
    "아이폰 15": ("iphone 15", "iPhone 15"),
    "아이폰 케이스": ("iphone 케이스", "iPhone case"),
    "아이패드": ("ipad", "iPad"),
    "에어팟": ("airpods", "AirPods"),
    "에어팟 프로": ("airpods pro", "AirPods Pro"),
    "맥북": ("macbook", "MacBook"),
    "맥북 에어": ("macbook air",),
    "애플워치": ("apple watch",),
    "갤럭시 s24": ("galaxy s24", "Galaxy S24"),
    "갤럭시 버즈": ("galaxy buds",),
    "삼성": ("samsung", "SAMSUNG", "Samsung"),
    "삼성 노트북": ("samsung 노트북",),
    "나이키": ("nike", "NIKE"),
    "나이키 운동화": ("nike 운동화",),
    "아디다스 삼바": ("adidas samba",),
    "아디다스 슬리퍼": ("adidas 슬리퍼",),
    "뉴발란스 530": ("new balance 530", "nb530"),
    "다이슨": ("dyson", "Dyson"),
    "다이슨 청소기": ("dyson 청소기",),
    "노스페이스 패딩": ("north face 패딩",),
    "로지텍 마우스": ("logitech 마우스",),
    "닌텐도 스위치": ("nintendo switch",),
    "플스5": ("ps5", "PS5"),
    "엘지 그램": ("lg 그램", "LG gram"),
}

_BURST_FOLLOW_UPS = _split("롱패딩 여성, 롱패딩 남성, 노스페이스 패딩, 패딩, 핫팩, 목도리, 전기요, 구스다운")

_BOOK_CATALOGUE: dict[str, tuple[float, list[str]]] = {
    "fantasy": (3.0, [
        ("harry potter, harry potter and the philosopher's stone, "
         "harry potter and the chamber of secrets, harry potter and the prisoner of azkaban, "
         "harry potter and the goblet of fire, harry potter box set, fantastic beasts"),
        "lord of the rings, the hobbit, the silmarillion, lord of the rings box set, tolkien",
        ("game of thrones, a song of ice and fire, the name of the wind, mistborn, the way of kings, "
         "brandon sanderson"),
        "percy jackson, the hunger games, divergent, twilight, his dark materials",
    ]),
    "programming": (2.0, [
        ("python programming, python crash course, fluent python, "
         "automate the boring stuff with python, learning python"),
        ("machine learning, hands-on machine learning, deep learning, "
         "pattern recognition and machine learning, data science from scratch, "
         "statistics for data science"),
        ("clean code, the pragmatic programmer, design patterns, refactoring, code complete, "
         "domain-driven design"),
        ("javascript, eloquent javascript, you don't know js, rust programming language, "
         "go programming language, sql for beginners"),
        ("algorithms, introduction to algorithms, cracking the coding interview, "
         "system design interview"),
    ]),
    "cooking": (1.5, [
        ("cookbook, vegan cookbook, baking, bread baking, salt fat acid heat, ottolenghi, jamie oliver, "
         "nigella"),
        "air fryer cookbook, slow cooker recipes, meal prep, instant pot cookbook, christmas cookbook",
        "korean cookbook, japanese cooking, italian cooking, indian cookbook",
    ]),
    "children": (1.8, [
        ("children's books, picture books, the very hungry caterpillar, the gruffalo, "
         "where the wild things are, dr seuss, roald dahl, matilda, charlie and the chocolate factory, "
         "the bfg"),
        "diary of a wimpy kid, dog man, wonder, the tiger who came to tea, peppa pig, julia donaldson",
        "baby books, bedtime stories, christmas books for kids, advent calendar books",
    ]),
    "classics": (1.5, [
        ("pride and prejudice, jane austen, 1984, animal farm, george orwell, to kill a mockingbird, "
         "the great gatsby, jane eyre, wuthering heights, little women"),
        ("crime and punishment, war and peace, anna karenina, the odyssey, moby dick, frankenstein, "
         "dracula"),
        "the catcher in the rye, of mice and men, brave new world, fahrenheit 451, lord of the flies",
    ]),
    "mystery": (1.3, [
        ("agatha christie, murder on the orient express, sherlock holmes, "
         "the girl with the dragon tattoo, gone girl, the silent patient, the thursday murder club, "
         "richard osman"),
        "stephen king, it stephen king, the shining, lee child, jack reacher",
    ]),
    "nonfiction": (1.4, [
        ("atomic habits, thinking fast and slow, sapiens, the psychology of money, rich dad poor dad, "
         "the 7 habits of highly effective people, deep work, how to win friends and influence people"),
        ("becoming michelle obama, spare prince harry, educated tara westover, "
         "the diary of a young girl"),
        ("history books, world war 2 books, biography, the body bill bryson, "
         "a short history of nearly everything"),
    ]),
}  # fmt: skip

# Misspellings seen in real bookshop logs; the generic letter-level typos below add more.
_BOOK_TYPOS: dict[str, tuple[str, ...]] = {
    "harry potter": ("harry poter", "hary potter", "harry pottter", "harr potter"),
    "python programming": ("pyhton programming", "pyton programming", "python programing"),
    "lord of the rings": ("lord of the rigns", "lord of the ring", "lord of teh rings"),
    "the hobbit": ("the hobit", "the hobbitt"),
    "machine learning": ("machine lerning", "machin learning"),
    "agatha christie": ("agatha christy",),
    "tolkien": ("tolkein",),
    "sherlock holmes": ("sherlok holmes", "sherlock homes"),
    "the gruffalo": ("the grufalo",),
}

_NEWS_KEYWORDS = _split(
    "날씨, 한파, 한파 특보, 첫눈, 대설주의보, 폭설, 서울 날씨, 주말 날씨, 부산 날씨, 기상청, 수능, "
    "수능 등급컷, 수능 정답, 금리, 기준금리, 환율, 코스피, 코스닥, 삼성전자 주가, 비트코인, 부동산, "
    "아파트 청약, 전세사기, 국회, 예산안, 국정감사, 여론조사, 물가, 소비자물가, 유가, 휘발유 가격, "
    "전기요금, 가스요금, 최저임금, 연말정산, 청년 월세 지원, 저출생, 의대 증원, 전공의, 독감, "
    "독감 예방접종, 미세먼지, 지진, 교통사고, 화재, 로또, 로또 당첨번호, 블랙프라이데이, 김장, "
    "김장 김치, 프로야구 fa, 손흥민, 이강인, 김민재, 월드컵 예선, 반도체, 엔비디아, 테슬라, 챗gpt, "
    "인공지능, 애플 신제품, 넷플릭스, 오징어 게임, 아이돌 컴백, 크리스마스, 연말 공연, "
    "크리스마스 선물, 해돋이 명소, KTX 예매, 설 연휴"
)

_KR_HOURLY = (0.35, 0.2, 0.12, 0.08, 0.06, 0.08, 0.15, 0.3, 0.5, 0.6, 0.65, 0.7,
              0.85, 0.8, 0.7, 0.7, 0.7, 0.75, 0.8, 0.9, 1.0, 1.0, 0.95, 0.7)  # fmt: skip
_UK_HOURLY = (0.15, 0.08, 0.05, 0.04, 0.04, 0.06, 0.15, 0.35, 0.5, 0.6, 0.7, 0.75,
              0.85, 0.8, 0.7, 0.7, 0.75, 0.8, 0.9, 1.0, 1.0, 0.9, 0.6, 0.3)  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Shared session machinery
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Event:
    ts: datetime
    user: str
    session: str
    query: str
    result_count: int
    clicked: bool


@dataclass(slots=True)
class _Catalogue:
    """Cluster/group structure with Zipf-like weights, flattened for fast weighted choice."""

    clusters: list[str]
    cluster_weights: list[float]
    groups: dict[str, list[list[str]]]
    group_weights: dict[str, list[list[float]]]
    cluster_of: dict[str, str] = field(default_factory=dict)
    group_of: dict[str, tuple[str, int]] = field(default_factory=dict)

    @classmethod
    def build(cls, spec: dict[str, tuple[float, list[str]]]) -> _Catalogue:
        cat = cls(clusters=[], cluster_weights=[], groups={}, group_weights={})
        for name, (weight, group_specs) in spec.items():
            groups = [list(_split(g)) for g in group_specs]
            cat.clusters.append(name)
            cat.cluster_weights.append(weight)
            cat.groups[name] = groups
            # Zipf over groups and over the keywords within a group: the head keyword of the first group is
            # the cluster's most searched one.
            cat.group_weights[name] = [
                [weight / (g + 1) ** 0.8 / (i + 1) ** 1.1 for i in range(len(group))]
                for g, group in enumerate(groups)
            ]
            for g, group in enumerate(groups):
                for kw in group:
                    if kw in cat.cluster_of:
                        raise ValueError(f"duplicate catalogue keyword {kw!r}")
                    cat.cluster_of[kw] = name
                    cat.group_of[kw] = (name, g)
        return cat

    @property
    def keywords(self) -> list[str]:
        return list(self.cluster_of)

    def pick_in_cluster(self, rng: random.Random, cluster: str) -> str:
        groups, weights = self.groups[cluster], self.group_weights[cluster]
        flat = [kw for group in groups for kw in group]
        flat_w = [w for ws in weights for w in ws]
        return rng.choices(flat, flat_w)[0]

    def next_keyword(self, rng: random.Random, current: str, user_clusters: _Prefs) -> str:
        cluster, g = self.group_of[current]
        r = rng.random()
        if r < 0.45 and len(self.groups[cluster][g]) > 1:
            group = self.groups[cluster][g]
            weights = self.group_weights[cluster][g]
            options = [(kw, w) for kw, w in zip(group, weights, strict=True) if kw != current]
            return rng.choices([o[0] for o in options], [o[1] for o in options])[0]
        if r < 0.82:
            return self.pick_in_cluster(rng, cluster)
        return self.pick_in_cluster(rng, user_clusters.pick(rng))


@dataclass(slots=True)
class _Prefs:
    clusters: list[str]
    weights: list[float]

    def pick(self, rng: random.Random) -> str:
        return rng.choices(self.clusters, self.weights)[0]


@dataclass(slots=True)
class _User:
    uid: str
    active_p: float  # chance of searching at all on a given day
    rate: float  # extra sessions on an active day (Poisson mean)
    noise: float  # multiplier on typing-noise probabilities: some people are sloppier typists
    prefs: _Prefs
    # Sessions whose queries are fixed in advance, per day index (PII, banned terms, the rare query...).
    fixed: dict[int, list[list[str]]] = field(default_factory=dict)


def _make_users(rng: random.Random, cat: _Catalogue, n: int, prefix: str, width: int) -> list[_User]:
    users: list[_User] = []
    for i in range(1, n + 1):
        favourites: list[str] = []
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            fav = rng.choices(cat.clusters, cat.cluster_weights)[0]
            if fav not in favourites:
                favourites.append(fav)
        weights = [
            w * (3.0 if c in favourites else 0.25)
            for c, w in zip(cat.clusters, cat.cluster_weights, strict=True)
        ]
        users.append(
            _User(
                uid=f"{prefix}{i:0{width}d}",
                active_p=min(0.95, 0.25 + rng.betavariate(2.0, 2.0)),
                rate=min(4.0, rng.lognormvariate(-0.3, 0.7)),
                noise=rng.choice((0.3, 0.6, 1.0, 1.0, 1.0, 1.5, 2.5)),
                prefs=_Prefs(cat.clusters, weights),
            )
        )
    return users


def _session_start(
    rng: random.Random, day_start: datetime, hourly: Sequence[float], tz: timezone
) -> datetime:
    while True:  # rejection sampling against the local hour-of-day profile
        t = day_start + timedelta(seconds=rng.randrange(86400))
        if rng.random() < hourly[t.astimezone(tz).hour]:
            return t


def _session_length(rng: random.Random) -> int:
    return rng.choices((1, 2, 3, 4, 5, 6), (0.28, 0.25, 0.2, 0.13, 0.09, 0.05))[0]


def _query_gap(rng: random.Random) -> timedelta:
    # Seconds between searches in one session: mostly quick refinements, capped well below a session gap.
    return timedelta(seconds=min(300, 4 + int(rng.expovariate(1 / 35))))


# --------------------------------------------------------------------------------------------------
# shop-kr
# --------------------------------------------------------------------------------------------------
_ZERO_RESULT_NOISE = frozenset({"chosung", "layout", "typo"})


def _shop_noise(rng: random.Random, kw: str, level: float) -> tuple[str, str]:
    """Return (query as typed, kind of noise) for the intended keyword ``kw``."""
    aliases = _SHOP_ALIASES.get(kw, ())
    has_latin = any(ch.isascii() and ch.isalpha() for ch in kw)
    hangul_only = all(_is_syllable(ch) or ch == " " for ch in kw)
    r = rng.random() / level
    if aliases and r < 0.15:
        return rng.choice(aliases), "alias"
    r = rng.random() / level
    if r < 0.07:
        if " " in kw:
            return (kw.replace(" ", "") if rng.random() < 0.8 else kw.replace(" ", "", 1)), "spacing"
        if len(kw) >= 3 and hangul_only and rng.random() < 0.5:
            cut = rng.randrange(1, len(kw))
            return kw[:cut] + " " + kw[cut:], "spacing"
    elif r < 0.082:
        if hangul_only and len(kw.replace(" ", "")) <= 5:
            cho = _chosung(kw)
            return (cho.replace(" ", "") if rng.random() < 0.7 else cho), "chosung"
    elif r < 0.097:
        if hangul_only:
            return layout_keys(kw), "layout"
    elif r < 0.112:
        typo = _jamo_typo(rng, kw)
        if typo is not None and typo != kw:
            return typo, "typo"
    elif r < 0.12:
        latin = rng.choice(aliases) if aliases else (kw if has_latin else None)
        if latin is not None:
            return _fullwidth(latin.upper() if rng.random() < 0.7 else latin), "fullwidth"
    elif r < 0.145:
        latin = rng.choice(aliases) if aliases else (kw if has_latin else None)
        if latin is not None:
            styles = (latin.title(), latin.upper(), latin.capitalize())
            return rng.choice(styles), "case"
    elif r < 0.155:
        pad = rng.choice((" {}", "{}  ", "  {} ", "{}\u3000"))
        return pad.format(kw.replace(" ", rng.choice(("  ", "\u3000")))), "pad"
    elif r < 0.16:
        # macOS and some mobile keyboards send decomposed (conjoining jamo) Hangul.
        return unicodedata.normalize("NFD", kw), "nfd"
    return kw, "clean"


@dataclass(slots=True)
class _ShopWorld:
    rng: random.Random
    seed: int
    cat: _Catalogue
    results: dict[str, int] = field(default_factory=dict)
    events: list[_Event] = field(default_factory=list)

    def result_count(self, kw: str) -> int:
        if kw not in self.results:
            # Per-keyword stream so a keyword's result count does not depend on generation order.
            kw_rng = random.Random(f"{self.seed}:results:{kw}")  # noqa: S311
            self.results[kw] = 1 + int(kw_rng.lognormvariate(5.5, 1.3))
        return self.results[kw]

    def emit(self, ts: datetime, user: _User, session: str, kw: str, kind: str, query: str) -> None:
        count = 0 if kind in _ZERO_RESULT_NOISE else self.result_count(kw)
        clicked = count > 0 and self.rng.random() < 0.6
        self.events.append(_Event(ts, user.uid, session, query, count, clicked))

    def session(self, user: _User, start: datetime, plan: list[str], noisy: bool) -> datetime:
        """Emit one session's searches; returns the time of its last search."""
        sid = f"s{self.rng.getrandbits(40):010x}"
        t = start
        for i, kw in enumerate(plan):
            if i:
                t += _query_gap(self.rng)
            query, kind = _shop_noise(self.rng, kw, user.noise) if noisy else (kw, "clean")
            self.emit(t, user, sid, kw, kind, query)
            if kind in _ZERO_RESULT_NOISE and self.rng.random() < 0.6:
                # Zero results make people fix what they typed a few seconds later.
                t += timedelta(seconds=self.rng.randint(3, 12))
                self.emit(t, user, sid, kw, "clean", kw)
            if self.rng.random() < 0.03:
                t += timedelta(seconds=self.rng.randint(1, 4))  # impatient double submit
                self.emit(t, user, sid, kw, kind, query)
        return t

    def plan(self, user: _User) -> list[str]:
        kw = self.cat.pick_in_cluster(self.rng, user.prefs.pick(self.rng))
        plan = [kw]
        for _ in range(_session_length(self.rng) - 1):
            kw = self.cat.next_keyword(self.rng, kw, user.prefs)
            if kw != plan[-1]:
                plan.append(kw)
        return plan

    def burst_plan(self) -> list[str]:
        plan = [SHOP_TRENDING_KEYWORD]
        for _ in range(self.rng.choice((0, 1, 1, 2, 3))):
            nxt = self.rng.choice(_BURST_FOLLOW_UPS)
            if nxt not in plan:
                plan.append(nxt)
        if len(plan) > 1 and self.rng.random() < 0.3:
            plan.append(SHOP_TRENDING_KEYWORD)  # back to the original after comparing
        return plan


def _shop_specials(rng: random.Random, users: list[_User], days: int) -> None:
    """Queries that must appear a known number of times: PII, banned terms and the one rare query."""
    mid = list(range(1, days - 1)) or [0]
    by_id = {u.uid: u for u in users}
    regulars = [u for u in users if u.uid != SHOP_RARE_USER]

    def add(user: _User, plan: list[str]) -> None:
        user.fixed.setdefault(rng.choice(mid), []).append(plan)

    # The rare query: a long, specific search from exactly one user (submitted twice, as people do when
    # nothing useful comes back), so min-users filtering has something to remove.
    add(
        by_id[SHOP_RARE_USER],
        ["아이폰 15 프로", SHOP_RARE_KEYWORD, SHOP_RARE_KEYWORD, "아이폰 15 케이스"],
    )
    # The examples the docs and tests name, guaranteed rather than left to chance; each is followed by
    # the query the user meant, as people do after an empty result page.
    showcase = [
        ["ＳＡＭＳＵＮＧ", "삼성"],
        ["ＳＡＭＳＵＮＧ 노트북", "삼성 노트북"],
        ["샴성", "삼성"],
        ["샴성 냉장고", "삼성 냉장고"],
        ["dkdlvhs", "아이폰"],
        ["ㅇㅇㅍ", "아이폰"],
        ["아이폰케이스", "아이폰 15 케이스"],
        ["Galaxy S24", "갤럭시 s24 케이스"],
    ]
    for plan in showcase:
        for user in rng.sample(regulars, 3):
            add(user, plan)
    pii = [
        ["010-1234-5678"],
        ["배송조회 010-9876-5432"],
        ["주문 취소", "hong.gildong@example.com"],
        ["환불 문의 minji.kim@example.co.kr"],
        ["4111-1111-1111-1111"],
        ["01055557777 주문"],
    ]
    for plan in pii:
        add(rng.choice(regulars), plan)
    banned = [
        ["fake 에어팟", "에어팟 프로"],
        ["에어팟 fake"],
        ["나이키 fake 운동화", "나이키 운동화"],
        ["fake 나이키"],
        ["불법 다운로드"],
        ["불법 촬영 카메라"],
        ["불법 의약품", "다이어트 약"],
    ]
    for plan in banned:
        for user in rng.sample(regulars, 2):
            add(user, plan)


def _shop_bot(world: _ShopWorld, day: date) -> None:
    """A scraper: hundreds of distinct queries from one user within minutes, in one 'session'."""
    rng = world.rng
    bot = _User(SHOP_BOT_USER, 1.0, 0.0, 0.0, _Prefs([], []))
    queries = world.cat.keywords
    rng.shuffle(queries)
    suffixes = ("최저가", "가격", "할인", "리뷰", "추천")
    queries += [f"{kw} {rng.choice(suffixes)}" for kw in rng.sample(world.cat.keywords, 200)]
    t = datetime(day.year, day.month, day.day, 3, rng.randint(0, 50), tzinfo=KST)  # scrapers run at night
    sid = f"s{rng.getrandbits(40):010x}"
    for q in queries:
        t += timedelta(milliseconds=rng.randint(400, 1600))
        kw = q if q in world.cat.cluster_of else q.rsplit(" ", 1)[0]
        world.events.append(_Event(t.replace(microsecond=0), bot.uid, sid, q, world.result_count(kw), False))


def _malformed_lines(day: date, rng: random.Random) -> list[bytes]:
    """One of each kind of broken line that ingest must quarantine: never crash on, never drop silently."""

    def ts(hour: int) -> str:
        return datetime(day.year, day.month, day.day, hour, rng.randint(0, 59), rng.randint(0, 59),
                        tzinfo=KST).isoformat()  # fmt: skip

    sid = f"s{rng.getrandbits(40):010x}"
    long_query = "아이폰 케이스 " * 300  # a pasted blob: over 5000 bytes on one line
    return [
        # A row written by a CP949 client into the UTF-8 log: "아이폰" as CP949 bytes is invalid UTF-8.
        f"{ts(10)},u0042,{sid},".encode() + "아이폰".encode("cp949") + b",120,1\n",
        f"{ts(11)},u0043,{sid},에어팟\x00프로,85,0\n".encode(),
        f"{ts(12)},u0044,갤럭시 버즈\n".encode(),  # missing columns
        f"2026-13-45T25:61:00+09:00,u0045,{sid},무선 청소기,40,1\n".encode(),
        f"{ts(14)},u0046,{sid},{long_query},0,0\n".encode(),
    ]


def _generate_shop(out: Path, seed: int, days: int, end: datetime) -> int:
    rng = _new_rng(seed, "shop-kr")
    cat = _Catalogue.build(_SHOP_CATALOGUE)
    world = _ShopWorld(rng, seed, cat)
    users = _make_users(rng, cat, _SHOP_USERS, "u", 4)
    _shop_specials(rng, users, days)
    start = end - days * _DAY

    for user in users:
        last = start - _SESSION_GAP
        for d in range(days):
            day_start = start + d * _DAY
            plans: list[tuple[list[str], bool]] = [(p, False) for p in user.fixed.get(d, [])]
            if rng.random() < user.active_p:
                plans += [(world.plan(user), True) for _ in range(1 + _poisson(rng, 2.0 * user.rate))]
            if d == days - 1 and rng.random() < 0.25:
                plans.append((world.burst_plan(), True))  # a cold wave: everyone wants a long padded coat
            elif d == days - 2 and rng.random() < 0.04:
                plans.append((world.burst_plan(), True))
            starts = sorted(_session_start(rng, day_start, _KR_HOURLY, KST) for _ in plans)
            rng.shuffle(plans)
            for when, (plan, noisy) in zip(starts, plans, strict=True):
                when = max(when, last + _SESSION_GAP)
                if when >= end:
                    break
                last = world.session(user, when, plan, noisy)

    first, last_day = start.astimezone(KST).date(), (end - timedelta(seconds=1)).astimezone(KST).date()
    local_days = [first + timedelta(days=i) for i in range((last_day - first).days + 1)]
    legacy_day, gz_day, plain = local_days[0], local_days[1], local_days[2:]
    # Broken lines and the bot go into a full plain-CSV day: the last KST date is only partly in the window.
    quarantine_day = plain[-2] if len(plain) >= 2 else plain[-1]
    _shop_bot(world, quarantine_day)

    by_day: dict[date, list[_Event]] = {d: [] for d in local_days}
    for ev in world.events:
        if start <= ev.ts < end:
            by_day[ev.ts.astimezone(KST).date()].append(ev)
    header = ("timestamp", "user_id", "session_id", "query", "result_count", "clicked")
    rows = 0
    for day, events in by_day.items():
        events.sort(key=lambda e: e.ts)
        rows += len(events)
        if day == legacy_day:
            # An older system: local time without offset (hence timezone in kwrec.toml), CRLF, CP949.
            text = _write_delimited(
                header,
                events,
                "\t",
                "\r\n",
                lambda t: t.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S"),
                cp949=True,
            )
            (out / f"legacy-{day.isoformat()}.tsv").write_bytes(text.encode("cp949"))
            continue
        text = _write_delimited(
            header, events, ",", "\n", lambda t: t.astimezone(KST).isoformat(), cp949=False
        )
        data = text.encode("utf-8")
        if day == quarantine_day:
            lines = data.splitlines(keepends=True)
            bad = _malformed_lines(day, rng)
            for i, line in enumerate(bad):
                lines.insert(1 + (i + 1) * (len(lines) - 1) // (len(bad) + 1), line)
            data = b"".join(lines)
            rows += len(bad)
        if day == gz_day:
            (out / f"events-{day.isoformat()}.csv.gz").write_bytes(_gzip(data))
        else:
            (out / f"events-{day.isoformat()}.csv").write_bytes(data)

    (out / "kwrec.toml").write_text(
        "# Synthetic sample customer: a Korean e-commerce site (made by kwrec sample-data).\n"
        "# legacy-*.tsv holds naive local timestamps, read in this time zone.\n"
        'timezone = "Asia/Seoul"\n'
        f"ban = [{', '.join(json.dumps(t, ensure_ascii=False) for t in BANNED_TERMS)}]\n",
        encoding="utf-8",
    )
    return rows


def _write_delimited(
    header: Sequence[str],
    events: list[_Event],
    delimiter: str,
    newline: str,
    fmt_ts: Callable[[datetime], str],
    *,
    cp949: bool,
) -> str:
    buf = io.StringIO()
    # TSV without quoting, as legacy exports are (and as ingest reads .tsv): a tab or quote inside a query
    # would then be an error here rather than a silently different file.
    tsv = delimiter == "\t"
    writer = csv.writer(
        buf, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL
    )
    writer.writerow(header)
    for ev in events:
        query = ev.query
        if cp949:
            # CP949 cannot store conjoining jamo; a legacy client would have sent precomposed syllables.
            query = unicodedata.normalize("NFC", query)
        writer.writerow((fmt_ts(ev.ts), ev.user, ev.session, query, ev.result_count, int(ev.clicked)))
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------
# books-en
# --------------------------------------------------------------------------------------------------
def _letter_typo(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not idx:
        return text
    i = rng.choice(idx)
    w = words[i]
    p = rng.randrange(1, len(w) - 1)
    op = rng.randrange(3)
    if op == 0:
        w = w[:p] + w[p + 1 :]  # dropped letter
    elif op == 1:
        w = w[:p] + w[p + 1] + w[p] + w[p + 2 :]  # swapped neighbours
    else:
        w = w[:p] + w[p] + w[p:]  # doubled letter
    words[i] = w
    return " ".join(words)


def _book_noise(rng: random.Random, kw: str, level: float) -> str:
    r = rng.random() / level
    if r < 0.04:
        known = _BOOK_TYPOS.get(kw)
        return rng.choice(known) if known and rng.random() < 0.7 else _letter_typo(rng, kw)
    if r < 0.12:
        # capwords, not str.title(): title() would write "Philosopher'S".
        return string.capwords(kw) if rng.random() < 0.85 else kw.upper()
    if r < 0.15:
        return rng.choice((" {}", "{} ", "{}  ")).format(kw.replace(" ", "  ", 1))
    if r < 0.18:
        return kw.capitalize()
    return kw


def _generate_books(out: Path, seed: int, days: int, end: datetime) -> int:
    rng = _new_rng(seed, "books-en")
    cat = _Catalogue.build(_BOOK_CATALOGUE)
    users = _make_users(rng, cat, _BOOK_USERS, "reader", 3)
    start = end - days * _DAY
    records: list[tuple[int, str, str]] = []
    for user in users:
        last = start - _SESSION_GAP
        for d in range(days):
            if rng.random() >= user.active_p:
                continue
            n = 1 + _poisson(rng, user.rate * 1.2)
            for when in sorted(_session_start(rng, start + d * _DAY, _UK_HOURLY, UTC) for _ in range(n)):
                # No session ids in this log: the gap between sessions is what defines them.
                t = max(when, last + _SESSION_GAP)
                if t >= end:
                    break
                kw = cat.pick_in_cluster(rng, user.prefs.pick(rng))
                for i in range(_session_length(rng)):
                    if i:
                        t += _query_gap(rng)
                        kw = cat.next_keyword(rng, kw, user.prefs)
                    if t < end:
                        records.append((int(t.timestamp()), user.uid, _book_noise(rng, kw, user.noise)))
                last = t
    records.sort(key=lambda r: r[0])
    files: dict[str, list[str]] = {}
    for ts, user_id, query in records:
        day = datetime.fromtimestamp(ts, UTC).date().isoformat()
        line = json.dumps(
            {"ts": ts, "user": user_id, "query": query}, ensure_ascii=False, separators=(",", ":")
        )
        files.setdefault(day, []).append(line)
    for day, lines in files.items():
        (out / f"search-{day}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "kwrec.toml").write_text(
        "# Synthetic sample customer: an English bookshop (made by kwrec sample-data).\n"
        "# No session ids: sessions are derived from user + time gap.\n"
        "[columns]\n"
        'timestamp = "ts"\n'
        'user_id = "user"\n',
        encoding="utf-8",
    )
    return len(records)


# --------------------------------------------------------------------------------------------------
# news-kr
# --------------------------------------------------------------------------------------------------
def _generate_news(out: Path, seed: int) -> int:
    rng = _new_rng(seed, "news-kr")
    weights = [1 / (i + 1) ** 0.9 for i in range(len(_NEWS_KEYWORDS))]
    lines: list[str] = []
    for _ in range(_NEWS_LINES):
        q = rng.choices(_NEWS_KEYWORDS, weights)[0]
        r = rng.random()
        if r < 0.03 and " " in q:
            q = q.replace(" ", "")
        elif r < 0.04:
            q = q + " "
        elif r < 0.045:
            q = ""  # an empty submit: a line with nothing to learn from
        lines.append(q)
    (out / "queries.txt.gz").write_bytes(_gzip(("\n".join(lines) + "\n").encode("utf-8")))
    return len(lines)


# --------------------------------------------------------------------------------------------------
_CUSTOMER_FILES = ("events-*.csv", "events-*.csv.gz", "legacy-*.tsv", "search-*.jsonl", "queries.txt.gz")


def _fresh_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    # Remove only files this generator writes, so a smaller --days leaves no stale day behind.
    for pattern in _CUSTOMER_FILES:
        for old in path.glob(pattern):
            old.unlink()


def generate(out_dir: Path, *, seed: int = 7, days: int = 5, end: datetime = DEFAULT_END) -> dict[str, int]:
    """Write the three sample customers under ``out_dir``; returns data rows (lines) written per customer.

    shop-kr's count includes its ``MALFORMED_ROWS`` broken lines. Same arguments, same bytes.
    """
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    if days < 3:
        raise ValueError("days must be at least 3 (legacy, gzip and plain files need separate days)")
    end = end.astimezone(UTC)
    counts: dict[str, int] = {}
    for customer in ("shop-kr", "books-en", "news-kr"):
        _fresh_dir(out_dir / customer)
    counts["shop-kr"] = _generate_shop(out_dir / "shop-kr", seed, days, end)
    counts["books-en"] = _generate_books(out_dir / "books-en", seed, days, end)
    counts["news-kr"] = _generate_news(out_dir / "news-kr", seed)
    (out_dir / "README.md").write_text(_readme(counts, seed, days, end), encoding="utf-8")
    return counts


def _readme(counts: dict[str, int], seed: int, days: int, end: datetime) -> str:
    return f"""# Sample search logs (synthetic)

Every file here is synthetic, made by `kwrec sample-data data/sample` (seed {seed}, {days} days
ending {end.isoformat()}). Do not edit by hand: a test checks that this directory equals a fresh generation.
Directory names are customer ids.

## shop-kr: Korean e-commerce ({counts["shop-kr"]} lines)
- ~300 keywords in clusters (apple, samsung, digital, fashion, kitchen, food, beauty, living), Zipf-like
  popularity; 400 users plus one bot (`{SHOP_BOT_USER}`); sessions of 1-6 related searches (`session_id`).
- Files split by KST date: `events-<date>.csv` (UTF-8, ISO 8601 with +09:00), one `events-<date>.csv.gz`,
  and the oldest day as `legacy-<date>.tsv` (CP949, tab-separated, CRLF, naive local timestamps).
  Header: `timestamp,user_id,session_id,query,result_count,clicked` (clicked is 0/1).
- Typing noise: spacing variants (아이폰케이스), 초성 submits (ㅇㅇㅍ), 한/영 layout mistakes (dkdlvhs),
  one-jamo typos (샴성), full-width Latin (ＳＡＭＳＵＮＧ), mixed case and English brand names (Galaxy S24,
  iphone), padding/ideographic spaces, decomposed (NFD) Hangul, double submits. Zero-result noise is often
  followed by the corrected query.
- Trending: `{SHOP_TRENDING_KEYWORD}` searched by many users in the last 24 hours (a cold wave).
- Rare: `{SHOP_RARE_KEYWORD}` typed by one user only (`{SHOP_RARE_USER}`).
- `kwrec.toml`: `timezone = "Asia/Seoul"`, `ban = ["fake", "불법"]`; some searches contain banned terms.
- PII in a few queries: phone numbers, e-mail addresses, a card-like number.
- One plain CSV holds {MALFORMED_ROWS} broken lines for quarantine: invalid UTF-8 (CP949 bytes), a NUL byte,
  missing columns, an unparsable timestamp, a line over 5000 bytes.
- The bot (`{SHOP_BOT_USER}`) submits ~500 distinct queries within about ten minutes.

## books-en: English bookshop ({counts["books-en"]} lines)
- ~150 keywords, 200 users, `search-<date>.jsonl` split by UTC date with keys `ts` (epoch seconds), `user`,
  `query`; `kwrec.toml` maps `[columns] timestamp = "ts"`, `user_id = "user"`.
- No session ids: sessions are separated by gaps of 35 minutes or more.
- Noise: case (Harry Potter), extra spaces, typos (harry poter, pyhton programming).

## news-kr: Korean news keywords ({counts["news-kr"]} lines)
- `queries.txt.gz`: one query per line, no users, no timestamps; a few spacing variants, trailing
  spaces and empty lines.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kwrec.core.sample_data", description=__doc__.splitlines()[0]
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=5)
    args = parser.parse_args(argv)
    counts = generate(args.out_dir, seed=args.seed, days=args.days)
    for customer, rows in counts.items():
        print(f"{customer}: {rows} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
