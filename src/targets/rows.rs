//! Rows of external MySQL/MariaDB tables whose schemas are not ours, read and written exactly.
//!
//! The console repairs tables such as LHC's `lks_res_deploy_mutex`, `ldc_plan` or `ldc_service`.
//! Only a few of their columns are known to us; the real tables carry many more (ids,
//! `gmt_create` / `gmt_modified`, tenant, operator, JSON, TEXT, DECIMAL, BLOB, …). So nothing
//! here is typed per table: [`columns`] reads the live schema from `information_schema`,
//! [`select_list`] reads every column in an exact textual form, [`decode_row`] turns a row into
//! [`Cell`]s, [`row_json`] and [`digest`] make previews, and [`literal`], [`insert_statement`]
//! and [`update_statement`] write undo scripts that restore every column exactly.
//!
//! Exactness rules, per column type:
//!
//! * integers are read natively ([`Cell::Int`] / [`Cell::UInt`]) and written bare;
//! * DECIMAL, DOUBLE, date/time types, JSON and unknown types are read with
//!   `CAST(… AS CHAR)`; DECIMAL and DOUBLE are written back as bare numeric literals (the
//!   server prints DOUBLE as the shortest text that round-trips), temporal values as quoted
//!   text;
//! * FLOAT is read widened to DOUBLE (the server prints a FLOAT with only 6 significant digits,
//!   which loses bits) and shown as the shortest text that still converts back to the same
//!   FLOAT;
//! * binary strings, BLOBs and spatial values are read with `HEX()` ([`Cell::Bytes`]) and
//!   written as `X'…'`; BIT is read with `HEX()` too (padded to the column's whole bytes) and
//!   written as an unsigned number;
//! * text is read as is and written as `'…'` (`_utf8mb4'…'` when not pure ASCII), or as
//!   `_utf8mb4 X'…'` when it contains a backslash or a control character, or is empty — so the
//!   literal means the same under every `sql_mode`, including `NO_BACKSLASH_ESCAPES`, `ANSI`
//!   and `EMPTY_STRING_IS_NULL`, and for every client character set.
//!
//! `TIMESTAMP` values are read and written in the session `time_zone`, as the server always
//! does. sqlx sets `time_zone = '+00:00'` on every connection by default, so reads and undo
//! scripts run through sqlx agree exactly; an undo script run elsewhere (e.g. in the `mysql`
//! client) must first `SET time_zone = '+00:00'`.
//!
//! Generated (`VIRTUAL` / `STORED`) columns are read like any other, but [`Column`] does not
//! mark them and the scripts assign them too: MariaDB in strict mode and MySQL reject that
//! (the script fails loudly); non-strict MariaDB ignores the value with a warning and
//! recomputes it from the restored columns.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sqlx::mysql::MySqlRow;
use sqlx::{Column as _, Row};

/// One column of a table, from `information_schema.COLUMNS` (ordinal order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Column {
    /// Column name, exactly as the server spells it.
    pub name: String,
    /// Lower-case `DATA_TYPE`, e.g. `"datetime"` (MariaDB reports JSON columns as `"longtext"`).
    pub data_type: String,
    /// `COLUMN_TYPE`, e.g. `"decimal(12,4) unsigned"`.
    pub column_type: String,
    /// `IS_NULLABLE = 'YES'`.
    pub nullable: bool,
    /// Part of the table's `PRIMARY KEY` (a unique key shown as `PRI` does not count).
    pub primary_key: bool,
    /// `EXTRA` contains `on update` (e.g. `gmt_modified … ON UPDATE CURRENT_TIMESTAMP`).
    pub on_update: bool,
}

