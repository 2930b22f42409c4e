//! One small SQL interface over the two backends, SQLite (rusqlite) and PostgreSQL
//! (`postgres.rs`), shaped like rusqlite's so each table module is written once.
//!
//! Statements are written in the common subset of both dialects with numbered placeholders
//! (`?1`); PostgreSQL gets them as `$1`. Where the dialects differ (JSON functions, database
//! size), a module asks [`Conn::is_postgres`] and says both. Values cross as [`Value`]: the
//! five SQLite storage classes, which PostgreSQL encodes by the type it inferred for the
//! parameter (`postgres.rs`), so `BIGINT`, `TEXT` and `BYTEA` columns take them as SQLite does.
//!
//! rusqlite's own traits are not used for the values because the PostgreSQL side needs the
//! same ones; no crate offers one value type for both drivers short of sqlx's `Any`, which is
//! async and would turn every store call into a future.

use std::cell::RefCell;

use crate::postgres::PgConn;

/// A database value, borrowed where it can be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// An owned [`Value`], for parameters built at run time (`params_from_iter`) and rows copied
/// between databases.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OwnedValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl FromValue for OwnedValue {
    fn from_value(value: Value<'_>) -> Result<Self, String> {
        Ok(match value {
            Value::Null => OwnedValue::Null,
            Value::Int(v) => OwnedValue::Int(v),
            Value::Real(v) => OwnedValue::Real(v),
            Value::Text(v) => OwnedValue::Text(v.to_owned()),
            Value::Blob(v) => OwnedValue::Blob(v.to_vec()),
        })
    }
}

impl From<i64> for OwnedValue {
    fn from(v: i64) -> Self {
        OwnedValue::Int(v)
    }
}

impl From<String> for OwnedValue {
    fn from(v: String) -> Self {
        OwnedValue::Text(v)
    }
}

/// What can be bound as a parameter.
pub(crate) trait ToValue {
    fn to_value(&self) -> Value<'_>;
}

impl ToValue for OwnedValue {
    fn to_value(&self) -> Value<'_> {
        match self {
            OwnedValue::Null => Value::Null,
            OwnedValue::Int(v) => Value::Int(*v),
            OwnedValue::Real(v) => Value::Real(*v),
            OwnedValue::Text(v) => Value::Text(v),
            OwnedValue::Blob(v) => Value::Blob(v),
        }
    }
}

macro_rules! int_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value<'_> {
                // Saturating: no count or time muster stores comes near i64::MAX.
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_to_value!(i64, i32, u32, u64, usize, u8, u16);

impl ToValue for bool {
    fn to_value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<const N: usize> ToValue for [u8; N] {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value<'_> {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

/// A statement's parameters.
pub(crate) trait Params {
    fn values(&self) -> Vec<Value<'_>>;
}

impl Params for &[&dyn ToValue] {
    fn values(&self) -> Vec<Value<'_>> {
        self.iter().map(|v| v.to_value()).collect()
    }
}

impl<T: ToValue, const N: usize> Params for [T; N] {
    fn values(&self) -> Vec<Value<'_>> {
        self.iter().map(ToValue::to_value).collect()
    }
}

/// Parameters from an iterator, like rusqlite's.
pub(crate) struct ParamsFromIter<T>(Vec<T>);

pub(crate) fn params_from_iter<T: ToValue>(
    items: impl IntoIterator<Item = T>,
) -> ParamsFromIter<T> {
    ParamsFromIter(items.into_iter().collect())
}

impl<T: ToValue> Params for ParamsFromIter<T> {
    fn values(&self) -> Vec<Value<'_>> {
        self.0.iter().map(ToValue::to_value).collect()
    }
}

/// `params![a, b]`: a list of parameters of mixed types.
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::db::ToValue]
    };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::db::ToValue),+] as &[&dyn $crate::db::ToValue]
    };
}
pub(crate) use params;

/// What can be read from a column.
pub(crate) trait FromValue: Sized {
    fn from_value(value: Value<'_>) -> Result<Self, String>;
}

fn found(value: &Value<'_>) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Int(_) => "an integer".into(),
        Value::Real(_) => "a real".into(),
        Value::Text(_) => "text".into(),
        Value::Blob(_) => "a blob".into(),
    }
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(value: Value<'_>) -> Result<Self, String> {
                match value {
                    Value::Int(v) => <$t>::try_from(v)
                        .map_err(|_| format!("{v} is out of range for {}", stringify!($t))),
                    other => Err(format!("expected an integer, found {}", found(&other))),
                }
            }
        }
    )*};
}
int_from_value!(i64, i32, u32, u64, usize, u8, u16);

