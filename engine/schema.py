"""The store's tables and columns, and the one helper that quotes identifiers.

This is the only module that spells a table or column name, so a rename or a new column is one edit
here and every SQL statement in store.py picks it up through Table.ident / Table.col.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 1  # bump with a migration in store.py when a table changes shape
META_SCHEMA_VERSION_KEY = "schema_version"


def quote_ident(name: str) -> str:
    """Quote `name` as a DuckDB identifier: wrap in double quotes, double any embedded quote.

    Why: identifiers cannot be bound as parameters, so quoting is the only defence; rejecting NUL and
    empty names keeps them from being truncated or meaning something else."""
    if not isinstance(name, str):
        raise TypeError(f"identifier must be a str, got {type(name).__name__}")
    if not name:
        raise ValueError("identifier must not be empty")
    if "\x00" in name:
        raise ValueError("identifier must not contain a NUL character")
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # a DuckDB type name; never user input
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    """One table: its columns in order and its primary key, with quoted accessors for SQL text."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()

    @property
    def ident(self) -> str:
        return quote_ident(self.name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def col(self, name: str) -> str:
        """The quoted column; KeyError on a name this table does not have (catches typos at once)."""
        if name not in self.column_names:
            raise KeyError(f"table {self.name!r} has no column {name!r}")
        return quote_ident(name)

    def cols(self, names: tuple[str, ...] | list[str]) -> str:
        """Comma-separated quoted columns, in the order given."""
        return ", ".join(self.col(name) for name in names)

    def ddl(self) -> str:
        lines = [
            f"{quote_ident(c.name)} {c.sql_type}{'' if c.nullable else ' NOT NULL'}" for c in self.columns
        ]
        if self.primary_key:
            lines.append(f"PRIMARY KEY ({self.cols(self.primary_key)})")
        return f"CREATE TABLE IF NOT EXISTS {self.ident} (\n    " + ",\n    ".join(lines) + "\n)"


# Column name shared by every per-dataset table: rows of all datasets live in one table each.
DATASET = "dataset"

META = Table(
    "store_meta",
    (Column("key", "VARCHAR", False), Column("value", "VARCHAR", False)),
    primary_key=("key",),
)

DATASETS = Table(
    "datasets",
    (
        Column("name", "VARCHAR", False),
        Column("source", "VARCHAR", False),
        Column("n_users", "BIGINT", False),
        Column("n_items", "BIGINT", False),  # distinct items with at least one interaction
        Column("n_interactions", "BIGINT", False),
        Column("has_timestamps", "BOOLEAN", False),
        Column("fingerprint", "VARCHAR", False),
        Column("created_at", "TIMESTAMP", False),  # naive UTC
    ),
    primary_key=("name",),
)

INTERACTIONS = Table(
    "interactions",
    (
        Column(DATASET, "VARCHAR", False),
        Column("user_id", "VARCHAR", False),
        Column("item_id", "VARCHAR", False),
        Column("ts", "BIGINT"),  # Unix seconds; NULL when the source had no time
        Column("rating", "DOUBLE"),  # NULL when the source had no rating or weight
        # position in the source file, breaks timestamp ties; ordered but not always dense (engine.csv_pieces)
        Column("row_order", "BIGINT", False),
    ),
)

ITEMS = Table(
    "items",
    (Column(DATASET, "VARCHAR", False), Column("item_id", "VARCHAR", False), Column("title", "VARCHAR")),
)

ITEM_ATTRIBUTES = Table(
    "item_attributes",
    (
        Column(DATASET, "VARCHAR", False),
        Column("item_id", "VARCHAR", False),
        Column("field", "VARCHAR", False),
        Column("value", "VARCHAR"),
    ),
)

USER_ATTRIBUTES = Table(
    "user_attributes",
    (
        Column(DATASET, "VARCHAR", False),
        Column("user_id", "VARCHAR", False),
        Column("field", "VARCHAR", False),
        Column("value", "VARCHAR"),
    ),
)

MODELS = Table(
    "models",
    (
        Column("name", "VARCHAR", False),
        Column(DATASET, "VARCHAR", False),
        Column("scorer", "VARCHAR", False),
        Column("path", "VARCHAR", False),  # relative to Store.model_dir, never absolute
        Column("config_json", "VARCHAR", False),
        Column("metrics_json", "VARCHAR", False),
        Column("fingerprint", "VARCHAR", False),
        Column("stale", "BOOLEAN", False),  # the dataset was replaced after this model was trained
        Column("created_at", "TIMESTAMP", False),  # naive UTC
    ),
    primary_key=("name",),
)

# Tables holding one dataset's rows, in the order a write fills them.
DATA_TABLES = (INTERACTIONS, ITEMS, ITEM_ATTRIBUTES, USER_ATTRIBUTES)
ALL_TABLES = (META, DATASETS, *DATA_TABLES, MODELS)


def data_columns(table: Table) -> tuple[str, ...]:
    """A data table's columns without the dataset column: exactly the DatasetFrames frame columns."""
    return tuple(name for name in table.column_names if name != DATASET)