/// Reads the columns of `table` in the connection's current database; an error if the table
/// does not exist there (or no database is selected). `e` is any sqlx MySQL executor.
pub async fn columns(
    conn: &mut sqlx::MySqlConnection,
    table: &str,
) -> Result<Vec<Column>, sqlx::Error> {
    // information_schema compares TABLE_NAME case-insensitively; the exact name is picked
    // below so that `Foo` and `foo` (distinct tables on Linux) never mix.
    let rows = sqlx::query(
        "SELECT CAST(c.TABLE_NAME AS CHAR) AS table_name, \
                CAST(c.COLUMN_NAME AS CHAR) AS name, \
                CAST(LOWER(c.DATA_TYPE) AS CHAR) AS data_type, \
                CAST(c.COLUMN_TYPE AS CHAR) AS column_type, \
                CAST(c.IS_NULLABLE = 'YES' AS SIGNED) AS nullable, \
                CAST(LOWER(c.EXTRA) LIKE '%on update%' AS SIGNED) AS on_update \
           FROM information_schema.COLUMNS c \
          WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = ? \
          ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    // The primary key from STATISTICS in one query: a correlated subquery per column costs
    // tens of milliseconds on a server with many tables, and COLUMN_KEY = 'PRI' also marks a
    // UNIQUE NOT NULL key of a table without a primary key.
    let pk: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR) FROM information_schema.STATISTICS \
          WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY'",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;

    let mut found: Vec<(String, Column)> = Vec::with_capacity(rows.len());
    for row in &rows {
        found.push((
            row.try_get("table_name")?,
            Column {
                name: row.try_get("name")?,
                data_type: row.try_get::<String, _>("data_type")?.to_ascii_lowercase(),
                column_type: row.try_get("column_type")?,
                nullable: row.try_get::<i64, _>("nullable")? != 0,
                primary_key: false,
                on_update: row.try_get::<i64, _>("on_update")? != 0,
            },
        ));
    }
    for (t, c) in &mut found {
        c.primary_key = pk.iter().any(|(pt, pc)| pt == t && *pc == c.name);
    }
    // Prefer the exactly spelled table; otherwise accept a single differently cased one
    // (servers with lower_case_table_names = 1 or 2).
    let chosen = if found.iter().any(|(t, _)| t == table) {
        Some(table.to_string())
    } else {
        match found.first() {
            Some((first, _)) if found.iter().all(|(t, _)| t == first) => Some(first.clone()),
            _ => None,
        }
    };
    let cols: Vec<Column> = match chosen {
        Some(name) => found
            .into_iter()
            .filter(|(t, _)| *t == name)
            .map(|(_, c)| c)
            .collect(),
        None => Vec::new(),
    };
    if cols.is_empty() {
        return Err(sqlx::Error::InvalidArgument(format!(
            "table {} does not exist in the current database (or it is ambiguous, or no \
             database is selected)",
            ident(table)
        )));
    }
    Ok(cols)
}

/// A cell value in a form that is exact and JSON-friendly.
///
/// Serialized adjacently tagged (`{"kind":"int","value":-5}`, `{"kind":"null"}`), so it
/// round-trips through `serde_json` exactly (an untagged form could not tell `Int` from
/// `UInt`, or `Text` from `Bytes`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Cell {
    /// SQL `NULL`.
    Null,
    /// A signed integer column's value.
    Int(i64),
    /// An unsigned integer column's value.
    UInt(u64),
    /// Every other type as its exact text: DECIMAL `"12.3400"`, DATETIME
    /// `"2026-01-02 03:04:05.123456"` (fraction digits only when the column has them), DATE,
    /// TIME, YEAR, JSON text, DOUBLE as the server prints it, FLOAT as its shortest exact text.
    Text(String),
    /// Upper-case hex of a BLOB / BINARY / VARBINARY / spatial value, or of a BIT value padded
    /// to the column's whole bytes.
    Bytes(String),
}

/// How a column is read, compared and written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Signed integer types.
    Int,
    /// Unsigned integer types.
    UInt,
    /// `BIT(M)`.
    Bit,
    /// `DECIMAL` / `NUMERIC`.
    Decimal,
    /// `FLOAT`.
    Float,
    /// `DOUBLE` / `REAL`.
    Double,
    /// `DATE`, `DATETIME`, `TIMESTAMP`, `TIME`, `YEAR`.
    Temporal,
    /// MySQL's native `JSON` (MariaDB's JSON is `LONGTEXT`, i.e. [`Kind::Text`]).
    Json,
    /// Character strings, `ENUM`, `SET`.
    Text,
    /// Binary strings, BLOBs and spatial types.
    Binary,
    /// Anything else (MariaDB `INET6`, `UUID`, …): read as text, written as a quoted string.
    Other,
}

