//! The event outbox. Every create, update and delete records its event in the transaction of
//! the change, so there is never a change without its event or an event without its change.
//!
//! Contacts, conversations and groups look different to each person (display names, mute
//! flags, …), so their events are recorded once per person concerned, each with that person's
//! view as payload and `account_id` naming them. Messages and attachments look the same to
//! everyone: one event, with the acting account as `account_id`.

use super::error::{Result, StoreError};
use super::records::{Attachment, Contact, Conversation, GroupEvent, Message};
use super::sql::{self, OptionalExtension, Sql};
use crate::json;
use rusqlite::params;
use std::cell::RefCell;
use std::sync::Arc;

/// The 15 event types: `RESOURCE.ACTION`.
pub const RESOURCES: [&str; 5] = ["contact", "conversation", "message", "group", "attachment"];
pub const ACTIONS: [&str; 3] = ["created", "updated", "deleted"];

/// What an event carries: the object it is about, as the API shows it to the account the
/// event names. Storage records the event in the transaction of the change, but the object's
/// JSON (with its `file_url`, say) is the API's to write: it renders it through `Render`.
pub enum Payload<'a> {
    Contact(&'a Contact),
    Conversation(&'a Conversation),
    Message(&'a Message),
    Attachment(&'a Attachment),
    Group(&'a GroupEvent<'a>),
    /// A string as it is (the writer's own tests).
    #[cfg(test)]
    Text(&'a str),
}

/// Renders event payloads: implemented by the API's response types (`views.rs`), handed to
/// the writer thread when the database opens (`install_renderer`).
pub trait Render: Send + Sync {
    /// Writes the payload's JSON (one value) to `out`.
    fn payload(&self, payload: Payload<'_>, out: &mut Vec<u8>) -> serde_json::Result<()>;
}

thread_local! {
    /// How this (the writer) thread renders event payloads.
    static RENDER: RefCell<Option<Arc<dyn Render>>> = const { RefCell::new(None) };
}

/// Renders every payload as `null`: for storage's own tests, which look at everything but
/// payloads.
#[cfg(test)]
pub(crate) struct Plain;

#[cfg(test)]
impl Render for Plain {
    fn payload(&self, _: Payload<'_>, out: &mut Vec<u8>) -> serde_json::Result<()> {
        out.extend_from_slice(b"null");
        Ok(())
    }
}

/// Makes `render` the way events recorded on this thread are rendered.
pub(crate) fn install_renderer(render: Arc<dyn Render>) {
    RENDER.with(|r| *r.borrow_mut() = Some(render));
}

/// An event of the transaction in progress, with who may see it: handed to the realtime hub
/// straight from memory once the transaction commits, so the hub never reads it back.
#[derive(Debug, Clone)]
pub struct Published {
    pub event: StoredEvent,
    pub audience: Audience,
}

/// Who may see an event on the realtime stream: some people, and the members of a
/// conversation. A large group's members are named by their conversation instead of being
/// copied into every event of it (10,000 ids would make each message 170 KB).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audience {
    pub people: Vec<String>,
    /// Everyone in this conversation who has not deleted it and sees messages from this seq
    /// on (`visible_after` below it).
    pub conversation: Option<(String, i64)>,
}

impl Audience {
    pub fn people(people: Vec<String>) -> Audience {
        Audience {
            people,
            conversation: None,
        }
    }

    pub fn one(person: &str) -> Audience {
        Audience::people(vec![person.to_owned()])
    }

    pub fn add(&mut self, person: &str) {
        if !self.people.iter().any(|p| p == person) {
            self.people.push(person.to_owned());
        }
    }
}

thread_local! {
    /// Events recorded by the current transaction on this (the writer) thread.
    static PENDING: RefCell<Vec<Published>> = const { RefCell::new(Vec::new()) };
}

/// How many events the current transaction has recorded so far (a mark to roll back to).
pub(crate) fn pending_mark() -> usize {
    PENDING.with(|p| p.borrow().len())
}

/// Forgets events recorded after `mark` (the job that recorded them failed).
pub(crate) fn rollback_pending(mark: usize) {
    PENDING.with(|p| p.borrow_mut().truncate(mark));
}

/// The seq of the newest event the current transaction has recorded.
pub(crate) fn newest_pending() -> Option<i64> {
    PENDING.with(|p| p.borrow().last().map(|p| p.event.seq))
}

/// The events of the transaction that just ended.
pub(crate) fn take_pending() -> Vec<Published> {
    PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()))
}

/// Records one event. `kind` is e.g. `"message.created"`; `people` are those who may see it on
/// the realtime stream.
pub fn record(
    conn: &Sql,
    kind: &str,
    account: &str,
    payload: Payload<'_>,
    people: &[String],
) -> Result<()> {
    record_for(
        conn,
        kind,
        account,
        payload,
        &Audience::people(people.to_vec()),
    )
}

/// An event's JSON after its id: `"type":…,"created_at":…,"account_id":…,"payload":…}`,
/// written by hand (`crate::json`: it is on every send's path), the payload by this thread's
/// `Render`. The id is the event's seq, known only once the row is in (`StoredEvent::new`).
fn body_tail(
    kind: &str,
    now: i64,
    account: &str,
    payload: Payload<'_>,
) -> std::result::Result<String, String> {
    let mut tail = Vec::with_capacity(1024);
    let fields = (|| -> serde_json::Result<()> {
        tail.extend_from_slice(b"\"type\":");
        json::string(&mut tail, kind)?;
        tail.extend_from_slice(b",\"created_at\":");
        json::integer(&mut tail, Some(now));
        tail.extend_from_slice(b",\"account_id\":");
        json::string(&mut tail, account)?;
        tail.extend_from_slice(b",\"payload\":");
        Ok(())
    })();
    fields.map_err(|e| e.to_string())?;
    RENDER
        .with(|render| {
            render
                .borrow()
                .as_ref()
                .map(|r| r.payload(payload, &mut tail))
        })
        .ok_or("no event renderer on this thread")?
        .map_err(|e| format!("payload: {e}"))?;
    tail.push(b'}');
    String::from_utf8(tail).map_err(|e| e.to_string())
}

/// `record` for any audience.
pub fn record_for(
    conn: &Sql,
    kind: &str,
    account: &str,
    payload: Payload<'_>,
    audience: &Audience,
) -> Result<()> {
    let now = super::now();
    let tail = body_tail(kind, now, account, payload)
        .map_err(|e| StoreError::internal(format!("event body: {e}")))?;
    // Ids are [A-Za-z0-9], so a space separates them safely.
    let (conversation, after) = match &audience.conversation {
        Some((id, after)) => (Some(id.as_str()), Some(*after)),
        None => (None, None),
    };
    let seq = conn.insert_returning_seq(
        "INSERT INTO events (type, created_at, body_tail, audience, audience_conversation,
                             audience_after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            kind,
            now,
            tail,
            audience.people.join(" "),
            conversation,
            after
        ],
    )?;
    let published = Published {
        event: StoredEvent::new(seq, kind.to_owned(), &tail),
        audience: audience.clone(),
    };
    PENDING.with(|p| p.borrow_mut().push(published));
    Ok(())
}

/// Who sees a conversation, and (with `message_seq`) a message of it: its participants by
/// name, or for a large group the conversation itself.
pub(crate) fn conversation_audience(
    conn: &Sql,
    conversation: &str,
    message_seq: Option<i64>,
) -> Result<Audience> {
    let after = message_seq.unwrap_or(i64::MAX);
    let large: bool = conn
        .prepare_cached("SELECT large FROM conversations WHERE id = ?1")?
        .query_row([conversation], |r| r.get(0))
        .optional()?
        .unwrap_or(false);
    if large {
        return Ok(Audience {
            people: Vec::new(),
            conversation: Some((conversation.to_owned(), after)),
        });
    }
    Ok(Audience::people(members_seeing(conn, conversation, after)?))
}

/// The participants who see a conversation and its messages from `after` on.
pub fn members_seeing(conn: &Sql, conversation: &str, after: i64) -> Result<Vec<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT contact_id FROM participants
              WHERE conversation_id = ?1 AND hidden = 0 AND visible_after < ?2",
        )?
        .query_map(params![conversation, after], |r| r.get(0))?
        .collect::<sql::Result<_>>()?)
}

