//! `protocol migrate`'s database half: a SQLite database, running or stopped, copied into an
//! empty PostgreSQL database.
//!
//! The source is read inside one read transaction, so every table comes from the same snapshot
//! (WAL lets the server keep writing meanwhile; what it writes after the start is not in the
//! copy). The target is written in one transaction that also checks it is empty and, before
//! committing, that every table holds as many rows as the snapshot: a failed or refused copy
//! leaves the target as it was. Every row keeps its `seq`, and each identity sequence is then
//! set past the highest value SQLite ever handed out, so new rows continue the order.

use super::postgres;
use super::sql::{Sql, SqlError};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, ToSql};
use std::time::Duration;

/// A table to copy, in an order that satisfies the foreign keys.
struct Table {
    name: &'static str,
    /// Rows left out (none but the target's own schema version).
    filter: &'static str,
    /// The order rows are inserted in.
    order: &'static str,
    /// Whether `seq` is an identity column whose sequence must continue after the copy.
    sequence: bool,
}

const fn table(name: &'static str, order: &'static str, sequence: bool) -> Table {
    Table {
        name,
        filter: "",
        order,
        sequence,
    }
}

const TABLES: &[Table] = &[
    // Accounts first: a private contact refers to the account whose address book holds it.
    table("contacts", "ORDER BY owner_id IS NOT NULL, seq", true),
    table("address_book", "ORDER BY seq", true),
    table("chat_groups", "ORDER BY seq", true),
    table("conversations", "ORDER BY seq", true),
    table("participants", "ORDER BY seq", true),
    table("messages", "ORDER BY seq", true),
    table("reactions", "ORDER BY seq", true),
    table("attachments", "ORDER BY seq", true),
    table("file_trash", "", false),
    table("events", "ORDER BY seq", true),
    table("webhook_cursors", "", false),
    table("webhook_failures", "ORDER BY seq", true),
    table("idempotency_keys", "", false),
    Table {
        name: "server_meta",
        // Each backend records its own schema version (SQLite's is `user_version`).
        filter: "WHERE key <> 'schema_version'",
        order: "",
        sequence: false,
    },
];

/// Values per INSERT statement at most (PostgreSQL takes up to 65,535 parameters); rows per
/// statement at most, so a batch of wide rows stays a few MiB.
const VALUES_PER_INSERT: usize = 16_000;
const ROWS_PER_INSERT: usize = 2_000;

