//! Keyset pagination in SQL: every list orders by integer keys that only grow (newest first), and a
//! page is one index range `WHERE (keys) < (cursor keys) ORDER BY keys DESC LIMIT n + 1`, so its
//! cost does not depend on how deep it is. The extra row tells `has_more`.

use crate::error::{Error, Result};
use crate::pagination::{Cursor, List, PageParams};
use rusqlite::types::Value;
use rusqlite::{Connection, Row};

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
    conn: &Connection,
    query: KeysetQuery,
    page: &PageParams,
    resolve_cursor: impl FnOnce(&str) -> Result<Option<Vec<i64>>>,
    map: impl FnMut(&Row) -> rusqlite::Result<T>,
) -> Result<List<T>> {
    let backward = matches!(page.cursor, Some(Cursor::Before(_)));
    let (cmp, direction) = if backward {
        (">", "ASC")
    } else {
        ("<", "DESC")
    };
    let mut params = query.params;
    let mut sql = String::from(query.select);

    if let Some(cursor) = &page.cursor {
        let keys = resolve_cursor(cursor.id())?.ok_or_else(|| {
            Error::invalid(
                cursor.param(),
                format!("{} must be the id of an item of this list.", cursor.param()),
            )
        })?;
        let placeholders = vec!["?"; keys.len()].join(", ");
        sql.push_str(&format!(
            " AND ({}) {cmp} ({placeholders})",
            query.order.join(", ")
        ));
        params.extend(keys.into_iter().map(Value::Integer));
    }
    let order: Vec<String> = query
        .order
        .iter()
        .map(|column| format!("{column} {direction}"))
        .collect();
    sql.push_str(&format!(" ORDER BY {} LIMIT ?", order.join(", ")));
    params.push(Value::Integer(i64::from(page.limit) + 1));

    let mut statement = conn.prepare_cached(&sql)?;
    let mut data = statement
        .query_map(rusqlite::params_from_iter(params), map)?
        .collect::<rusqlite::Result<Vec<T>>>()?;
    let has_more = data.len() > page.limit as usize;
    data.truncate(page.limit as usize);
    if backward {
        data.reverse();
    }
    Ok(List { has_more, data })
}
