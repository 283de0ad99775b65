//! One connection type for both backends, so the rules of the chat (who sees, edits, hears of
//! what) are written once, in the SQL both SQLite and PostgreSQL understand.
//!
//! The model code (`contacts.rs`, `messages.rs`, …) writes SQL with SQLite's `?N` placeholders
//! and binds values with rusqlite's `ToSql`; rows come back as SQLite's five kinds of value
//! (NULL, integer, real, text, blob), read with rusqlite's `FromSql`. On PostgreSQL the
//! placeholders become `$N`, each value is written as the type the server expects for it, and
//! each column is read back as one of those five kinds. Both schemas keep to them (every
//! integer is a BIGINT there), so the same statement means the same thing on both. The few
//! places where the dialects differ ask `dialect()`.

use super::pg_client::PgClient;
use rusqlite::ToSql;
use rusqlite::types::{FromSql, ToSqlOutput, Value, ValueRef};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

pub type Result<T, E = SqlError> = std::result::Result<T, E>;

/// A database error, from either backend.
#[derive(Debug)]
pub enum SqlError {
    /// A statement that must return a row returned none.
    NoRows,
    Sqlite(rusqlite::Error),
    Postgres(tokio_postgres::Error),
    /// A value could not be read as the type asked for, or written as the type expected.
    Conversion(String),
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SqlError::NoRows => f.write_str("query returned no rows"),
            SqlError::Sqlite(e) => e.fmt(f),
            SqlError::Postgres(e) => match e.as_db_error() {
                Some(db) => write!(f, "{}: {}", db.severity(), db.message()),
                None => e.fmt(f),
            },
            SqlError::Conversion(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for SqlError {}

impl From<rusqlite::Error> for SqlError {
    fn from(e: rusqlite::Error) -> SqlError {
        match e {
            rusqlite::Error::QueryReturnedNoRows => SqlError::NoRows,
            e => SqlError::Sqlite(e),
        }
    }
}

impl From<rusqlite::types::FromSqlError> for SqlError {
    fn from(e: rusqlite::types::FromSqlError) -> SqlError {
        SqlError::Conversion(e.to_string())
    }
}

impl From<tokio_postgres::Error> for SqlError {
    fn from(e: tokio_postgres::Error) -> SqlError {
        SqlError::Postgres(e)
    }
}

/// What kind of failure an error is, for the few callers that treat one differently.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// A UNIQUE or PRIMARY KEY constraint refused the change.
    Duplicate,
    /// The disk (or the database's quota) is full.
    Full,
    Other,
}

impl SqlError {
    pub fn failure(&self) -> Failure {
        match self {
            SqlError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                Failure::Duplicate
            }
            SqlError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DiskFull =>
            {
                Failure::Full
            }
            SqlError::Postgres(e) => match e.code() {
                Some(c) if *c == tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
                    Failure::Duplicate
                }
                Some(c)
                    if *c == tokio_postgres::error::SqlState::DISK_FULL
                        || *c == tokio_postgres::error::SqlState::OUT_OF_MEMORY =>
                {
                    Failure::Full
                }
                _ => Failure::Other,
            },
            _ => Failure::Other,
        }
    }
}

/// `.optional()` on a one-row query: no row is `None`, not an error.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(SqlError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The SQL dialect of a connection, for the statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A connection to either backend.
pub enum Sql {
    Sqlite(rusqlite::Connection),
    Postgres(PgConnection),
}

/// The advisory lock of `begin_write` (any number, the same in every server).
pub const WRITER_LOCK: i64 = 0x5052_4f54;

/// The channel of PostgreSQL `NOTIFY`s that say "the outbox has new events" (the payload: the
/// newest one's seq), sent by `commit`, heard by `postgres::listen`. Never the events
/// themselves: a payload stops at 8,000 bytes.
pub const EVENTS_CHANNEL: &str = "protocol_events";

/// Values bound to a statement's placeholders, in order: `params![a, b]`, `[a]`, `params![]`.
pub trait Params {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R;
}

impl Params for &[&dyn ToSql] {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        f(self)
    }
}

impl<T: ToSql, const N: usize> Params for [T; N] {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        let refs: [&dyn ToSql; N] = std::array::from_fn(|i| &self[i] as &dyn ToSql);
        f(&refs)
    }
}