/// Whether `person` is among those of a conversation audience.
fn sees(conn: &Sql, person: &str, conversation: &str, after: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM participants
              WHERE conversation_id = ?1 AND contact_id = ?2 AND hidden = 0 AND visible_after < ?3",
        )?
        .exists(params![conversation, person, after])?)
}

/// A stored event.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: i64,
    /// Its seq in decimal: an event's id says where it stands in the outbox, so looking one up
    /// (`Last-Event-ID`) needs no index, and writing one writes no index entry.
    pub id: String,
    pub kind: String,
    /// The whole JSON, id first.
    pub body: String,
}

impl StoredEvent {
    /// The event at `seq`, from its stored JSON after the id (`body_tail`).
    fn new(seq: i64, kind: String, tail: &str) -> StoredEvent {
        let id = seq.to_string();
        let mut body = String::with_capacity(tail.len() + id.len() + 10);
        body.push_str("{\"id\":\"");
        body.push_str(&id);
        body.push_str("\",");
        body.push_str(tail);
        StoredEvent {
            seq,
            id,
            kind,
            body,
        }
    }
}

/// Up to `limit` events after `after`, oldest first (for webhooks).
pub fn after(conn: &Sql, after: i64, limit: u32) -> Result<Vec<StoredEvent>> {
    Ok(conn
        .prepare_cached(
            "SELECT seq, type, body_tail FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?
        .query_map(params![after, limit], |r| {
            Ok(StoredEvent::new(
                r.get(0)?,
                r.get(1)?,
                r.get_ref(2)?.as_str()?,
            ))
        })?
        .collect::<sql::Result<_>>()?)
}

/// Up to `limit` events after `after` that `person` may see, oldest first (for SSE replay).
/// It walks the outbox from `after` (a reconnecting stream's gap), so its cost is the gap's size;
/// in chunks, so that a long gap is never held in memory at once (PostgreSQL hands over a
/// statement's rows all together).
pub fn after_for(conn: &Sql, person: &str, after: i64, limit: u32) -> Result<Vec<StoredEvent>> {
    const CHUNK: i64 = 512;
    let mut statement = conn.prepare_cached(
        "SELECT seq, type, body_tail, audience, audience_conversation, audience_after
           FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let mut out = Vec::new();
    let mut from = after;
    loop {
        let mut scanned = 0;
        let start = from;
        statement.for_each(params![start, CHUNK], |row| -> Result<bool> {
            scanned += 1;
            from = row.get(0)?;
            let audience: String = row.get(3)?;
            let named = audience.split(' ').any(|p| p == person);
            let member = || -> Result<bool> {
                let conversation: Option<String> = row.get(4)?;
                match conversation {
                    Some(conversation) => sees(conn, person, &conversation, row.get(5)?),
                    None => Ok(false),
                }
            };
            if named || member()? {
                let tail: String = row.get(2)?;
                out.push(StoredEvent::new(from, row.get(1)?, &tail));
            }
            Ok(out.len() < limit as usize)
        })?;
        if out.len() >= limit as usize || scanned < CHUNK {
            return Ok(out);
        }
    }
}

/// Each event after `after` with the people who may see it, oldest first.
pub fn after_with_audience(
    conn: &Sql,
    after: i64,
    limit: u32,
) -> Result<Vec<(StoredEvent, Audience)>> {
    Ok(conn
        .prepare_cached(
            "SELECT seq, type, body_tail, audience, audience_conversation, audience_after
               FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?
        .query_map(params![after, limit], |r| {
            let audience: String = r.get(3)?;
            let conversation: Option<String> = r.get(4)?;
            let conversation = match conversation {
                Some(id) => Some((id, r.get(5)?)),
                None => None,
            };
            Ok((
                StoredEvent::new(r.get(0)?, r.get(1)?, r.get_ref(2)?.as_str()?),
                Audience {
                    people: audience
                        .split(' ')
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    conversation,
                },
            ))
        })?
        .collect::<sql::Result<_>>()?)
}

/// The seq of an event by id: `None` for an id that names no event this outbox has had (not
/// a number, or past its newest event: an id from another database).
pub fn seq_of(conn: &Sql, id: &str) -> Result<Option<i64>> {
    let Some(seq) = id
        .parse::<i64>()
        .ok()
        .filter(|seq| *seq > 0 && !id.starts_with('+'))
    else {
        return Ok(None);
    };
    Ok((seq <= newest_seq(conn)?).then_some(seq))
}

/// The newest event's seq (0 when there is none).
pub fn newest_seq(conn: &Sql) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM events")?
        .query_row(params![], |r| r.get(0))?)
}

/// Where a webhook endpoint stands; a new endpoint starts at the newest event, so adding a
/// webhook does not replay history.
pub fn webhook_cursor(conn: &Sql, url: &str) -> Result<i64> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT delivered_seq FROM webhook_cursors WHERE url = ?1")?
        .query_row([url], |r| r.get(0))
        .optional()?;
    match found {
        Some(seq) => Ok(seq),
        None => {
            let newest = newest_seq(conn)?;
            set_webhook_cursor(conn, url, newest)?;
            Ok(newest)
        }
    }
}