/// What was copied.
pub struct Copied {
    /// Rows per table, in copy order (the same on both sides: checked).
    pub tables: Vec<(&'static str, u64)>,
    /// The attachments of the snapshot, whose files the caller copies.
    pub attachment_ids: Vec<String>,
}

impl Copied {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Copies the SQLite database at `source_path` into the empty PostgreSQL database `target`
/// (creating its schema), calling `progress(rows done, rows in all)` as it goes. `before_commit`
/// gets the snapshot's attachment ids once every row is in and checked; an error from it undoes
/// the copy (the caller copies the attachment files there, so a failed file copy leaves the
/// target empty and the command can simply be run again).
pub fn to_postgres(
    source_path: &str,
    target: &tokio_postgres::Config,
    mut progress: impl FnMut(u64, u64),
    before_commit: impl FnOnce(&[String]) -> Result<(), String>,
) -> Result<Copied, String> {
    let source = open_snapshot(source_path)?;
    let read = |e: rusqlite::Error| format!("cannot read {source_path}: {e}");
    let counts: Vec<u64> = TABLES
        .iter()
        .map(|t| source_count(&source, t).map_err(read))
        .collect::<Result<_, _>>()?;
    let total: u64 = counts.iter().sum();
    let attachment_ids: Vec<String> = source
        .prepare("SELECT id FROM attachments ORDER BY seq")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(read)?;

    let target = postgres::connect(target).map_err(|e| format!("cannot connect: {e}"))?;
    postgres::migrate(&target)?;
    let write = |e: SqlError| format!("cannot write to PostgreSQL: {e}");
    target.control("BEGIN").map_err(write)?;
    let copied = (|| {
        refuse_unless_empty(&target)?;
        let mut done = 0;
        progress(done, total);
        for table in TABLES {
            let columns = same_columns(&source, &target, table.name)?;
            copy_table(&source, &target, table, &columns, |rows| {
                done += rows;
                progress(done, total);
            })
            .map_err(|e| format!("cannot copy {}: {e}", table.name))?;
            if table.sequence {
                continue_sequence(&source, &target, table.name)
                    .map_err(|e| format!("cannot set the sequence of {}: {e}", table.name))?;
            }
        }
        check_counts(&target, &counts)?;
        before_commit(&attachment_ids)?;
        target.control("COMMIT").map_err(write)
    })();
    if copied.is_err() && !target.is_autocommit() {
        let _ = target.control("ROLLBACK");
    }
    copied?;
    let _ = source.execute_batch("COMMIT");
    Ok(Copied {
        tables: TABLES.iter().map(|t| t.name).zip(counts).collect(),
        attachment_ids,
    })
}

/// The source, read-only, inside the read transaction every table is read in; refused unless it
/// has this server's schema version and no table this copy does not know.
fn open_snapshot(path: &str) -> Result<Connection, String> {
    let source = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open {path}: {e}"))?;
    let read = |e: rusqlite::Error| format!("cannot read {path}: {e}");
    source.busy_timeout(Duration::from_secs(10)).map_err(read)?;
    // The snapshot starts with the first read after BEGIN.
    source
        .execute_batch("BEGIN; SELECT count(*) FROM sqlite_schema;")
        .map_err(read)?;
    let version: i64 = source
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(read)?;
    let expected = super::schema::VERSION;
    if version == 0 {
        return Err(format!(
            "{path} is not a Protocol database (no schema version)"
        ));
    }
    if version != expected {
        return Err(format!(
            "{path} has schema version {version}, this server copies version {expected}; \
             start this version of the server on it once (it upgrades the file in place), \
             then migrate"
        ));
    }
    let tables: Vec<String> = source
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name",
        )
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(read)?;
    let unknown: Vec<&str> = tables
        .iter()
        .map(String::as_str)
        .filter(|name| !TABLES.iter().any(|t| t.name == *name))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "{path} has tables this version does not know how to copy ({}); use the server \
             version that made them",
            unknown.join(", ")
        ));
    }
    Ok(source)
}

fn source_count(source: &Connection, table: &Table) -> rusqlite::Result<u64> {
    let count: i64 = source.query_row(
        &format!("SELECT count(*) FROM {} {}", table.name, table.filter),
        [],
        |r| r.get(0),
    )?;
    Ok(count.unsigned_abs())
}

/// Refuses a target where any of our tables has a row (the schema version aside). Locks them
/// first, so a second copy or a server started meanwhile waits for this one's commit, then
/// finds the target taken.
fn refuse_unless_empty(target: &Sql) -> Result<(), String> {
    let fail = |e: SqlError| format!("cannot read the target: {e}");
    let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    target
        .execute_batch(&format!(
            "LOCK TABLE {} IN EXCLUSIVE MODE",
            names.join(", ")
        ))
        .map_err(fail)?;
    let mut taken = Vec::new();
    for table in TABLES {
        let any: bool = target
            .query_row(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM {} {})",
                    table.name, table.filter
                ),
                rusqlite::params![],
                |r| r.get(0),
            )
            .map_err(fail)?;
        if any {
            taken.push(table.name);
        }
    }
    if taken.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the target database is not empty ({} hold rows); migrate copies into an empty \
             database only: create a new one (createdb) and name that",
            taken.join(", ")
        ))
    }
}