impl FromValue for bool {
    fn from_value(value: Value<'_>) -> Result<Self, String> {
        i64::from_value(value).map(|v| v != 0)
    }
}

impl FromValue for f64 {
    fn from_value(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Real(v) => Ok(v),
            #[allow(clippy::cast_precision_loss)]
            Value::Int(v) => Ok(v as f64),
            other => Err(format!("expected a number, found {}", found(&other))),
        }
    }
}

impl FromValue for String {
    fn from_value(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Text(v) => Ok(v.to_owned()),
            other => Err(format!("expected text, found {}", found(&other))),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Blob(v) => Ok(v.to_vec()),
            other => Err(format!("expected a blob, found {}", found(&other))),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: Value<'_>) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// What a statement or a read can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error("the query returned no row")]
    NoRow,
    #[error("column {index}: {problem}")]
    Column { index: usize, problem: String },
    #[error("PostgreSQL: {0}")]
    Connection(String),
}

/// `.optional()`: a query for one row that found none is `None`, not an error.
pub(crate) trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>, DbError>;
}

impl<T> OptionalExtension<T> for Result<T, DbError> {
    fn optional(self) -> Result<Option<T>, DbError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::NoRow | DbError::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// One row of a result.
pub(crate) enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a tokio_postgres::Row),
}

impl Row<'_> {
    /// A text column without copying it.
    pub(crate) fn get_str(&self, index: usize) -> Result<&str, DbError> {
        match self {
            Row::Sqlite(row) => Ok(row
                .get_ref(index)?
                .as_str()
                .map_err(rusqlite::Error::from)?),
            Row::Postgres(row) => Ok(row.try_get(index)?),
        }
    }

    pub(crate) fn get<T: FromValue>(&self, index: usize) -> Result<T, DbError> {
        let column = |problem| DbError::Column { index, problem };
        match self {
            Row::Sqlite(row) => {
                let value = match row.get_ref(index)? {
                    rusqlite::types::ValueRef::Null => Value::Null,
                    rusqlite::types::ValueRef::Integer(v) => Value::Int(v),
                    rusqlite::types::ValueRef::Real(v) => Value::Real(v),
                    rusqlite::types::ValueRef::Text(v) => {
                        Value::Text(std::str::from_utf8(v).map_err(|e| column(e.to_string()))?)
                    }
                    rusqlite::types::ValueRef::Blob(v) => Value::Blob(v),
                };
                T::from_value(value).map_err(column)
            }
            Row::Postgres(row) => {
                let value: Value<'_> = row.try_get(index)?;
                T::from_value(value).map_err(column)
            }
        }
    }
}

/// A connection: SQLite's, or PostgreSQL's. Used the same way inside a transaction and out
/// ([`Conn::transaction`] is explicit `BEGIN`/`COMMIT` on the one connection).
pub(crate) enum Conn {
    Sqlite(rusqlite::Connection),
    /// A `RefCell` because rusqlite's methods take `&self` and tokio-postgres's need the
    /// statement cache mutably; the store's mutex already makes the use exclusive.
    Postgres(Box<RefCell<PgConn>>),
}

/// A statement in PostgreSQL's words: `?N` placeholders become `$N` (quoted text is left
/// alone), and SQLite's `CROSS JOIN … ON` (which there only fixes the join order) becomes the
/// plain `JOIN` PostgreSQL requires for an `ON` clause.
pub(crate) fn to_postgres(sql: &str) -> String {
    let sql = sql.replace(" CROSS JOIN ", " JOIN ");
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

impl Conn {
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Conn::Postgres(_))
    }

    /// The PostgreSQL schema muster's tables are in; `None` on SQLite.
    pub(crate) fn postgres_schema(&self) -> Option<String> {
        match self {
            Conn::Sqlite(_) => None,
            Conn::Postgres(c) => Some(c.borrow().target().schema().to_owned()),
        }
    }

    /// The statement for this backend, where the dialects differ.
    pub(crate) fn dialect<'a>(&self, sqlite: &'a str, postgres: &'a str) -> &'a str {
        if self.is_postgres() { postgres } else { sqlite }
    }

    /// Runs one statement; returns the rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: impl Params) -> Result<usize, DbError> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// Runs several statements without parameters (schema, clean-ups).
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<(), DbError> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(c) => c.borrow_mut().batch_execute(sql),
        }
    }

    /// The first row of a query, mapped; [`DbError::NoRow`] when there is none.
    pub(crate) fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// A statement, prepared once per connection and kept.
    pub(crate) fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>, DbError> {
        match self {
            Conn::Sqlite(c) => Ok(Statement::Sqlite(c.prepare_cached(sql)?)),
            Conn::Postgres(c) => {
                let statement = c.borrow_mut().prepare(sql)?;
                Ok(Statement::Postgres { conn: c, statement })
            }
        }
    }

    /// A statement used once (its text differs from call to call).
    pub(crate) fn prepare(&self, sql: &str) -> Result<Statement<'_>, DbError> {
        self.prepare_cached(sql)
    }
}

