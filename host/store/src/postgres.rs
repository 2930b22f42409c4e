//! The PostgreSQL connection behind [`crate::db::Conn`]: a tokio-postgres client whose
//! connection runs on a thread of its own, used synchronously like SQLite's.
//!
//! The store's API is synchronous and is called from async code too (the gateway's handlers),
//! where the `postgres` crate's blocking client would panic (it starts a runtime inside one).
//! tokio-postgres's client only talks to its connection task through channels, so its futures
//! can be waited on from any thread with `futures::executor::block_on` while the task runs on
//! the dedicated thread's own runtime.

use std::collections::HashMap;
use std::error::Error;

use bytes::BufMut;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, Config, NoTls};

use crate::db::{DbError, Value, to_postgres};

/// Where a PostgreSQL store lives: the server, and the schema its tables are in.
#[derive(Clone)]
pub struct PgTarget {
    config: Config,
    schema: String,
}

impl PgTarget {
    /// From a connection string (`postgres://user@host:port/db`, or libpq's `key=value` form),
    /// the password when it is kept apart from the string (an environment variable, a mounted
    /// secret), and the schema muster's tables live in, so several jobs can share one
    /// database (`public` when `None`).
    pub fn new(
        url: &str,
        password: Option<&str>,
        schema: Option<&str>,
    ) -> Result<PgTarget, crate::StoreError> {
        let bad = |problem: String| crate::StoreError::BadUrl {
            url: redact(url),
            problem,
        };
        let mut config: Config = url.parse().map_err(|e| bad(format!("{e}")))?;
        if let Some(password) = password {
            config.password(password);
        }
        if config.get_hosts().is_empty() {
            return Err(bad("it names no host".into()));
        }
        let schema = schema.unwrap_or("public");
        let valid = !schema.is_empty()
            && schema.len() <= 63
            && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(bad(format!(
                "the schema {schema:?} is not a plain lower-case identifier (a-z, 0-9, _)"
            )));
        }
        Ok(PgTarget {
            config,
            schema: schema.to_owned(),
        })
    }

    /// The schema muster's tables live in.
    pub fn schema(&self) -> &str {
        &self.schema
    }
}

/// The connection string without its password, for errors and logs.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((credentials, host)) => {
                let user = credentials.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_owned(),
        },
        None if url.contains("password") => "(a key=value string with a password)".into(),
        None => url.to_owned(),
    }
}

impl std::fmt::Debug for PgTarget {
    // Without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("hosts", &self.config.get_hosts())
            .field("ports", &self.config.get_ports())
            .field("user", &self.config.get_user())
            .field("dbname", &self.config.get_dbname())
            .field("schema", &self.schema)
            .finish()
    }
}

/// A connection and the statements prepared on it.
pub(crate) struct PgConn {
    target: PgTarget,
    client: Client,
    statements: HashMap<String, tokio_postgres::Statement>,
    /// Between `BEGIN` and `COMMIT`/`ROLLBACK`: a connection lost now is not replaced, or the
    /// rest of the transaction would run outside it, on the new connection.
    in_transaction: bool,
}

/// Connects on a new thread that then drives the connection until the client is dropped.
fn connect(target: &PgTarget) -> Result<Client, DbError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let mut config = target.config.clone();
    // Every statement reads and writes muster's schema; `public` stays visible for the
    // server's own objects.
    config.options(format!(
        "-c search_path={},public -c client_min_messages=warning",
        target.schema
    ));
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    config.keepalives_idle(std::time::Duration::from_secs(30));
    std::thread::Builder::new()
        .name("muster-postgres".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = sender.send(Err(DbError::Connection(format!(
                        "cannot start the connection's runtime: {e}"
                    ))));
                    return;
                }
            };
            runtime.block_on(async move {
                match config.connect(NoTls).await {
                    Ok((client, connection)) => {
                        let _ = sender.send(Ok(client));
                        // Ends when the client is dropped or the server goes away.
                        let _ = connection.await;
                    }
                    Err(e) => {
                        let _ = sender.send(Err(DbError::Postgres(e)));
                    }
                }
            });
        })
        .map_err(|e| DbError::Connection(format!("cannot start the connection's thread: {e}")))?;
    receiver
        .recv()
        .map_err(|_| DbError::Connection("the connection's thread ended".into()))?
}

impl PgConn {
    pub(crate) fn open(target: &PgTarget) -> Result<PgConn, DbError> {
        Ok(PgConn {
            client: connect(target)?,
            target: target.clone(),
            statements: HashMap::new(),
            in_transaction: false,
        })
    }

    pub(crate) fn target(&self) -> &PgTarget {
        &self.target
    }

    /// The client, connected again if the server closed the last connection (a restart, a
    /// failover): the statement that finds it closed fails, the next one runs.
    fn client(&mut self) -> Result<&Client, DbError> {
        if self.client.is_closed() {
            if self.in_transaction {
                return Err(DbError::Connection(
                    "the connection was lost during a transaction, which the server rolled back"
                        .into(),
                ));
            }
            self.statements.clear();
            self.client = connect(&self.target)?;
        }
        Ok(&self.client)
    }