/// The [`Kind`] of a column, from its `DATA_TYPE` (and `unsigned` in `COLUMN_TYPE`).
fn kind(col: &Column) -> Kind {
    match col.data_type.as_str() {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => {
            if col.column_type.to_ascii_lowercase().contains("unsigned") {
                Kind::UInt
            } else {
                Kind::Int
            }
        }
        "bit" => Kind::Bit,
        "decimal" | "numeric" => Kind::Decimal,
        "float" => Kind::Float,
        "double" | "real" | "double precision" => Kind::Double,
        "date" | "datetime" | "timestamp" | "time" | "year" => Kind::Temporal,
        "json" => Kind::Json,
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set" => {
            Kind::Text
        }
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" | "geometry"
        | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
        | "multipolygon" | "geometrycollection" | "geomcollection" => Kind::Binary,
        _ => Kind::Other,
    }
}

/// The expression reading `col` exactly (without alias).
fn read_expr(col: &Column) -> String {
    let id = ident(&col.name);
    match kind(col) {
        Kind::Int | Kind::UInt | Kind::Text => id,
        Kind::Bit | Kind::Binary => format!("HEX({id})"),
        // `+ 0E0` widens to DOUBLE (also on servers without CAST … AS DOUBLE).
        Kind::Float => format!("CAST({id} + 0E0 AS CHAR)"),
        Kind::Decimal | Kind::Double | Kind::Temporal | Kind::Json | Kind::Other => {
            format!("CAST({id} AS CHAR)")
        }
    }
}