impl Sql {
    pub fn dialect(&self) -> Dialect {
        match self {
            Sql::Sqlite(_) => Dialect::Sqlite,
            Sql::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The text for this connection's dialect, where the two differ.
    pub fn pick<'a>(&self, sqlite: &'a str, postgres: &'a str) -> &'a str {
        match self {
            Sql::Sqlite(_) => sqlite,
            Sql::Postgres(_) => postgres,
        }
    }

    /// The SQLite connection, for what only SQLite has (pragmas, backups, the WAL).
    pub fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Sql::Sqlite(conn) => Some(conn),
            Sql::Postgres(_) => None,
        }
    }

    /// A statement, prepared once per connection and kept.
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        match self {
            Sql::Sqlite(conn) => Ok(Statement::Sqlite(conn.prepare_cached(sql)?)),
            Sql::Postgres(conn) => {
                let (statement, writes) = conn.prepare(sql)?;
                Ok(Statement::Postgres(conn, statement, writes))
            }
        }
    }

    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        map: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T> {
        self.prepare_cached(sql)?.query_row(params, map)
    }

    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// Runs statements separated by semicolons, without parameters.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match self {
            Sql::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Sql::Postgres(conn) => conn.batch(sql),
        }
    }

    /// Runs an INSERT into a table keyed by `seq` and returns the new row's seq.
    pub fn insert_returning_seq(&self, sql: &str, params: impl Params) -> Result<i64> {
        match self {
            Sql::Sqlite(conn) => {
                // Not RETURNING: SQLite gathers RETURNING rows in a temporary table first.
                params.with(|p| conn.prepare_cached(sql)?.execute(p))?;
                Ok(conn.last_insert_rowid())
            }
            Sql::Postgres(conn) => {
                let statement = format!("{sql} RETURNING seq");
                let (prepared, writes) = conn.prepare(&statement)?;
                Statement::Postgres(conn, prepared, writes).query_row(params, |r| r.get(0))
            }
        }
    }

    /// Starts the writer's transaction. On PostgreSQL it first takes a lock that every
    /// writer of the database takes (several servers may share it), so transactions that take
    /// sequence values commit in the order they took them: a reader that sees seq 7 has
    /// already been able to see seq 6.
    pub fn begin_write(&self) -> Result<()> {
        match self {
            Sql::Sqlite(_) => self.control("BEGIN IMMEDIATE"),
            Sql::Postgres(_) => self.control(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({WRITER_LOCK})"
            )),
        }
    }

    /// Starts a read-only transaction: one snapshot for the whole of a read. (On PostgreSQL
    /// the BEGIN is sent with the read's first statement.)
    pub fn begin_read(&self) -> Result<()> {
        match self {
            Sql::Sqlite(_) => self.control("BEGIN"),
            Sql::Postgres(conn) => {
                conn.begin_read("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            }
        }
    }

    /// Commits the writer's transaction. On PostgreSQL, a transaction that recorded events
    /// (the newest is `newest_event`) also tells every server's listener (`postgres::listen`)
    /// in the same flight, so their hubs read the outbox at once.
    pub fn commit(&self, newest_event: Option<i64>) -> Result<()> {
        match (self, newest_event) {
            (Sql::Postgres(conn), Some(seq)) => {
                conn.commit_notifying(EVENTS_CHANNEL, &seq.to_string())
            }
            _ => self.control("COMMIT"),
        }
    }

    /// Ends the read-only transaction of `begin_read`, whatever the read did: it only lets
    /// go of the snapshot. (On PostgreSQL without waiting for the answer.)
    pub fn end_read(&self) -> Result<()> {
        match self {
            Sql::Sqlite(_) => self.control("COMMIT"),
            Sql::Postgres(conn) => conn.end_read(),
        }
    }

    /// Runs a transaction control statement (BEGIN, COMMIT, SAVEPOINT, …).
    pub fn control(&self, sql: &str) -> Result<()> {
        match self {
            Sql::Sqlite(conn) => {
                conn.prepare_cached(sql)?.execute([])?;
                Ok(())
            }
            Sql::Postgres(conn) => conn.batch(sql),
        }
    }

    /// Whether the open transaction can only be rolled back (PostgreSQL, after a failed
    /// statement; SQLite undoes a failed statement alone).
    pub fn must_roll_back(&self) -> bool {
        match self {
            Sql::Sqlite(_) => false,
            Sql::Postgres(conn) => conn.failed.get(),
        }
    }

    /// Whether the connection is gone for good (PostgreSQL's, after the server closed it;
    /// what the server sent is read first, so a close while it sat idle counts).
    pub fn is_broken(&self) -> bool {
        match self {
            Sql::Sqlite(_) => false,
            Sql::Postgres(conn) => conn.has_ended(),
        }
    }

    /// Whether no transaction is open.
    pub fn is_autocommit(&self) -> bool {
        match self {
            Sql::Sqlite(conn) => conn.is_autocommit(),
            Sql::Postgres(conn) => !conn.in_transaction.get(),
        }
    }

    /// Rows changed by this connection so far (to tell whether a job wrote anything).
    pub fn total_changes(&self) -> u64 {
        match self {
            Sql::Sqlite(conn) => conn.total_changes(),
            Sql::Postgres(conn) => conn.changes.get(),
        }
    }
}

/// A prepared statement of either backend.
pub enum Statement<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    /// With whether the statement changes rows (an INSERT/UPDATE/DELETE … RETURNING).
    Postgres(&'c PgConnection, tokio_postgres::Statement, bool),
}

impl Statement<'_> {
    /// The first row, mapped; `SqlError::NoRows` when there is none.
    pub fn query_row<T>(
        &mut self,
        params: impl Params,
        map: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T> {
        match self {
            Statement::Sqlite(statement) => {
                let mut rows = params.with(|p| statement.query(p))?;
                match rows.next()? {
                    Some(row) => map(&Row::Sqlite(row)),
                    None => Err(SqlError::NoRows),
                }
            }
            Statement::Postgres(conn, statement, writes) => {
                let rows = params.with(|p| conn.query(statement, *writes, p))?;
                match rows.first() {
                    Some(row) => map(&Row::Postgres(row)),
                    None => Err(SqlError::NoRows),
                }
            }
        }
    }

    /// Whether the query returns a row.
    pub fn exists(&mut self, params: impl Params) -> Result<bool> {
        let mut found = false;
        self.for_each(params, |_| -> Result<bool> {
            found = true;
            Ok(false)
        })?;
        Ok(found)
    }

    /// Every row, mapped.
    pub fn query_map<T>(
        &mut self,
        params: impl Params,
        mut map: impl FnMut(&Row) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let mut out = Vec::new();
        self.for_each(params, |row| -> Result<bool> {
            out.push(map(row));
            Ok(true)
        })?;
        Ok(out.into_iter())
    }

    /// Calls `each` on the rows in order until it returns `false`.
    pub fn for_each<E: From<SqlError>>(
        &mut self,
        params: impl Params,
        mut each: impl FnMut(&Row) -> Result<bool, E>,
    ) -> Result<(), E> {
        match self {
            Statement::Sqlite(statement) => {
                let mut rows = params
                    .with(|p| statement.query(p))
                    .map_err(SqlError::from)?;
                while let Some(row) = rows.next().map_err(SqlError::from)? {
                    if !each(&Row::Sqlite(row))? {
                        break;
                    }
                }
            }
            Statement::Postgres(conn, statement, writes) => {
                for row in params.with(|p| conn.query(statement, *writes, p))? {
                    if !each(&Row::Postgres(&row))? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs the statement; the number of rows it changed.
    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        match self {
            Statement::Sqlite(statement) => Ok(params.with(|p| statement.execute(p))?),
            Statement::Postgres(conn, statement, _) => params.with(|p| conn.execute(statement, p)),
        }
    }
}

/// A result row of either backend.
pub enum Row<'r, 's> {
    Sqlite(&'r rusqlite::Row<'s>),
    Postgres(&'r tokio_postgres::Row),
}

impl Row<'_, '_> {
    pub fn get<T: FromSql>(&self, index: usize) -> Result<T> {
        match self {
            Row::Sqlite(row) => Ok(row.get(index)?),
            Row::Postgres(_) => T::column_result(self.get_ref(index)?)
                .map_err(|e| SqlError::Conversion(format!("column {index}: {e}"))),
        }
    }

    /// The column as one of SQLite's five kinds of value.
    pub fn get_ref(&self, index: usize) -> Result<ValueRef<'_>> {
        match self {
            Row::Sqlite(row) => Ok(row.get_ref(index)?),
            Row::Postgres(row) => pg_value(row, index),
        }
    }
}

/// A PostgreSQL column as SQLite's kinds: integers and booleans are integers, text is text,
/// bytea a blob, floating point a real.
fn pg_value(row: &tokio_postgres::Row, index: usize) -> Result<ValueRef<'_>> {
    use tokio_postgres::types::Type;
    let column = row
        .columns()
        .get(index)
        .ok_or_else(|| SqlError::Conversion(format!("no column {index}")))?;
    let value = match *column.type_() {
        Type::INT8 => row.try_get::<_, Option<i64>>(index)?.map(ValueRef::Integer),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(index)?
            .map(|v| ValueRef::Integer(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(index)?
            .map(|v| ValueRef::Integer(v.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(index)?
            .map(|v| ValueRef::Integer(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(index)?.map(ValueRef::Real),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(index)?
            .map(|v| ValueRef::Real(v.into())),
        Type::BYTEA => row.try_get::<_, Option<&[u8]>>(index)?.map(ValueRef::Blob),
        _ => row
            .try_get::<_, Option<&str>>(index)?
            .map(|v| ValueRef::Text(v.as_bytes())),
    };
    Ok(value.unwrap_or(ValueRef::Null))
}

/// A PostgreSQL connection with its prepared statements, used from one thread at a time (the
/// writer's, or a reader's while checked out of the pool).
pub struct PgConnection {
    /// `None` only while being dropped.
    client: RefCell<Option<PgClient>>,
    /// A read's BEGIN, not sent yet: it goes with the read's first statement.
    begin: Cell<Option<&'static str>>,
    /// Prepared statements by their SQL, and whether each changes rows.
    statements: RefCell<HashMap<String, (tokio_postgres::Statement, bool)>>,
    in_transaction: Cell<bool>,
    /// A statement failed in the open transaction.
    failed: Cell<bool>,
    changes: Cell<u64>,
}

impl PgConnection {
    pub fn connect(config: &tokio_postgres::Config) -> Result<PgConnection> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SqlError::Conversion(format!("cannot start a runtime: {e}")))?;
        Ok(PgConnection {
            client: RefCell::new(Some(PgClient::connect(runtime, config)?)),
            begin: Cell::new(None),
            statements: RefCell::new(HashMap::new()),
            in_transaction: Cell::new(false),
            failed: Cell::new(false),
            changes: Cell::new(0),
        })
    }

    /// The client, borrowed for one call.
    fn client(&self) -> Result<std::cell::RefMut<'_, PgClient>> {
        std::cell::RefMut::filter_map(self.client.borrow_mut(), Option::as_mut)
            .map_err(|_| SqlError::Conversion("the connection is closed".into()))
    }

    fn prepare(&self, sql: &str) -> Result<(tokio_postgres::Statement, bool)> {
        if let Some(prepared) = self.statements.borrow().get(sql) {
            return Ok(prepared.clone());
        }
        let statement = self
            .client()?
            .prepare(&numbered_placeholders(sql))
            .inspect_err(|e| {
                log::error!("cannot prepare {sql}: {e}");
                self.failed.set(true);
            })?;
        let mut statements = self.statements.borrow_mut();
        // Lists build their SQL from a few shapes, so this stays small; the bound is a guard.
        if statements.len() >= 512 {
            statements.clear();
        }
        let head = sql.trim_start().get(..6).unwrap_or("").to_ascii_uppercase();
        let writes = matches!(head.as_str(), "INSERT" | "UPDATE" | "DELETE");
        statements.insert(sql.to_owned(), (statement.clone(), writes));
        Ok((statement, writes))
    }

    /// Runs a statement that returns rows; those of one that `writes` count as changes (the
    /// writer tells from the count whether a failed job left something to undo).
    fn query(
        &self,
        statement: &tokio_postgres::Statement,
        writes: bool,
        params: &[&dyn ToSql],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let begin = self.begin.take();
        let rows = with_pg_params(params, |refs| {
            Ok(self
                .client()?
                .query(begin, statement, refs)
                .inspect_err(|_| self.failed.set(true))?)
        })?;
        if writes {
            self.changes.set(self.changes.get() + rows.len() as u64 + 1);
        }
        Ok(rows)
    }

    fn execute(
        &self,
        statement: &tokio_postgres::Statement,
        params: &[&dyn ToSql],
    ) -> Result<usize> {
        let begin = self.begin.take();
        let changed = with_pg_params(params, |refs| {
            Ok(self
                .client()?
                .execute(begin, statement, refs)
                .inspect_err(|_| self.failed.set(true))?)
        })?;
        self.changes.set(self.changes.get() + changed);
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    /// COMMIT, with a `NOTIFY` on `channel` carrying `payload` in the same flight (delivered
    /// to the listeners if, and when, the transaction commits).
    fn commit_notifying(&self, channel: &str, payload: &str) -> Result<()> {
        let (statement, _) = self.prepare("SELECT pg_notify(?1, ?2)")?;
        let result = self
            .client()?
            .execute_then(&statement, &[&channel, &payload], "COMMIT");
        // It ends the transaction, even when it failed.
        self.in_transaction.set(false);
        self.failed.set(false);
        Ok(result?)
    }

    /// Opens a read-only transaction whose BEGIN travels with its first statement.
    fn begin_read(&self, begin: &'static str) -> Result<()> {
        if !self.in_transaction.get() {
            self.begin.set(Some(begin));
            self.in_transaction.set(true);
            self.failed.set(false);
            return Ok(());
        }
        self.batch(begin)
    }

    /// Ends a read-only transaction: nothing to send if it ran no statement, else a COMMIT
    /// that is not waited for (one of a read-only transaction cannot fail).
    fn end_read(&self) -> Result<()> {
        if self.begin.take().is_none() {
            self.client()?.send_without_waiting("COMMIT");
        }
        self.in_transaction.set(false);
        self.failed.set(false);
        Ok(())
    }

    fn batch(&self, sql: &str) -> Result<()> {
        // A read's BEGIN still waiting goes first.
        if let Some(begin) = self.begin.take() {
            self.client()?.batch_execute(begin)?;
        }
        // Transaction control runs through here (the writer's BEGIN/COMMIT/SAVEPOINT, a
        // reader's snapshot): keep track of whether one is open, and usable.
        let first = sql
            .trim_start()
            .get(..12)
            .unwrap_or(sql)
            .to_ascii_uppercase();
        let result = self.client()?.batch_execute(sql);
        if first.starts_with("BEGIN") {
            // Counted open even when it failed: `BEGIN; SELECT pg_advisory_xact_lock(…)` may
            // have begun before the lock failed (a lock_timeout, a cancel), and the next user
            // must roll that back first (a ROLLBACK with none open is only a warning).
            self.in_transaction.set(true);
            self.failed.set(result.is_err());
        } else if first.starts_with("ROLLBACK TO") {
            // The transaction stays; usable again if this worked.
            self.failed.set(result.is_err());
        } else if first.starts_with("COMMIT") || first.starts_with("ROLLBACK") {
            // Either ends the transaction, even when it failed.
            self.in_transaction.set(false);
            self.failed.set(false);
        } else if result.is_err() {
            self.failed.set(true);
        }
        Ok(result?)
    }

    /// Whether the connection is known to be gone (for the pool, when it comes back).
    pub fn is_broken(&self) -> bool {
        self.client
            .borrow()
            .as_ref()
            .is_none_or(PgClient::is_closed)
    }

    /// Whether the connection is gone, reading what the server sent first (a close while it
    /// sat idle): asked before a connection is used.
    pub fn has_ended(&self) -> bool {
        self.client
            .borrow_mut()
            .as_mut()
            .is_none_or(PgClient::has_ended)
    }
}

impl Drop for PgConnection {
    /// Closing runs the client's own runtime, which must not start inside another (a
    /// connection dropped by an async task): close it on a thread of its own then.
    fn drop(&mut self) {
        if let Some(client) = self.client.get_mut().take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            std::thread::scope(|s| {
                s.spawn(move || drop(client));
            });
        }
    }
}

/// Runs `work` on a thread outside any async runtime (the synchronous PostgreSQL client
/// blocks on a runtime of its own, which cannot start inside another).
pub fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return work();
    }
    std::thread::scope(|s| match s.spawn(work).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// `?N` → `$N`, and a bare `?` → one past the largest number so far (SQLite's rule), outside
/// string literals.
pub fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut in_string = false;
    let mut largest = 0;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_string = !in_string;
                out.push(c);
            }
            '?' if !in_string => {
                out.push('$');
                let mut number = 0usize;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    number = number * 10 + d as usize;
                    chars.next();
                }
                if number == 0 {
                    // As SQLite numbers it: one past the largest number so far.
                    number = largest + 1;
                }
                largest = largest.max(number);
                out.push_str(&number.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

/// A value bound to a PostgreSQL statement: written as whatever type the server inferred for
/// its placeholder (an integer into an INT4 or a BOOL, say), so SQL written for SQLite binds
/// the same Rust values.
#[derive(Debug)]
enum PgParam {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// Calls `run` with `params` as PostgreSQL values.
fn with_pg_params<T>(
    params: &[&dyn ToSql],
    run: impl FnOnce(&[&(dyn tokio_postgres::types::ToSql + Sync)]) -> Result<T>,
) -> Result<T> {
    let values = pg_params(params)?;
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values
        .iter()
        .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    run(&refs)
}

fn pg_params(params: &[&dyn ToSql]) -> Result<Vec<PgParam>> {
    params
        .iter()
        .map(|p| {
            let output = p.to_sql()?;
            let value = match output {
                ToSqlOutput::Borrowed(v) => match v {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Integer(i),
                    ValueRef::Real(r) => Value::Real(r),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                },
                ToSqlOutput::Owned(v) => v,
                _ => return Err(SqlError::Conversion("an unsupported parameter".into())),
            };
            Ok(match value {
                Value::Null => PgParam::Null,
                Value::Integer(v) => PgParam::Integer(v),
                Value::Real(v) => PgParam::Real(v),
                Value::Text(v) => PgParam::Text(v),
                Value::Blob(v) => PgParam::Blob(v),
            })
        })
        .collect()
}

impl tokio_postgres::types::ToSql for PgParam {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use tokio_postgres::types::{ToSql as Pg, Type};
        let textual = matches!(
            *ty,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON
        );
        let unexpected = || -> Box<dyn std::error::Error + Sync + Send> {
            format!("cannot bind {self:?} as {ty}").into()
        };
        match self {
            PgParam::Null => Ok(tokio_postgres::types::IsNull::Yes),
            PgParam::Integer(v) => match *ty {
                Type::INT8 => Pg::to_sql(&v, ty, out),
                Type::INT4 => Pg::to_sql(&i32::try_from(*v)?, ty, out),
                Type::INT2 => Pg::to_sql(&i16::try_from(*v)?, ty, out),
                Type::BOOL => Pg::to_sql(&(*v != 0), ty, out),
                Type::FLOAT8 => Pg::to_sql(&(*v as f64), ty, out),
                Type::FLOAT4 => Pg::to_sql(&(*v as f32), ty, out),
                _ if textual => Pg::to_sql(&v.to_string().as_str(), ty, out),
                _ => Err(unexpected()),
            },
            PgParam::Real(v) => match *ty {
                Type::FLOAT8 => Pg::to_sql(&v, ty, out),
                Type::FLOAT4 => Pg::to_sql(&(*v as f32), ty, out),
                _ if textual => Pg::to_sql(&v.to_string().as_str(), ty, out),
                _ => Err(unexpected()),
            },
            PgParam::Text(v) => match *ty {
                Type::INT8 => Pg::to_sql(&v.parse::<i64>()?, ty, out),
                Type::INT4 => Pg::to_sql(&v.parse::<i32>()?, ty, out),
                Type::INT2 => Pg::to_sql(&v.parse::<i16>()?, ty, out),
                Type::BYTEA => Pg::to_sql(&v.as_bytes(), ty, out),
                // PostgreSQL text cannot hold NUL, SQLite's can. Every stored text that may
                // come from a client is checked for control characters first, so a NUL only
                // ever arrives in a lookup (an id in a path, a cursor): made U+FFFD, it matches
                // nothing, as on SQLite, instead of failing the statement (and the batch).
                _ if textual && v.contains('\0') => {
                    Pg::to_sql(&v.replace('\0', "\u{FFFD}").as_str(), ty, out)
                }
                _ if textual => Pg::to_sql(&v.as_str(), ty, out),
                _ => Err(unexpected()),
            },
            PgParam::Blob(v) => match *ty {
                Type::BYTEA => Pg::to_sql(&v.as_slice(), ty, out),
                _ => Err(unexpected()),
            },
        }
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::numbered_placeholders;

    #[test]
    fn placeholders_are_numbered_outside_strings() {
        assert_eq!(
            numbered_placeholders("SELECT ?1, '?', ?2 WHERE a = ? AND b = ?"),
            "SELECT $1, '?', $2 WHERE a = $3 AND b = $4"
        );
    }
}