/// (events after the endpoint's cursor, events given up on) for the metrics; without a cursor
/// yet (its worker has not started), nothing waits.
pub fn webhook_backlog(conn: &Sql, url: &str) -> Result<(i64, i64)> {
    let backlog = conn
        .prepare_cached(
            "SELECT count(*) FROM events
             WHERE seq > (SELECT delivered_seq FROM webhook_cursors WHERE url = ?1)",
        )?
        .query_row([url], |r| r.get(0))?;
    let failures = conn
        .prepare_cached("SELECT count(*) FROM webhook_failures WHERE url = ?1")?
        .query_row([url], |r| r.get(0))?;
    Ok((backlog, failures))
}

pub fn set_webhook_cursor(conn: &Sql, url: &str, seq: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO webhook_cursors (url, delivered_seq) VALUES (?1, ?2)
         ON CONFLICT (url) DO UPDATE SET delivered_seq = excluded.delivered_seq",
    )?
    .execute(params![url, seq])?;
    Ok(())
}

/// Takes the delivery of an endpoint's events for `holder` until `until` (ms), if nobody else
/// holds it or their lease ran out before `now`; the endpoint's cursor then, or `None` when
/// another server holds it.
pub fn claim_webhook(
    conn: &Sql,
    url: &str,
    holder: &str,
    now: i64,
    until: i64,
) -> Result<Option<i64>> {
    webhook_cursor(conn, url)?;
    Ok(conn
        .prepare_cached(
            "UPDATE webhook_cursors SET lease_holder = ?2, lease_until = ?4
              WHERE url = ?1
                AND (lease_holder IS NULL OR lease_holder = ?2 OR lease_until < ?3)
              RETURNING delivered_seq",
        )?
        .query_row(params![url, holder, now, until], |r| r.get(0))
        .optional()?)
}

