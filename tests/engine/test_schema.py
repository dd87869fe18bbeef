"""Identifier quoting and the table definitions, checked against a real in-memory DuckDB."""

from __future__ import annotations

import duckdb
import pytest

from engine import frames, schema
from engine.schema import quote_ident


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("plain", '"plain"'),
        ("with space", '"with space"'),
        ('say "hi"', '"say ""hi"""'),
        ('"', '""""'),
        ("'; DROP TABLE interactions; --", "\"'; DROP TABLE interactions; --\""),
        ("Ünïcødé 🎬", '"Ünïcødé 🎬"'),
    ],
)
def test_quote_ident_wraps_and_doubles_quotes(name: str, quoted: str) -> None:
    assert quote_ident(name) == quoted


@pytest.mark.parametrize("bad", ["", "nul\x00inside"])
def test_quote_ident_rejects_empty_and_nul(bad: str) -> None:
    with pytest.raises(ValueError):
        quote_ident(bad)


def test_quote_ident_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        quote_ident(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ['a"b', "'; DROP TABLE t; --", "select", "x.y", "Ünï 🎬", 'a""b'])
def test_quoted_identifiers_name_exactly_that_table_and_column(name: str) -> None:
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE t (x INTEGER)")
        con.execute(f"CREATE TABLE {quote_ident(name)} ({quote_ident(name)} VARCHAR)")
        con.execute(f"INSERT INTO {quote_ident(name)} VALUES (?)", [name])
        tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert tables == {"t", name}
        assert con.execute(f"SELECT {quote_ident(name)} FROM {quote_ident(name)}").fetchall() == [(name,)]
    finally:
        con.close()


def test_table_col_rejects_unknown_column() -> None:
    with pytest.raises(KeyError, match="no column 'user'"):
        schema.INTERACTIONS.col("user")


def test_data_tables_match_the_dataset_frames_columns() -> None:
    assert schema.data_columns(schema.INTERACTIONS) == frames.INTERACTION_COLUMNS
    assert schema.data_columns(schema.ITEMS) == frames.ITEM_COLUMNS
    assert schema.data_columns(schema.ITEM_ATTRIBUTES) == frames.ATTRIBUTE_COLUMNS
    assert schema.data_columns(schema.USER_ATTRIBUTES) == frames.USER_ATTRIBUTE_COLUMNS


def test_ddl_creates_the_documented_columns_and_types() -> None:
    con = duckdb.connect()
    try:
        for table in schema.ALL_TABLES:
            con.execute(table.ddl())
        described = {row[0]: row[1] for row in con.execute("DESCRIBE models").fetchall()}
        assert described == {column.name: column.sql_type for column in schema.MODELS.columns}
        described = {row[0]: row[1] for row in con.execute("DESCRIBE interactions").fetchall()}
        assert described["ts"] == "BIGINT" and described["rating"] == "DOUBLE"
        con.execute("INSERT INTO datasets VALUES ('d', 's', 1, 1, 1, true, 'f', TIMESTAMP '2024-01-01')")
        with pytest.raises(duckdb.ConstraintException):
            con.execute("INSERT INTO datasets VALUES ('d', 's', 1, 1, 1, true, 'f', TIMESTAMP '2024-01-01')")
        with pytest.raises(duckdb.ConstraintException):
            con.execute("INSERT INTO interactions VALUES ('d', NULL, 'i', NULL, NULL, 0)")
    finally:
        con.close()