/// The table's columns, which both sides must have alike (a schema drift stops the copy
/// instead of dropping a column).
fn same_columns(source: &Connection, target: &Sql, table: &str) -> Result<Vec<String>, String> {
    let mut ours: Vec<String> = source
        .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
        .and_then(|mut s| s.query_map([table], |r| r.get(0))?.collect())
        .map_err(|e| format!("cannot read the columns of {table}: {e}"))?;
    let mut theirs: Vec<String> = target
        .prepare_cached(
            "SELECT column_name::text FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name = ?1",
        )
        .and_then(|mut s| {
            s.query_map([table], |r| r.get(0))?
                .collect::<Result<_, _>>()
        })
        .map_err(|e| format!("cannot read the columns of {table} in the target: {e}"))?;
    let in_order = ours.clone();
    ours.sort();
    theirs.sort();
    if ours != theirs {
        return Err(format!(
            "{table} has the columns {} in SQLite but {} in PostgreSQL",
            ours.join(", "),
            theirs.join(", ")
        ));
    }
    Ok(in_order)
}

/// Streams the table's rows into multi-row INSERTs (the same prepared statement for every full
/// batch), reporting each batch's row count.
fn copy_table(
    source: &Connection,
    target: &Sql,
    table: &Table,
    columns: &[String],
    mut copied: impl FnMut(u64),
) -> Result<(), SqlError> {
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let list = quoted.join(", ");
    let width = columns.len();
    let per_insert = (VALUES_PER_INSERT / width).clamp(1, ROWS_PER_INSERT);
    let mut select = source.prepare(&format!(
        "SELECT {list} FROM {} {} {}",
        table.name, table.filter, table.order
    ))?;
    let mut rows = select.query([])?;
    let mut batch: Vec<Value> = Vec::with_capacity(per_insert * width);
    loop {
        let row = rows.next()?;
        if let Some(row) = row {
            for i in 0..width {
                batch.push(row.get::<_, Value>(i)?);
            }
            if batch.len() < per_insert * width {
                continue;
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        let count = batch.len() / width;
        let sql = insert_sql(table.name, &list, width, count);
        let params: Vec<&dyn ToSql> = batch.iter().map(|v| v as &dyn ToSql).collect();
        target.prepare_cached(&sql)?.execute(params.as_slice())?;
        copied(count as u64);
        batch.clear();
        if count < per_insert {
            return Ok(());
        }
    }
}

/// `INSERT INTO t (a, b) VALUES (?1, ?2), (?3, ?4), …` for `rows` rows.
fn insert_sql(table: &str, list: &str, width: usize, rows: usize) -> String {
    let mut sql = format!("INSERT INTO {table} ({list}) VALUES ");
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..width {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push('?');
            sql.push_str(&(row * width + column + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

/// Sets the table's identity sequence to the highest `seq` SQLite ever handed out (with
/// AUTOINCREMENT that may be a deleted row's, kept in `sqlite_sequence`), so the next row
/// continues the order and no value is reused.
fn continue_sequence(source: &Connection, target: &Sql, table: &str) -> Result<(), String> {
    let highest: i64 = source
        .query_row(
            &format!(
                "SELECT max(coalesce((SELECT max(seq) FROM {table}), 0),
                            coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0))"
            ),
            [table],
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())?;
    if highest < 1 {
        return Ok(());
    }
    target
        .query_row(
            &format!("SELECT setval(pg_get_serial_sequence('{table}', 'seq'), ?1)"),
            [highest],
            |_| Ok(()),
        )
        .map_err(|e| e.to_string())
}

/// Every table of the target holds as many rows as the snapshot did.
fn check_counts(target: &Sql, expected: &[u64]) -> Result<(), String> {
    let mut wrong = Vec::new();
    for (table, expected) in TABLES.iter().zip(expected) {
        let found: i64 = target
            .query_row(
                &format!("SELECT count(*) FROM {} {}", table.name, table.filter),
                rusqlite::params![],
                |r| r.get(0),
            )
            .map_err(|e| format!("cannot count the rows of {}: {e}", table.name))?;
        if u64::try_from(found).ok() != Some(*expected) {
            wrong.push(format!("{} has {found} rows, not {expected}", table.name));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the copy does not match the source ({}); nothing was kept",
            wrong.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::insert_sql;

    #[test]
    fn an_insert_numbers_every_value() {
        assert_eq!(
            insert_sql("t", "\"a\", \"b\"", 2, 2),
            "INSERT INTO t (\"a\", \"b\") VALUES (?1, ?2), (?3, ?4)"
        );
    }
}
