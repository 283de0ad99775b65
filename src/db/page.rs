//! Keyset pagination in SQL: every list orders by integer keys that only grow (newest first), and a
//! page is one index range `WHERE (keys) < (cursor keys) ORDER BY keys DESC LIMIT n + 1`, so its
//! cost does not depend on how deep it is. The extra row tells `has_more`.

use super::error::{Result, StoreError};
use super::sql::{self, Row, Sql};
use crate::pagination::{Cursor, List, PageParams};
use rusqlite::types::Value;

/// One list query: `select` ends inside its WHERE clause (the bound is appended with AND);
/// `order` names the key columns, most significant first.
pub struct KeysetQuery<'a> {
    pub select: &'a str,
    pub order: &'a [&'a str],
    pub params: Vec<Value>,
}

/// Fetches the page `page` asks for. `resolve_cursor` turns the cursor's id into its keys, or
/// `None` when the id is not an item of this list (a 400 naming the cursor parameter).
pub fn fetch<T>(
    conn: &Sql,
    query: KeysetQuery,
    page: &PageParams,
    resolve_cursor: impl FnOnce(&str) -> Result<Option<Vec<i64>>>,
    mut map: impl FnMut(&Row) -> sql::Result<T>,
) -> Result<List<T>> {
    let bound = resolve(page, resolve_cursor)?;
    let range = fetch_range(conn, query, page, bound.as_deref(), |row| map(row))?;
    Ok(into_page(range.rows, range.more, page))
}

/// A list that is the union of several ranges, each ordered by one key column (e.g. one range
/// per conversation): each range gives at most a page, and the pages are merged by key. An item
/// in two ranges (same key) is listed once. The cost grows with the number of ranges, never with
/// depth. `map` returns each row's key (its order columns, e.g. a seq or a pair) with the item.
pub fn fetch_merged<K: Ord + Copy, T>(
    conn: &Sql,
    queries: Vec<KeysetQuery>,
    page: &PageParams,
    resolve_cursor: impl FnOnce(&str) -> Result<Option<Vec<i64>>>,
    mut map: impl FnMut(&Row) -> sql::Result<(K, T)>,
) -> Result<List<T>> {
    let bound = resolve(page, resolve_cursor)?;
    let mut rows: Vec<(K, T)> = Vec::new();
    let mut more = false;
    for query in queries {
        let range = fetch_range(conn, query, page, bound.as_deref(), |row| map(row))?;
        // A range with more than a page means the union has more too (keys within a range
        // are distinct).
        more |= range.more;
        rows.extend(range.rows);
    }
    if is_backward(page) {
        rows.sort_by_key(|(key, _)| *key);
    } else {
        rows.sort_by_key(|(key, _)| std::cmp::Reverse(*key));
    }
    rows.dedup_by_key(|(key, _)| *key);
    more |= rows.len() > page.limit as usize;
    rows.truncate(page.limit as usize);
    let page_rows = rows.into_iter().map(|(_, item)| item).collect();
    Ok(into_page(page_rows, more, page))
}

fn is_backward(page: &PageParams) -> bool {
    matches!(page.cursor, Some(Cursor::Before(_)))
}

fn resolve(
    page: &PageParams,
    resolve_cursor: impl FnOnce(&str) -> Result<Option<Vec<i64>>>,
) -> Result<Option<Vec<i64>>> {
    let Some(cursor) = &page.cursor else {
        return Ok(None);
    };
    let keys = resolve_cursor(cursor.id())?.ok_or_else(|| {
        StoreError::invalid(
            cursor.param(),
            format!("{} must be the id of an item of this list.", cursor.param()),
        )
    })?;
    Ok(Some(keys))
}

/// Up to a page of rows past `bound`, in the direction of travel.
struct Range<T> {
    rows: Vec<T>,
    /// Whether a row follows them (asked of SQLite with `LIMIT n + 1`, but never read).
    more: bool,
}

fn fetch_range<T>(
    conn: &Sql,
    query: KeysetQuery,
    page: &PageParams,
    bound: Option<&[i64]>,
    mut map: impl FnMut(&Row) -> sql::Result<T>,
) -> Result<Range<T>> {
    let (cmp, direction) = if is_backward(page) {
        (">", " ASC")
    } else {
        ("<", " DESC")
    };
    // Pushed piece by piece: this runs for every page, and format!/join cost more than the
    // query they describe.
    let mut sql = String::with_capacity(query.select.len() + 100);
    sql.push_str(query.select);
    let mut params = query.params;
    if let Some(keys) = bound {
        sql.push_str(" AND (");
        push_separated(&mut sql, query.order.iter().copied(), "");
        sql.push_str(") ");
        sql.push_str(cmp);
        sql.push_str(" (");
        push_separated(&mut sql, keys.iter().map(|_| "?"), "");
        sql.push(')');
        params.extend(keys.iter().copied().map(Value::Integer));
    }
    sql.push_str(" ORDER BY ");
    push_separated(&mut sql, query.order.iter().copied(), direction);
    sql.push_str(" LIMIT ?");
    params.push(Value::Integer(i64::from(page.limit) + 1));

    let bound: Vec<&dyn rusqlite::ToSql> =
        params.iter().map(|v| v as &dyn rusqlite::ToSql).collect();
    let limit = page.limit as usize;
    let mut rows = Vec::with_capacity(limit);
    let mut more = false;
    conn.prepare_cached(&sql)?
        .for_each(bound.as_slice(), |row| -> sql::Result<bool> {
            if rows.len() == limit {
                more = true;
                return Ok(false);
            }
            rows.push(map(row)?);
            Ok(true)
        })?;
    Ok(Range { rows, more })
}

/// `items` joined by ", ", each followed by `suffix`.
fn push_separated<'a>(sql: &mut String, items: impl Iterator<Item = &'a str>, suffix: &str) {
    for (i, item) in items.enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(item);
        sql.push_str(suffix);
    }
}

/// A page's rows in travel order → the page in list order.
fn into_page<T>(mut rows: Vec<T>, has_more: bool, page: &PageParams) -> List<T> {
    if is_backward(page) {
        rows.reverse();
    }
    List {
        has_more,
        data: rows,
    }
}
