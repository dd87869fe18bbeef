"""Property: any generated CSV is either loaded with exactly its valid rows, or refused, and nothing else.

Files vary in delimiter, quoting, encoding, line endings, blank lines, column names and order, time
format, decimal commas, and mix valid rows with rows that are wrong in one known way. Ids are drawn from
an alphabet full of delimiters, quotes, line breaks, SQL and HTML. The oracle knows which rows are valid,
and on which physical line every row starts, so it checks the stored rows verbatim and every rejection's
line and column. One store file and one connection serve all examples (ingest_files_on), which keeps
500 examples around half a minute.
"""

from __future__ import annotations

import codecs
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.csv_pieces import split_csv
from engine.csv_read import sniff_csv
from engine.ingest import IngestRefused, ingest_files_on
from engine.store import Store
from small_pieces import pieces_of  # beside this file (pytest puts tests/engine on the path)

SETTINGS = settings(max_examples=500, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
ROLE_NAMES = {
    "user": ["user_id", "userId", "User ID", "customer", "visitorid", "member"],
    "item": ["item_id", "itemId", "product", "sku", "movieId", "Track"],
    "time": ["timestamp", "time", "date", "event_time", "created_at"],
    "rating": ["rating", "score", "stars", "weight", "plays"],
}
EXTRA_NAMES = ["note", "Robert') DROP TABLE datasets --", 'say "hi"', "<b>col</b>", "=1+1", ""]
HOSTILE = ["'; DROP TABLE interactions; --", "<script>alert(1)</script>", "=HYPERLINK(\"x\")", "NULL", "007", "@x", "-1"]
UTF8_CHARS = "abcXYZ019 ,;|\t\"'\n\r-=+@<>/()é日🙂\u2028\x85"
LATIN1_CHARS = "abcXYZ019 ,;|\t\"'\n\r-=+@<>/()éüßñ"
ASCII_WS = " \t\n\r\x0b\x0c"
BAD_TIMES = ["yesterday", "n/a", "??", "soon"]
START = datetime(2001, 9, 9, tzinfo=timezone.utc)


@dataclass
class Generated:
    text: str
    encoding: str
    delimiter: str
    header: list[str]
    roles: dict[str, int]  # role -> column index
    valid: list[tuple[str, str, int | None, float | None]] = field(default_factory=list)
    rejected: list[tuple[int, str | None]] = field(default_factory=list)  # (line, column name or None)
    rows: int = 0
    refusal: str | None = None  # a substring of the expected IngestRefused message


@pytest.fixture(scope="module")
def connection(tmp_path_factory):
    folder = tmp_path_factory.mktemp("property")
    store = Store(folder / "property.duckdb")
    base = folder / "base.csv"
    base.write_text("user_id,item_id\na,x\nb,y\n", encoding="utf-8")
    with store.connect() as con:
        ingest_files_on(con, "base", base)
        yield con, folder


def _quote(value: str, delimiter: str, quote_all: bool) -> str:
    if quote_all or any(char in value for char in (delimiter, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


def _line_breaks(text: str) -> int:
    return len(re.findall(r"\r\n|\r|\n", text))


@st.composite
def csv_files(draw, plain: bool = False) -> Generated:
    """A generated file and what loading it must give; `plain`: nothing is quoted (no value holds a quote,
    the delimiter or a line break), so that the file can be read in pieces (engine.csv_pieces)."""
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16-le", "utf-16-be", "latin-1"]))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    quote_all = not plain and draw(st.booleans())
    chars = LATIN1_CHARS if encoding == "latin-1" else UTF8_CHARS
    hostile, extra_names, fillers = HOSTILE, EXTRA_NAMES, ["", "x", "<i>", "a,b"]
    if plain:
        def unquoted(text: str) -> bool:
            return not any(char in text for char in (delimiter, '"', "\n", "\r"))

        chars = "".join(char for char in chars if unquoted(char))
        hostile, extra_names, fillers = ([text for text in texts if unquoted(text)] for texts in (HOSTILE, EXTRA_NAMES, fillers))
    ident = st.one_of(
        st.text(alphabet=chars, min_size=1, max_size=10).filter(lambda s: s.strip(ASCII_WS)),
        st.sampled_from(hostile),
    )
    roles = ["user", "item"] + [role for role in ("time", "rating") if draw(st.booleans())]
    extras = draw(st.lists(st.sampled_from(extra_names), max_size=2, unique=True))
    names = [draw(st.sampled_from(ROLE_NAMES[role])) for role in roles] + extras
    order = draw(st.permutations(range(len(names))))
    header = [names[k] for k in order]
    role_index = {role: order.index(k) for k, role in enumerate(roles)}
    time_kind = draw(st.sampled_from(["s", "ms", "iso"]))
    decimal_comma = delimiter != "," and draw(st.booleans())
    faults = ["empty_user", "blank_user", "empty_item", "too_many", "too_few"]
    faults += ["bad_time", "missing_time"] if "time" in roles else []
    faults += ["bad_rating", "nan_rating"] if "rating" in roles else []
    row_kinds = draw(st.lists(st.sampled_from(["valid"] * len(faults) + faults), min_size=1, max_size=25))

    gen = Generated("", encoding, delimiter, header, role_index)
    lines_text = newline * draw(st.sampled_from([0, 0, 0, 1, 2])) + _quote_row(header, delimiter, quote_all) + newline
    time_votes = {"good": 0, "bad": 0}  # full-width rows' time values, as the format detection sees them
    for kind in row_kinds:
        lines_text += newline * draw(st.sampled_from([0, 0, 0, 1, 2]))  # blank lines hold no row
        line = _line_breaks(lines_text) + 1
        values = [draw(st.sampled_from(fillers)) for _ in header]
        user, item = draw(ident), draw(ident)
        seconds = draw(st.integers(0, 10**9))
        stamp, ts = _time_text(draw, time_kind, seconds)
        rating_text, rating = _rating(draw, decimal_comma)
        values[role_index["user"]], values[role_index["item"]] = user, item
        if "time" in roles:
            values[role_index["time"]] = stamp
        if "rating" in roles:
            values[role_index["rating"]] = rating_text
        column: str | None = None
        if kind in ("empty_user", "blank_user"):
            blanks = [" "] + ([] if delimiter == "\t" else ["\t"]) + ([] if plain else [" \r\n "])
            values[role_index["user"]] = "" if kind == "empty_user" else draw(st.sampled_from(blanks))
            column = header[role_index["user"]]
        elif kind == "empty_item":
            values[role_index["item"]] = ""
            column = header[role_index["item"]]
        elif kind == "bad_time":
            values[role_index["time"]] = draw(st.sampled_from(BAD_TIMES))
            column = header[role_index["time"]]
        elif kind == "missing_time":
            values[role_index["time"]] = ""
            column = header[role_index["time"]]
        elif kind == "bad_rating":
            values[role_index["rating"]] = draw(st.sampled_from(["abc", "high", "x"]))
            column = header[role_index["rating"]]
        elif kind == "nan_rating":
            values[role_index["rating"]] = draw(st.sampled_from(["nan", "inf", "-inf"]))
            column = header[role_index["rating"]]
        elif kind == "too_many":
            values.append("surplus")
        elif kind == "too_few":
            values.pop()
        if "time" in roles and kind not in ("too_many", "too_few", "missing_time"):
            time_votes["bad" if kind == "bad_time" else "good"] += 1
        lines_text += _quote_row(values, delimiter, quote_all) + newline
        gen.rows += 1
        if kind == "valid":
            gen.valid.append((user, item, ts if "time" in roles else None, rating if "rating" in roles else None))
        else:
            gen.rejected.append((line, column))
    if draw(st.booleans()):
        lines_text = lines_text[: -len(newline)]  # no line break after the last row
    gen.text = lines_text
    if "time" in roles and time_votes["bad"] > time_votes["good"]:
        gen.refusal = "neither Unix timestamps nor ISO dates"
    elif not gen.valid:
        gen.refusal = "has no usable rows"
    return gen


def _quote_row(values: list[str], delimiter: str, quote_all: bool) -> str:
    return delimiter.join(_quote(value, delimiter, quote_all) for value in values)


def _time_text(draw, kind: str, seconds: int) -> tuple[str, int]:
    moment = START + timedelta(seconds=seconds)
    if kind == "s":
        return str(int(moment.timestamp())), int(moment.timestamp())
    if kind == "ms":
        millis = draw(st.integers(0, 999))
        return str(int(moment.timestamp()) * 1000 + millis), int(moment.timestamp())
    style = draw(st.sampled_from(["date", "T", "Z", "offset"]))
    if style == "date":
        midnight = moment.replace(hour=0, minute=0, second=0)
        return moment.strftime("%Y-%m-%d"), int(midnight.timestamp())
    if style == "T":
        return moment.strftime("%Y-%m-%dT%H:%M:%S"), int(moment.timestamp())
    if style == "Z":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ"), int(moment.timestamp())
    hours = draw(st.integers(-11, 12))
    local = moment + timedelta(hours=hours)
    sign = "+" if hours >= 0 else "-"
    return local.strftime("%Y-%m-%d %H:%M:%S") + f"{sign}{abs(hours):02d}:00", int(moment.timestamp())


def _rating(draw, decimal_comma: bool) -> tuple[str, float | None]:
    if draw(st.integers(0, 4)) == 0:
        return "", None
    tenths = draw(st.integers(0, 50))
    text = f"{tenths // 10}.{tenths % 10}" if tenths % 10 else str(tenths // 10)
    return (text.replace(".", ",") if decimal_comma else text), tenths / 10


def _encode(gen: Generated) -> bytes:
    if gen.encoding == "utf-8-sig":
        return codecs.BOM_UTF8 + gen.text.encode("utf-8")
    if gen.encoding == "utf-16-le":
        return codecs.BOM_UTF16_LE + gen.text.encode("utf-16-le")
    if gen.encoding == "utf-16-be":
        return codecs.BOM_UTF16_BE + gen.text.encode("utf-16-be")
    return gen.text.encode(gen.encoding)


def _datasets(con) -> list[tuple]:
    return con.execute("SELECT name, fingerprint FROM datasets ORDER BY name").fetchall()


def _stored(con) -> list[tuple]:
    return con.execute(
        "SELECT user_id, item_id, ts, rating FROM interactions WHERE dataset = ? ORDER BY row_order", ["generated"]
    ).fetchall()


@SETTINGS
@given(gen=csv_files())
def test_generated_csv_is_loaded_exactly_or_refused(gen: Generated, connection) -> None:
    con, folder = connection
    path = folder / "generated.csv"
    path.write_bytes(_encode(gen))
    _check_loaded_exactly_or_refused(con, gen, path)


@settings(SETTINGS, max_examples=150)
@given(gen=csv_files(plain=True))
def test_plain_csv_read_in_pieces_is_loaded_exactly_or_refused(gen: Generated, connection) -> None:
    """The same oracle with every file cut into up to four pieces (engine.csv_pieces), where it can be."""
    con, folder = connection
    path = folder / "plain.csv"
    path.write_bytes(_encode(gen))
    with pieces_of(40, max_pieces=4):
        if gen.refusal is None and gen.encoding == "utf-8" and "\r" not in gen.text and gen.text.count("\n") >= 10:
            (folder / "pieces").mkdir(exist_ok=True)
            assert len(split_csv(sniff_csv(path), folder / "pieces")) > 1  # this file really is read in pieces
        _check_loaded_exactly_or_refused(con, gen, path)


def _check_loaded_exactly_or_refused(con, gen: Generated, path: Path) -> None:
    before = _datasets(con)
    try:
        report = ingest_files_on(con, "generated", path, replace=True)
    except IngestRefused as refused:
        assert gen.refusal is not None, f"unexpected refusal: {refused}"
        assert gen.refusal in str(refused) and "\n" not in str(refused)
        assert _datasets(con) == before
        return
    assert gen.refusal is None, f"expected a refusal ({gen.refusal})"
    assert report.interactions_read == gen.rows
    assert report.interactions_accepted == len(gen.valid)
    assert [(r.line, r.column) for r in report.rejected] == gen.rejected
    assert all(r.reason for r in report.rejected)
    stored = _stored(con)
    assert [(u, i) for u, i, _, _ in stored] == [(u, i) for u, i, _, _ in gen.valid]
    assert [ts for _, _, ts, _ in stored] == [ts for _, _, ts, _ in gen.valid]
    for (_, _, _, got), (_, _, _, want) in zip(stored, gen.valid):
        assert (got is None and want is None) or math.isclose(got, want)
    if gen.encoding in ("utf-16-le", "utf-16-be", "utf-8-sig"):
        assert report.encoding == gen.encoding
    assert [name for name, _ in _datasets(con)] == ["base", "generated"]