/// A prepared statement.
pub(crate) enum Statement<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    Postgres {
        conn: &'c RefCell<PgConn>,
        statement: tokio_postgres::Statement,
    },
}

/// rusqlite's view of a [`Value`].
struct SqliteParam<'a>(Value<'a>);

impl rusqlite::ToSql for SqliteParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ValueRef;
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match self.0 {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(v),
            Value::Real(v) => ValueRef::Real(v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
            Value::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

impl Statement<'_> {
    pub(crate) fn execute(&mut self, params: impl Params) -> Result<usize, DbError> {
        let values = params.values();
        match self {
            Statement::Sqlite(s) => Ok(s.execute(rusqlite::params_from_iter(
                values.into_iter().map(SqliteParam),
            ))?),
            Statement::Postgres { conn, statement } => {
                let n = conn.borrow_mut().execute(statement, &values)?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    pub(crate) fn query(&mut self, params: impl Params) -> Result<Rows<'_>, DbError> {
        let values = params.values();
        match self {
            Statement::Sqlite(s) => Ok(Rows::Sqlite(s.query(rusqlite::params_from_iter(
                values.into_iter().map(SqliteParam),
            ))?)),
            Statement::Postgres { conn, statement } => {
                let rows = conn.borrow_mut().query(statement, &values)?;
                Ok(Rows::Postgres { rows, next: 0 })
            }
        }
    }

    /// The first row, mapped; [`DbError::NoRow`] when there is none.
    pub(crate) fn query_row<T>(
        &mut self,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut rows = self.query(params)?;
        match rows.next()? {
            Some(row) => f(&row),
            None => Err(DbError::NoRow),
        }
    }

    /// Every row, mapped; the iterator ends after the first error.
    pub(crate) fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<std::vec::IntoIter<Result<T, DbError>>, DbError> {
        let mut rows = self.query(params)?;
        let mut out = Vec::new();
        loop {
            match rows.next() {
                Ok(Some(row)) => {
                    let mapped = f(&row);
                    let failed = mapped.is_err();
                    out.push(mapped);
                    if failed {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    break;
                }
            }
        }
        Ok(out.into_iter())
    }
}

/// The rows of a query, read one at a time.
pub(crate) enum Rows<'s> {
    Sqlite(rusqlite::Rows<'s>),
    Postgres {
        rows: Vec<tokio_postgres::Row>,
        next: usize,
    },
}

impl Rows<'_> {
    pub(crate) fn next(&mut self) -> Result<Option<Row<'_>>, DbError> {
        match self {
            Rows::Sqlite(rows) => Ok(rows.next()?.map(Row::Sqlite)),
            Rows::Postgres { rows, next } => {
                let row = rows.get(*next);
                *next += 1;
                Ok(row.map(Row::Postgres))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_get_dollar_placeholders_outside_quotes_and_plain_joins() {
        assert_eq!(
            to_postgres("SELECT 1 FROM a CROSS JOIN b ON a.x = b.x"),
            "SELECT 1 FROM a JOIN b ON a.x = b.x"
        );
        assert_eq!(
            to_postgres("SELECT '?1', x FROM t WHERE a = ?1 AND b = ?12"),
            "SELECT '?1', x FROM t WHERE a = $1 AND b = $12"
        );
    }

    #[test]
    fn integers_read_back_in_range_or_say_why() {
        assert_eq!(u32::from_value(Value::Int(7)), Ok(7));
        assert!(
            u32::from_value(Value::Int(-1))
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            String::from_value(Value::Int(1))
                .unwrap_err()
                .contains("expected text")
        );
        assert_eq!(Option::<String>::from_value(Value::Null), Ok(None));
    }
}
