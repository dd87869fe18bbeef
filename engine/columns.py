"""Which column holds what: the user's mapping or names detected from common exports, and time formats.

Names are compared case-, space-, underscore-, hyphen- and dot-insensitively ("User ID" == "user_id" ==
"userId"). A column named by the user must exist; a detected one is the first candidate found, in the
order of the lists below (most specific first).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

from engine.csv_read import IngestRefused

USER_NAMES = ("user", "userid", "customer", "customerid", "visitor", "visitorid", "member", "memberid",
              "account", "accountid", "client", "clientid", "reviewer", "reviewerid", "uid", "username",
              "learner", "learnerid", "student", "studentid", "listener", "viewer", "reader", "buyer",
              "person", "personid", "profile", "profileid", "subscriber", "player", "playerid")  # fmt: skip
ITEM_NAMES = ("item", "itemid", "product", "productid", "sku", "movie", "movieid", "track", "trackid",
              "song", "songid", "article", "articleid", "course", "courseid", "book", "bookid", "isbn", "asin",
              "video", "videoid", "content", "contentid", "post", "postid", "game", "gameid", "recipe",
              "recipeid", "anime", "animeid", "artist", "artistid", "object", "objectid", "iid",
              "offer", "offerid", "listing", "listingid", "show", "showid")  # fmt: skip
TIME_NAMES = ("timestamp", "time", "date", "datetime", "ts", "eventtime", "eventtimestamp", "eventdate",
              "createdat", "created", "occurredat", "updatedat", "unixtime", "unixreviewtime", "epoch",
              "timestampms", "ratedat", "watchedat", "playedat", "viewedat", "purchasedat", "when")  # fmt: skip
RATING_NAMES = ("rating", "score", "stars", "weight", "plays", "playcount", "quantity", "qty", "count",
                "value", "overall", "rate", "clicks", "views", "amount", "feedback", "preference")  # fmt: skip
TITLE_NAMES = ("title", "name", "productname", "itemname", "producttitle", "itemtitle", "movietitle",
               "trackname", "songname", "songtitle", "coursename", "coursetitle", "booktitle", "articletitle",
               "headline", "label", "displayname", "description")  # fmt: skip
NO_COLUMN = ("", "none")  # an explicit time (or rating) of "" or "none" means: the file has no such column

MIN_TS, MAX_TS = -2_208_988_800, 7_258_118_400  # 1900-01-01 .. 2200-01-01 UTC: anything else is a unit mix-up
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$")
_COMMA_NUMBER = re.compile(r"^[+-]?\d+,\d+$")


@dataclass(frozen=True)
class ColumnMapping:
    """Header names holding each role; None = detect from common names (time/rating: "" or "none" = absent)."""

    user: str | None = None
    item: str | None = None
    time: str | None = None
    rating: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"user": self.user, "item": self.item, "time": self.time, "rating": self.rating}


@dataclass(frozen=True)
class Columns:
    """Resolved column positions in the header (None: the file has no such column)."""

    user: int
    item: int
    time: int | None
    rating: int | None

    def mapping(self, header: tuple[str, ...]) -> ColumnMapping:
        def name(index: int | None) -> str | None:
            return None if index is None else header[index]

        return ColumnMapping(name(self.user), name(self.item), name(self.time), name(self.rating))


@dataclass(frozen=True)
class TimeFormat:
    name: str  # unix_seconds, unix_milliseconds, unix_microseconds, unix_nanoseconds or iso8601
    sql_type: str  # how DuckDB reads the column: DOUBLE (Unix) or TIMESTAMPTZ (ISO, session time zone UTC)
    divisor: int  # Unix values are divided by this to give seconds


def normalize(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", name).lower()


def find_column(header: tuple[str, ...], candidates: tuple[str, ...], exclude: set[int] | None = None) -> int | None:
    """First header position whose normalised name is in `candidates`, in candidate order."""
    normalized = [normalize(name) for name in header]
    for candidate in candidates:
        for index, name in enumerate(normalized):
            if name == candidate and index not in (exclude or set()):
                return index
    return None


def named_column(header: tuple[str, ...], name: str, role: str, label: str) -> int:
    """Position of a column the user named: exact match first, then a unique normalised match."""
    if name in header:
        return header.index(name)
    matches = [i for i, column in enumerate(header) if normalize(column) == normalize(name)]
    if len(matches) == 1:
        return matches[0]
    columns = ", ".join(f'"{column}"' for column in header[:20])
    raise IngestRefused(f'{label} has no column "{name}" (asked for as the {role} column); its columns are {columns}')


def detect_mapping(header: tuple[str, ...]) -> ColumnMapping:
    """The mapping a user would see before loading: detected names, None where nothing fits."""
    user = find_column(header, USER_NAMES)
    item = find_column(header, ITEM_NAMES, _taken(user))
    time = find_column(header, TIME_NAMES, _taken(user, item))
    rating = find_column(header, RATING_NAMES, _taken(user, item, time))
    return ColumnMapping(*(None if index is None else header[index] for index in (user, item, time, rating)))


def resolve_columns(header: tuple[str, ...], mapping: ColumnMapping, label: str) -> Columns:
    """Positions of the user, item, time and rating columns; IngestRefused names what is missing."""
    user = _required(header, mapping.user, USER_NAMES, "user", label, _taken())
    item = _required(header, mapping.item, ITEM_NAMES, "item", label, _taken(user))
    time = _optional(header, mapping.time, TIME_NAMES, "time", label, _taken(user, item))
    rating = _optional(header, mapping.rating, RATING_NAMES, "rating", label, _taken(user, item, time))
    roles = {"user": user, "item": item, "time": time, "rating": rating}
    for role, index in roles.items():
        for other, other_index in roles.items():
            if other > role and index is not None and index == other_index:
                raise IngestRefused(f'{label}: the {role} and {other} columns must differ (both are "{header[index]}")')
    return Columns(user, item, time, rating)


def _taken(*indices: int | None) -> set[int]:
    return {index for index in indices if index is not None}


def _required(header, requested, candidates, role, label, taken) -> int:
    if requested is not None and requested.strip().lower() not in NO_COLUMN:
        return named_column(header, requested, role, label)
    found = find_column(header, candidates, taken)
    if found is None:
        examples = ", ".join(candidates[:4])
        hint = " (the first line must be a header naming the columns)" if _looks_like_data(header) else ""
        raise IngestRefused(
            f"{label} has no recognisable {role} column{hint}; name it e.g. {examples}, or choose it with --{role}-col"
        )
    return found


def _optional(header, requested, candidates, role, label, taken) -> int | None:
    if requested is not None:
        return None if requested.strip().lower() in NO_COLUMN else named_column(header, requested, role, label)
    return find_column(header, candidates, taken)


def _looks_like_data(header: tuple[str, ...]) -> bool:
    return sum(bool(_NUMBER.match(name.strip())) for name in header) >= 2


def detect_time_format(values: list[str], column: str, label: str) -> TimeFormat:
    """Unix seconds/ms/us/ns (told apart by the median magnitude) or ISO 8601, from sample values.

    IngestRefused when most sample values are neither (why: a date format we would guess wrong is worse
    than asking the user to convert it or to load without time)."""
    values = [value.strip() for value in values if value.strip()]
    numbers = [float(value) for value in values if _NUMBER.match(value)]
    iso = sum(bool(_ISO.match(value)) for value in values)
    unknown = len(values) - len(numbers) - iso
    if values and unknown > len(values) / 2:
        example = next(value for value in values if not _NUMBER.match(value) and not _ISO.match(value))
        raise IngestRefused(
            f'{label}: column "{column}" holds neither Unix timestamps nor ISO dates (e.g. "{example[:40]}"); '
            "convert it to YYYY-MM-DD HH:MM:SS, or load without time (--time-col none)"
        )
    if iso > len(numbers):
        return TimeFormat("iso8601", "TIMESTAMPTZ", 1)
    magnitude = statistics.median(abs(number) for number in numbers) if numbers else 0.0
    for limit, name, divisor in ((1e11, "unix_seconds", 1), (1e14, "unix_milliseconds", 10**3),
                                 (1e17, "unix_microseconds", 10**6)):  # fmt: skip
        if magnitude < limit:
            return TimeFormat(name, "DOUBLE", divisor)
    return TimeFormat("unix_nanoseconds", "DOUBLE", 10**9)


def uses_decimal_comma(values: list[str], delimiter: str) -> bool:
    """True when the sample numbers are written 4,5 rather than 4.5 (only possible without comma delimiters)."""
    if delimiter == ",":
        return False
    values = [value.strip() for value in values if value.strip()]
    commas = sum(bool(_COMMA_NUMBER.match(value)) for value in values)
    dots = sum("." in value for value in values)
    return commas > 0 and dots == 0