/// The SELECT list that reads every column exactly: `CAST(… AS CHAR)` for decimal, float,
/// temporal, JSON and unknown types, `HEX()` for binary and BIT types, plain for integer and
/// text types, each aliased back to its column name, identifiers backquoted.
pub fn select_list(cols: &[Column]) -> String {
    cols.iter()
        .map(|col| {
            let expr = read_expr(col);
            let id = ident(&col.name);
            if expr == id {
                id
            } else {
                format!("{expr} AS {id}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decodes one row read with [`select_list`] into cells (same order as `cols`).
///
/// Errors when the row does not have exactly the columns of `cols`, in that order.
pub fn decode_row(row: &MySqlRow, cols: &[Column]) -> Result<Vec<Cell>, sqlx::Error> {
    if row.len() != cols.len() {
        return Err(sqlx::Error::InvalidArgument(format!(
            "row has {} columns, the table has {}",
            row.len(),
            cols.len()
        )));
    }
    let mut cells = Vec::with_capacity(cols.len());
    for (i, col) in cols.iter().enumerate() {
        let got = row.try_column(i)?.name();
        if got != col.name {
            return Err(sqlx::Error::InvalidArgument(format!(
                "row column {i} is {}, expected {} — read it with select_list",
                ident(got),
                ident(&col.name)
            )));
        }
        let cell = match kind(col) {
            Kind::Int => row
                .try_get::<Option<i64>, _>(i)?
                .map_or(Cell::Null, Cell::Int),
            Kind::UInt => row
                .try_get::<Option<u64>, _>(i)?
                .map_or(Cell::Null, Cell::UInt),
            Kind::Bit => match row.try_get::<Option<String>, _>(i)? {
                None => Cell::Null,
                Some(hex) => Cell::Bytes(pad_hex(&hex, bit_bytes(col))),
            },
            Kind::Binary => match row.try_get::<Option<String>, _>(i)? {
                None => Cell::Null,
                Some(hex) => Cell::Bytes(hex.to_ascii_uppercase()),
            },
            Kind::Float => match row.try_get::<Option<String>, _>(i)? {
                None => Cell::Null,
                Some(text) => Cell::Text(shortest_float(&text)),
            },
            Kind::Decimal
            | Kind::Double
            | Kind::Temporal
            | Kind::Json
            | Kind::Text
            | Kind::Other => row
                .try_get::<Option<String>, _>(i)?
                .map_or(Cell::Null, Cell::Text),
        };
        cells.push(cell);
    }
    Ok(cells)
}

/// Whole bytes of a `bit(M)` column (1 when `M` cannot be read).
fn bit_bytes(col: &Column) -> usize {
    let bits = col
        .column_type
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(m, _)| m.trim().parse::<usize>().ok())
        .unwrap_or(1);
    bits.div_ceil(8).max(1)
}

/// Upper-case `hex` left-padded with zeros to `bytes` bytes.
fn pad_hex(hex: &str, bytes: usize) -> String {
    let hex = hex.to_ascii_uppercase();
    let width = bytes * 2;
    if hex.len() >= width {
        hex
    } else {
        format!("{}{hex}", "0".repeat(width - hex.len()))
    }
}

/// The shortest text of the FLOAT whose widened DOUBLE the server printed as `text`, checked
/// to convert back (text → DOUBLE → FLOAT, as the server stores it) to the same FLOAT;
/// `text` itself (also exact) when that check fails.
fn shortest_float(text: &str) -> String {
    let Ok(wide) = text.parse::<f64>() else {
        return text.to_string();
    };
    // The `as` cast: the value is a widened FLOAT, so the cast is exact.
    let value = wide as f32;
    if f64::from(value) != wide || !value.is_finite() {
        return text.to_string();
    }
    let magnitude = value.abs();
    let short = if magnitude != 0.0 && !(1e-5..1e16).contains(&magnitude) {
        format!("{value:e}")
    } else {
        format!("{value}")
    };
    if stored_float(&short) == Some(value) {
        short
    } else {
        text.to_string()
    }
}

/// A row as a JSON object `{column: value}` for previews: `Null` → `null`, `Int`/`UInt` →
/// number, `Text` → string, `Bytes` → `"0x<HEX>"`.
pub fn row_json(cols: &[Column], cells: &[Cell]) -> serde_json::Value {
    let map = cols
        .iter()
        .zip(cells)
        .map(|(col, cell)| {
            let value = match cell {
                Cell::Null => serde_json::Value::Null,
                Cell::Int(v) => serde_json::Value::from(*v),
                Cell::UInt(v) => serde_json::Value::from(*v),
                Cell::Text(s) => serde_json::Value::String(s.clone()),
                Cell::Bytes(h) => serde_json::Value::String(format!("0x{h}")),
            };
            (col.name.clone(), value)
        })
        .collect::<serde_json::Map<_, _>>();
    serde_json::Value::Object(map)
}

/// A SQL literal that reproduces `cell` exactly when inserted into or assigned to `col`,
/// whatever the session's `sql_mode` (including `NO_BACKSLASH_ESCAPES`, `ANSI_QUOTES` and
/// `EMPTY_STRING_IS_NULL`) and client character set.
///
/// `NULL`; integers bare; DECIMAL / FLOAT / DOUBLE text bare (when it is a plain number);
/// BIT as an unsigned number; bytes as `X'<hex>'`; text as `'…'` with `'` doubled
/// (`_utf8mb4'…'` when not pure ASCII) when it has no backslash and no control characters and
/// is not empty, otherwise as `_utf8mb4 X'<hex>'` (`X'<hex>'` for binary columns). A
/// malformed [`Cell::Bytes`] gives `X'<invalid hex>'`, which the server rejects.
pub fn literal(col: &Column, cell: &Cell) -> String {
    let kind = kind(col);
    match cell {
        Cell::Null => "NULL".to_string(),
        Cell::Int(v) => v.to_string(),
        Cell::UInt(v) => v.to_string(),
        Cell::Bytes(hex) => {
            if !is_hex(hex) {
                "X'<invalid hex>'".to_string()
            } else if kind == Kind::Bit {
                let digits = hex.trim_start_matches('0');
                match u64::from_str_radix(if digits.is_empty() { "0" } else { digits }, 16) {
                    Ok(v) => v.to_string(),
                    Err(_) => format!("X'{}'", hex.to_ascii_uppercase()),
                }
            } else {
                format!("X'{}'", hex.to_ascii_uppercase())
            }
        }
        Cell::Text(s) => match kind {
            Kind::Decimal | Kind::Float | Kind::Double | Kind::Int | Kind::UInt | Kind::Bit
                if is_number(s) =>
            {
                s.clone()
            }
            Kind::Binary => format!("X'{}'", hex::encode_upper(s.as_bytes())),
            _ => text_literal(s),
        },
    }
}

/// A string literal for `s` meaning the same under every `sql_mode` and client charset.
fn text_literal(s: &str) -> String {
    if s.is_empty() || s.contains('\\') || s.chars().any(char::is_control) {
        format!("_utf8mb4 X'{}'", hex::encode_upper(s.as_bytes()))
    } else if s.is_ascii() {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        format!("_utf8mb4'{}'", s.replace('\'', "''"))
    }
}

/// `true` for an even-length string of hex digits (possibly empty).
fn is_hex(s: &str) -> bool {
    s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `true` for a plain numeric literal: `-?digits[.digits][e[+-]digits]`.
fn is_number(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (mantissa, None),
    };
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    digits(int)
        && frac.is_none_or(digits)
        && exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)))
}

/// `INSERT INTO `table` (`c1`, …) VALUES (…);` re-creating one row exactly.
///
/// # Panics
///
/// When `cells` and `cols` differ in length.
pub fn insert_statement(table: &str, cols: &[Column], cells: &[Cell]) -> String {
    assert_eq!(cols.len(), cells.len(), "one cell per column");
    let names = cols
        .iter()
        .map(|c| ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let values = cols
        .iter()
        .zip(cells)
        .map(|(col, cell)| literal(col, cell))
        .collect::<Vec<_>>()
        .join(", ");
    format!("INSERT INTO {} ({names}) VALUES ({values});", ident(table))
}

/// `UPDATE `table` SET `c1` = …, … WHERE …;` restoring every non-key column of one row
/// exactly, on_update columns included (assigned explicitly, so the server does not stamp
/// them).
///
/// With a primary key the WHERE is `key = value` for each key column. Without one, it matches
/// every column the change does not alter — all except `changed` (the columns the operation
/// writes, e.g. `["state"]`) and the on_update columns — null-safely (`<=>`) and exactly
/// (text byte for byte, not by collation; FLOAT by its exact value). Rows that agree on all
/// those columns are indistinguishable, so each such statement restores all of them. When no
/// column is left to match, the statement is a `SIGNAL` that fails instead of touching every
/// row.
///
/// # Panics
///
/// When `cells` and `cols` differ in length.
pub fn update_statement(table: &str, cols: &[Column], cells: &[Cell], changed: &[&str]) -> String {
    assert_eq!(cols.len(), cells.len(), "one cell per column");
    let has_key = cols.iter().any(|c| c.primary_key);
    let pairs = || cols.iter().zip(cells);

    let mut sets: Vec<String> = pairs()
        .filter(|(col, _)| !(has_key && col.primary_key))
        .map(|(col, cell)| format!("{} = {}", ident(&col.name), literal(col, cell)))
        .collect();
    if sets.is_empty() {
        // Only key columns: nothing to restore, but keep the statement valid.
        sets = pairs()
            .map(|(col, _)| format!("{0} = {0}", ident(&col.name)))
            .collect();
    }

    let conditions: Vec<String> = if has_key {
        pairs()
            .filter(|(col, _)| col.primary_key)
            .map(|(col, cell)| key_condition(col, cell))
            .collect()
    } else {
        pairs()
            .filter(|(col, _)| !col.on_update && !changed.contains(&col.name.as_str()))
            .map(|(col, cell)| match_condition(col, cell))
            .collect()
    };
    if conditions.is_empty() {
        let message = format!(
            "lhc-ops: cannot restore a row of {}: no unaltered column identifies it",
            ident(table)
        );
        return format!(
            "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = {};",
            text_literal(&message)
        );
    }
    format!(
        "UPDATE {} SET {} WHERE {};",
        ident(table),
        sets.join(", "),
        conditions.join(" AND ")
    )
}

/// `key = value` for a primary-key column (keys are unique under their collation, so plain
/// equality finds exactly the row).
fn key_condition(col: &Column, cell: &Cell) -> String {
    match (kind(col), cell) {
        (_, Cell::Null) => format!("{} IS NULL", ident(&col.name)),
        (Kind::Float, Cell::Text(_)) => match_condition(col, cell),
        _ => format!("{} = {}", ident(&col.name), literal(col, cell)),
    }
}

/// A null-safe, exact `column <=> value` condition.
fn match_condition(col: &Column, cell: &Cell) -> String {
    let id = ident(&col.name);
    let lit = literal(col, cell);
    match (kind(col), cell) {
        (_, Cell::Null) => format!("{id} <=> NULL"),
        // Byte-for-byte, so neither a case-insensitive collation nor PAD SPACE matches a
        // different value.
        (Kind::Text | Kind::Json, Cell::Text(_)) => {
            format!("CAST(CONVERT({id} USING utf8mb4) AS BINARY) <=> CAST({lit} AS BINARY)")
        }
        // A FLOAT compares as its widened DOUBLE, which the short text is not.
        (Kind::Float, Cell::Text(s)) if is_number(s) => match stored_float(s) {
            Some(v) => format!("{id} <=> {:e}", f64::from(v)),
            None => format!("{id} <=> {lit}"),
        },
        _ => format!("{id} <=> {lit}"),
    }
}

/// The FLOAT the server stores for the numeric text `s` (text → DOUBLE → FLOAT); `None` when
/// the server rejects it as out of range (a DOUBLE beyond `FLT_MAX`, even one that would round
/// to it — so `FLT_MAX` itself must be written with its long text).
fn stored_float(s: &str) -> Option<f32> {
    let wide = s.parse::<f64>().ok()?;
    if !wide.is_finite() || wide.abs() > f64::from(f32::MAX) {
        return None;
    }
    // The `as` cast: mirrors the server storing a DOUBLE into a FLOAT.
    let value = wide as f32;
    Some(value)
}

/// sha256 hex of the canonical JSON (object keys sorted, no whitespace) of a list of
/// [`row_json`] objects — the preview digest.
pub fn digest(rows: &[serde_json::Value]) -> String {
    let mut out = String::from("[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        canonical_json(row, &mut out);
    }
    out.push(']');
    hex::encode(Sha256::digest(out.as_bytes()))
}

/// Appends `value` as JSON with sorted object keys, independent of serde_json's map order.
fn canonical_json(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(item, out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Backquotes an identifier (a backquote inside is doubled).
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, data_type: &str, column_type: &str) -> Column {
        Column {
            name: name.to_string(),
            data_type: data_type.to_string(),
            column_type: column_type.to_string(),
            nullable: true,
            primary_key: false,
            on_update: false,
        }
    }

    fn text(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }

    #[test]
    fn ident_doubles_backquotes() {
        assert_eq!(ident("state"), "`state`");
        assert_eq!(ident("we`ird"), "`we``ird`");
        assert_eq!(ident(""), "``");
    }

    #[test]
    fn select_list_reads_each_type_exactly() {
        let cols = [
            col("id", "bigint", "bigint(20) unsigned"),
            col("name", "varchar", "varchar(64)"),
            col("amount", "decimal", "decimal(12,4)"),
            col("ratio", "double", "double"),
            col("f", "float", "float"),
            col("at", "datetime", "datetime(3)"),
            col("j", "json", "json"),
            col("raw", "blob", "blob"),
            col("flags", "bit", "bit(8)"),
            col("a`b", "inet6", "inet6"),
        ];
        assert_eq!(
            select_list(&cols),
            "`id`, `name`, CAST(`amount` AS CHAR) AS `amount`, CAST(`ratio` AS CHAR) AS `ratio`, \
             CAST(`f` + 0E0 AS CHAR) AS `f`, CAST(`at` AS CHAR) AS `at`, CAST(`j` AS CHAR) AS `j`, \
             HEX(`raw`) AS `raw`, HEX(`flags`) AS `flags`, CAST(`a``b` AS CHAR) AS `a``b`"
        );
    }

    #[test]
    fn literals_are_exact_and_mode_independent() {
        let v = col("v", "varchar", "varchar(255)");
        assert_eq!(literal(&v, &Cell::Null), "NULL");
        assert_eq!(literal(&v, &text("plain")), "'plain'");
        assert_eq!(literal(&v, &text("it's")), "'it''s'");
        assert_eq!(literal(&v, &text("日本'😀")), "_utf8mb4'日本''😀'");
        assert_eq!(literal(&v, &text("a\\b")), "_utf8mb4 X'615C62'");
        assert_eq!(literal(&v, &text("a\nb")), "_utf8mb4 X'610A62'");
        assert_eq!(literal(&v, &text("\0")), "_utf8mb4 X'00'");
        assert_eq!(literal(&v, &text("")), "_utf8mb4 X''");
        // Never a bare number in a text column, even when it looks like one.
        assert_eq!(literal(&v, &text("007")), "'007'");

        let i = col("i", "bigint", "bigint(20)");
        assert_eq!(literal(&i, &Cell::Int(i64::MIN)), "-9223372036854775808");
        let u = col("u", "bigint", "bigint(20) unsigned");
        assert_eq!(literal(&u, &Cell::UInt(u64::MAX)), "18446744073709551615");

        let d = col("d", "decimal", "decimal(12,4)");
        assert_eq!(literal(&d, &text("-12.3400")), "-12.3400");
        assert_eq!(literal(&d, &text("1; DROP TABLE x")), "'1; DROP TABLE x'");
        let dbl = col("r", "double", "double");
        assert_eq!(
            literal(&dbl, &text("1.7976931348623157e308")),
            "1.7976931348623157e308"
        );
        assert_eq!(literal(&dbl, &text("5e-324")), "5e-324");

        let t = col("t", "datetime", "datetime(3)");
        assert_eq!(
            literal(&t, &text("2026-01-02 03:04:05.123")),
            "'2026-01-02 03:04:05.123'"
        );

        let b = col("b", "blob", "blob");
        assert_eq!(literal(&b, &Cell::Bytes("00FF".into())), "X'00FF'");
        assert_eq!(literal(&b, &Cell::Bytes(String::new())), "X''");
        assert_eq!(literal(&b, &Cell::Bytes("0'".into())), "X'<invalid hex>'");
        assert_eq!(literal(&b, &text("ab")), "X'6162'");

        let bit = col("flags", "bit", "bit(64)");
        assert_eq!(literal(&bit, &Cell::Bytes("00A5".into())), "165");
        assert_eq!(literal(&bit, &Cell::Bytes("00".into())), "0");
        assert_eq!(
            literal(&bit, &Cell::Bytes("FFFFFFFFFFFFFFFF".into())),
            "18446744073709551615"
        );
    }

    #[test]
    fn numbers_are_recognised_strictly() {
        for ok in [
            "0", "-1", "12.3400", "1e300", "5e-324", "1.5E+10", "-0.0001",
        ] {
            assert!(is_number(ok), "{ok}");
        }
        for bad in [
            "", "-", ".5", "5.", "1e", "e5", "1.2.3", "0x10", "1 ", "inf", "NaN",
        ] {
            assert!(!is_number(bad), "{bad}");
        }
    }

    #[test]
    fn floats_get_their_shortest_exact_text() {
        assert_eq!(shortest_float("0.30000001192092896"), "0.3");
        assert_eq!(shortest_float("0.12345670163631439"), "0.1234567");
        assert_eq!(shortest_float("16777216"), "16777216");
        assert_eq!(shortest_float("3.4028230607370965e38"), "3.402823e38");
        // The shortest text of FLT_MAX reads back as a DOUBLE beyond FLT_MAX, which the
        // server rejects as out of range.
        assert_eq!(
            shortest_float("3.4028234663852886e38"),
            "3.4028234663852886e38"
        );
        assert_eq!(shortest_float("1.1754943508222875e-38"), "1.1754944e-38");
        assert_eq!(shortest_float("-0.5"), "-0.5");
        assert_eq!(shortest_float("0"), "0");
        // Not a widened FLOAT: kept as printed.
        assert_eq!(shortest_float("0.1"), "0.1");
        assert_eq!(shortest_float("junk"), "junk");
    }

    #[test]
    fn bit_values_are_padded_to_whole_bytes() {
        assert_eq!(bit_bytes(&col("b", "bit", "bit(1)")), 1);
        assert_eq!(bit_bytes(&col("b", "bit", "bit(9)")), 2);
        assert_eq!(bit_bytes(&col("b", "bit", "bit(64)")), 8);
        assert_eq!(pad_hex("5", 1), "05");
        assert_eq!(pad_hex("a5", 2), "00A5");
    }

    #[test]
    fn insert_statement_lists_every_column() {
        let cols = [
            col("id", "bigint", "bigint(20) unsigned"),
            col("note", "text", "text"),
            col("raw", "blob", "blob"),
        ];
        let cells = [Cell::UInt(7), text("x'y"), Cell::Null];
        assert_eq!(
            insert_statement("t`1", &cols, &cells),
            "INSERT INTO `t``1` (`id`, `note`, `raw`) VALUES (7, 'x''y', NULL);"
        );
    }

    #[test]
    fn update_statement_with_primary_key() {
        let mut id = col("id", "bigint", "bigint(20) unsigned");
        id.primary_key = true;
        let mut modified = col("gmt_modified", "datetime", "datetime(3)");
        modified.on_update = true;
        let cols = [id, col("state", "varchar", "varchar(16)"), modified];
        let cells = [
            Cell::UInt(7),
            text("RUNNING"),
            text("2026-01-02 03:04:05.123"),
        ];
        assert_eq!(
            update_statement("ldc_plan", &cols, &cells, &["state"]),
            "UPDATE `ldc_plan` SET `state` = 'RUNNING', `gmt_modified` = \
             '2026-01-02 03:04:05.123' WHERE `id` = 7;"
        );
    }

    #[test]
    fn update_statement_without_primary_key_matches_unaltered_columns() {
        let mut modified = col("gmt_modified", "datetime", "datetime(3)");
        modified.on_update = true;
        let cols = [
            col("resource", "varchar", "varchar(255)"),
            col("state", "varchar", "varchar(16)"),
            col("tenant", "varchar", "varchar(64)"),
            col("amount", "decimal", "decimal(12,4)"),
            col("f", "float", "float"),
            col("raw", "blob", "blob"),
            col("flags", "bit", "bit(8)"),
            modified,
        ];
        let cells = [
            text("app-1"),
            text("RUNNING"),
            Cell::Null,
            text("-1.5000"),
            text("0.3"),
            Cell::Bytes("00".into()),
            Cell::Bytes("A5".into()),
            text("2026-01-02 03:04:05.123"),
        ];
        assert_eq!(
            update_statement("m", &cols, &cells, &["state"]),
            "UPDATE `m` SET `resource` = 'app-1', `state` = 'RUNNING', `tenant` = NULL, \
             `amount` = -1.5000, `f` = 0.3, `raw` = X'00', `flags` = 165, \
             `gmt_modified` = '2026-01-02 03:04:05.123' \
             WHERE CAST(CONVERT(`resource` USING utf8mb4) AS BINARY) <=> CAST('app-1' AS BINARY) \
             AND `tenant` <=> NULL AND `amount` <=> -1.5000 \
             AND `f` <=> 3.0000001192092896e-1 AND `raw` <=> X'00' AND `flags` <=> 165;"
        );
    }

    #[test]
    fn update_statement_refuses_to_match_every_row() {
        let cols = [col("state", "varchar", "varchar(16)")];
        let sql = update_statement("m", &cols, &[text("RUNNING")], &["state"]);
        assert!(sql.starts_with("SIGNAL SQLSTATE '45000'"), "{sql}");
        assert!(!sql.contains("UPDATE"), "{sql}");
    }

    #[test]
    fn row_json_and_cells_round_trip() {
        let cols = [
            col("i", "int", "int(11)"),
            col("u", "bigint", "bigint(20) unsigned"),
            col("t", "text", "text"),
            col("b", "blob", "blob"),
            col("n", "text", "text"),
        ];
        let cells = vec![
            Cell::Int(-5),
            Cell::UInt(u64::MAX),
            text("日本"),
            Cell::Bytes("00FF".into()),
            Cell::Null,
        ];
        assert_eq!(
            row_json(&cols, &cells),
            serde_json::json!({"i": -5, "u": u64::MAX, "t": "日本", "b": "0x00FF", "n": null})
        );
        let json = serde_json::to_string(&cells).unwrap();
        let back: Vec<Cell> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cells);
        assert_eq!(
            serde_json::to_string(&Cell::UInt(5)).unwrap(),
            r#"{"kind":"uint","value":5}"#
        );
    }

    #[test]
    fn digest_is_canonical_and_sensitive() {
        let a = serde_json::json!({"b": 1, "a": "x", "c": {"z": null, "y": "日"}});
        let one = digest(std::slice::from_ref(&a));
        // Keys sorted at every level, no whitespace, serde_json string escaping.
        let canonical = r#"[{"a":"x","b":1,"c":{"y":"日","z":null}}]"#;
        assert_eq!(one, hex::encode(Sha256::digest(canonical.as_bytes())));
        let mut map = serde_json::Map::new();
        map.insert("c".into(), serde_json::json!({"y": "日", "z": null}));
        map.insert("a".into(), "x".into());
        map.insert("b".into(), 1.into());
        assert_eq!(one, digest(&[serde_json::Value::Object(map)]));
        assert_eq!(one.len(), 64);
        let b2 = serde_json::json!({"b": 2, "a": "x", "c": {"z": null, "y": "日"}});
        assert_ne!(one, digest(&[b2]));
        assert_ne!(one, digest(&[a.clone(), a]));
        // sha256("[]")
        assert_eq!(
            digest(&[]),
            "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
        );
    }
}