    pub(crate) fn prepare(&mut self, sql: &str) -> Result<tokio_postgres::Statement, DbError> {
        if let Some(statement) = self.statements.get(sql)
            && !self.client.is_closed()
        {
            return Ok(statement.clone());
        }
        let text = to_postgres(sql);
        let statement = futures::executor::block_on(self.client()?.prepare(&text))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub(crate) fn execute(
        &mut self,
        statement: &tokio_postgres::Statement,
        values: &[Value<'_>],
    ) -> Result<u64, DbError> {
        let params: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        Ok(futures::executor::block_on(
            self.client()?.execute(statement, &params),
        )?)
    }

    pub(crate) fn query(
        &mut self,
        statement: &tokio_postgres::Statement,
        values: &[Value<'_>],
    ) -> Result<Vec<tokio_postgres::Row>, DbError> {
        let params: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        Ok(futures::executor::block_on(
            self.client()?.query(statement, &params),
        )?)
    }

    pub(crate) fn batch_execute(&mut self, sql: &str) -> Result<(), DbError> {
        let ends = sql.starts_with("COMMIT") || sql.starts_with("ROLLBACK");
        if ends {
            // Whatever the outcome, the next statement starts afresh (a failed COMMIT has
            // rolled back; a ROLLBACK on a lost connection has nothing to undo).
            let result = match self.client() {
                Ok(client) => {
                    futures::executor::block_on(client.batch_execute(sql)).map_err(DbError::from)
                }
                Err(e) => Err(e),
            };
            self.in_transaction = false;
            return result;
        }
        let result = futures::executor::block_on(self.client()?.batch_execute(sql));
        if sql.starts_with("BEGIN") {
            // Even when the batch failed part-way: the caller's ROLLBACK ends it.
            self.in_transaction = true;
        }
        Ok(result?)
    }
}

type BoxError = Box<dyn Error + Sync + Send>;

/// Encodes a value as the type PostgreSQL inferred for its parameter, so an integer binds to
/// a `BIGINT`, an `INTEGER` or a `BOOLEAN` column alike, as it does in SQLite.
impl ToSql for Value<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        match (self, ty) {
            (Value::Null, _) => return Ok(IsNull::Yes),
            (Value::Int(v), &Type::INT8) => out.put_i64(*v),
            (Value::Int(v), &Type::INT4) => out.put_i32(i32::try_from(*v)?),
            (Value::Int(v), &Type::INT2) => out.put_i16(i16::try_from(*v)?),
            (Value::Int(v), &Type::BOOL) => out.put_u8(u8::from(*v != 0)),
            #[allow(clippy::cast_precision_loss)]
            (Value::Int(v), &Type::FLOAT8) => out.put_f64(*v as f64),
            (Value::Int(v), _) if is_text(ty) => out.put_slice(v.to_string().as_bytes()),
            (Value::Real(v), &Type::FLOAT8) => out.put_f64(*v),
            (Value::Real(v), _) if is_text(ty) => out.put_slice(v.to_string().as_bytes()),
            (Value::Text(v), &Type::JSONB) => {
                out.put_u8(1);
                out.put_slice(v.as_bytes());
            }
            (Value::Text(v), _) if is_text(ty) || *ty == Type::JSON || *ty == Type::BYTEA => {
                out.put_slice(v.as_bytes());
            }
            (Value::Blob(v), &Type::BYTEA) => out.put_slice(v),
            (value, ty) => {
                return Err(format!("cannot bind {value:?} to a parameter of type {ty}").into());
            }
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Text-like types, `citext` and a nondeterministic collation's `text` among them.
fn is_text(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    ) || ty.name() == "citext"
}

impl<'a> FromSql<'a> for Value<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let int = |n: usize| -> Result<i64, BoxError> {
            let bytes: [u8; 8] = match n {
                8 => raw.try_into()?,
                4 => {
                    let b: [u8; 4] = raw.try_into()?;
                    i64::from(i32::from_be_bytes(b)).to_be_bytes()
                }
                _ => {
                    let b: [u8; 2] = raw.try_into()?;
                    i64::from(i16::from_be_bytes(b)).to_be_bytes()
                }
            };
            Ok(i64::from_be_bytes(bytes))
        };
        Ok(match *ty {
            Type::INT8 => Value::Int(int(8)?),
            Type::INT4 | Type::OID => Value::Int(int(4)?),
            Type::INT2 => Value::Int(int(2)?),
            Type::BOOL => Value::Int(i64::from(raw.first().copied().unwrap_or(0) != 0)),
            Type::FLOAT8 => Value::Real(f64::from_be_bytes(raw.try_into()?)),
            Type::FLOAT4 => Value::Real(f64::from(f32::from_be_bytes(raw.try_into()?))),
            Type::BYTEA => Value::Blob(raw),
            Type::JSONB => Value::Text(std::str::from_utf8(raw.get(1..).unwrap_or_default())?),
            Type::NUMERIC => {
                return Err("a NUMERIC column: cast it to BIGINT in the query".into());
            }
            _ => Value::Text(std::str::from_utf8(raw)?),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}