/// Moves the cursor of an endpoint `holder` delivers (`seq`: None keeps it) and extends the
/// lease to `until`; false when the lease is no longer theirs.
pub fn keep_webhook(
    conn: &Sql,
    url: &str,
    holder: &str,
    seq: Option<i64>,
    until: i64,
) -> Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE webhook_cursors
                SET delivered_seq = coalesce(?3, delivered_seq), lease_until = ?4
              WHERE url = ?1 AND lease_holder = ?2",
        )?
        .execute(params![url, holder, seq, until])?;
    Ok(changed == 1)
}

/// Lets go of an endpoint's lease (a server that stops), so another takes over at once.
pub fn release_webhook(conn: &Sql, url: &str, holder: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE webhook_cursors SET lease_holder = NULL, lease_until = NULL
          WHERE url = ?1 AND lease_holder = ?2",
    )?
    .execute(params![url, holder])?;
    Ok(())
}

pub fn record_webhook_failure(
    conn: &Sql,
    url: &str,
    event_id: &str,
    attempts: u32,
    error: &str,
    now: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO webhook_failures (url, event_id, attempts, last_error, failed_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![url, event_id, attempts, error, now])?;
    Ok(())
}

/// Deletes events older than `before` that every configured endpoint is past. Returns how many.
pub fn prune(conn: &Sql, before: i64, webhook_urls: &[String]) -> Result<usize> {
    let mut limit = i64::MAX;
    for url in webhook_urls {
        limit = limit.min(webhook_cursor(conn, url)?);
    }
    // Events are in time order, so the old ones are those before the first recent one (found
    // walking from the oldest, which touches only rows about to go).
    Ok(conn
        .prepare_cached(
            "DELETE FROM events
              WHERE seq <= ?2
                AND seq < coalesce(
                    (SELECT seq FROM events WHERE created_at >= ?1 ORDER BY seq LIMIT 1),
                    (SELECT max(seq) + 1 FROM events))",
        )?
        .execute(params![before, limit])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Sql {
        install_renderer(Arc::new(Plain));
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::db::schema::migrate(&mut conn).unwrap();
        Sql::Sqlite(conn)
    }

    fn record_at(conn: &Sql, created_at: i64, audience: &[&str]) -> i64 {
        let people: Vec<String> = audience.iter().map(|s| s.to_string()).collect();
        record(conn, "message.created", "A", Payload::Text("{}"), &people).unwrap();
        let seq: i64 = conn
            .query_row("SELECT max(seq) FROM events", params![], |r| r.get(0))
            .unwrap();
        conn.execute(
            "UPDATE events SET created_at = ?1 WHERE seq = ?2",
            params![created_at, seq],
        )
        .unwrap();
        seq
    }

    /// The hand-written body is the JSON object it claims to be, whatever its strings hold.
    #[test]
    fn an_event_body_is_json_with_its_fields_in_order() {
        install_renderer(Arc::new(Plain));
        let tail = body_tail("message.created", 42, "a\"b\\c\n", Payload::Text("{}")).unwrap();
        let text = StoredEvent::new(7, "message.created".into(), &tail).body;
        assert_eq!(
            text,
            r#"{"id":"7","type":"message.created","created_at":42,"account_id":"a\"b\\c\n","payload":null}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["account_id"], "a\"b\\c\n");
    }

    #[test]
    fn replay_walks_a_long_gap_in_chunks_without_skipping_or_repeating() {
        let conn = db();
        // 1,300 events, every third one for A: the chunks' borders fall between A's events.
        let mut expected = Vec::new();
        for i in 0..1300 {
            let audience: &[&str] = if i % 3 == 0 { &["A"] } else { &["B"] };
            let seq = record_at(&conn, 100, audience);
            if i % 3 == 0 {
                expected.push(seq);
            }
        }
        let all: Vec<i64> = after_for(&conn, "A", 0, 10_000)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(all, expected);
        let first: Vec<i64> = after_for(&conn, "A", 0, 200)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(first, expected[..200]);
        let rest: Vec<i64> = after_for(&conn, "A", first[199], 10_000)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(rest, expected[200..]);
    }

    #[test]
    fn prune_keeps_recent_and_undelivered_events() {
        let conn = db();
        let old = record_at(&conn, 100, &["A"]);
        let old_too = record_at(&conn, 100, &["A"]);
        let recent = record_at(&conn, 10_000, &["A"]);
        // One endpoint has delivered only the first event.
        set_webhook_cursor(&conn, "http://h", old).unwrap();
        assert_eq!(prune(&conn, 5_000, &["http://h".into()]).unwrap(), 1);
        let left: Vec<i64> = after(&conn, 0, 10).unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(left, [old_too, recent]);
        // Without webhooks only age counts.
        assert_eq!(prune(&conn, 5_000, &[]).unwrap(), 1);
        assert_eq!(after(&conn, 0, 10).unwrap().len(), 1);
    }

    #[test]
    fn audience_filters_the_stream() {
        let conn = db();
        record_at(&conn, 1, &["A", "B"]);
        let only_b = record_at(&conn, 1, &["B"]);
        assert_eq!(after_for(&conn, "A", 0, 10).unwrap().len(), 1);
        let for_b: Vec<i64> = after_for(&conn, "B", 0, 10)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(for_b.last(), Some(&only_b));
        assert_eq!(for_b.len(), 2);
    }
}
