//! The realtime hub: one task reads each newly committed event once, with its audience, and
//! hands it to the open streams of the people in that audience.
//!
//! A stream that cannot keep up (its queue is full) is marked lagged and reads what it missed
//! from the database; it never blocks the hub or other streams.

use crate::db::Db;
use crate::db::events::{Audience, StoredEvent};
use actix_web::web::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Events queued per stream before it is marked lagged.
const QUEUE: usize = 64;
/// Events read per query.
const BATCH: u32 = 500;
/// How often a hub on a shared database (PostgreSQL) reads the outbox without being woken: a
/// commit of any server wakes it at once (its `NOTIFY`, `db::postgres::listen`); this covers a
/// notification lost while the listener reconnects.
const SHARED_POLL: std::time::Duration = std::time::Duration::from_secs(1);

struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Arc<Frame>>,
    lagged: Arc<AtomicBool>,
}

/// An event as its Server-Sent Events frame: built once and shared by every stream it goes to
/// (one message to a 10,000-member group is one frame, not 10,000 copies of it).
#[derive(Debug, Clone)]
pub struct Frame {
    pub seq: i64,
    pub bytes: Bytes,
}

impl Frame {
    pub fn of(event: &StoredEvent) -> Frame {
        Frame {
            seq: event.seq,
            bytes: Bytes::from(format!(
                "id: {}\nevent: {}\ndata: {}\n\n",
                event.id, event.kind, event.body
            )),
        }
    }
}

#[derive(Default)]
pub struct Hub {
    subscribers: Mutex<HashMap<String, Vec<Subscriber>>>,
    /// Who may stream, once a config reload has named them (`None`: anyone who authenticates).
    /// Locked only while `subscribers` is held, so a subscription and a reload never cross.
    allowed: Mutex<Option<HashSet<String>>>,
    next_id: AtomicU64,
    closed: AtomicBool,
}

/// An open stream's registration; dropping it unregisters.
pub struct Subscription {
    hub: Arc<Hub>,
    person: String,
    id: u64,
    pub events: mpsc::Receiver<Arc<Frame>>,
    pub lagged: Arc<AtomicBool>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Ok(mut subscribers) = self.hub.subscribers.lock()
            && let Some(list) = subscribers.get_mut(&self.person)
        {
            list.retain(|s| s.id != self.id);
            if list.is_empty() {
                subscribers.remove(&self.person);
            }
        }
    }
}

impl Hub {
    pub fn subscribe(self: &Arc<Self>, person: &str) -> Subscription {
        self.subscribe_within(person, usize::MAX)
            .unwrap_or_else(|| unreachable!("no person holds usize::MAX streams"))
    }

    /// A subscription for `person`, unless they already hold `max` open streams.
    pub fn subscribe_within(self: &Arc<Self>, person: &str, max: usize) -> Option<Subscription> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let lagged = Arc::new(AtomicBool::new(false));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if !self.closed.load(Ordering::Relaxed) {
            let mut subscribers = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
            // Someone a reload removed gets a queue that is closed at once: the stream ends.
            if self.may_stream(person) {
                let streams = subscribers.entry(person.to_owned()).or_default();
                if streams.len() >= max {
                    return None;
                }
                streams.push(Subscriber {
                    id,
                    tx,
                    lagged: lagged.clone(),
                });
            }
        }
        Some(Subscription {
            hub: self.clone(),
            person: person.to_owned(),
            id,
            events: rx,
            lagged,
        })
    }

    /// Open streams, for figures and tests.
    pub fn open_streams(&self) -> usize {
        self.subscribers
            .lock()
            .map(|s| s.values().map(Vec::len).sum())
            .unwrap_or(0)
    }

    /// Ends the streams of everyone not in `people` and refuses them new ones: an account removed
    /// from the config by a reload loses its open streams at once, not only its next request.
    pub fn keep_only(&self, people: &[String]) {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        let people: HashSet<String> = people.iter().cloned().collect();
        subscribers.retain(|person, _| people.contains(person));
        *self.allowed.lock().unwrap_or_else(|p| p.into_inner()) = Some(people);
    }

    /// Whether `person` may open a stream (called with `subscribers` held).
    fn may_stream(&self, person: &str) -> bool {
        self.allowed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_none_or(|people| people.contains(person))
    }

    /// Ends every stream (their queues close) and refuses new ones: used at shutdown so that
    /// long-lived streams do not hold the server open.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        if let Ok(mut subscribers) = self.subscribers.lock() {
            subscribers.clear();
        }
    }

    /// Hands an event to the open streams of its audience. A conversation named as audience
    /// (a large group's) is read from the database, and only when a stream is open at all.
    /// The frame is printed once, for the first open stream found: most events find none.
    async fn deliver(&self, db: &Db, event: StoredEvent, audience: Audience) {
        let mut frame = None;
        self.dispatch(&event, &mut frame, &audience.people);
        if let Some((conversation, after)) = audience.conversation
            && self.open_streams() > 0
        {
            match db.members_seeing(conversation, after).await {
                Ok(members) => self.dispatch(&event, &mut frame, &members),
                Err(e) => log::warn!("realtime hub: {e}"),
            }
        }
    }

    fn dispatch(&self, event: &StoredEvent, frame: &mut Option<Arc<Frame>>, people: &[String]) {
        let Ok(subscribers) = self.subscribers.lock() else {
            return;
        };
        for person in people {
            for subscriber in subscribers.get(person).into_iter().flatten() {
                let frame = frame.get_or_insert_with(|| Arc::new(Frame::of(event)));
                if subscriber.tx.try_send(Arc::clone(frame)).is_err() {
                    subscriber.lagged.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    /// Runs for the life of the server: after each commit, dispatches the new events, as the
    /// writer handed them over (or, if it had to drop some, read back from the outbox).
    pub async fn run(self: Arc<Self>, db: Db) {
        let mut commits = db.commits();
        let mut last = match db.newest_event_seq().await {
            Ok(seq) => seq,
            Err(e) => {
                log::error!("realtime hub cannot start: {e}");
                return;
            }
        };
        if db.is_shared() {
            return self.run_shared(db, commits, last).await;
        }
        // Events committed before `last` was read may still be waiting: skip them.
        loop {
            match db.take_published() {
                Some(published) => {
                    for item in published {
                        if item.event.seq > last {
                            last = item.event.seq;
                            self.deliver(&db, item.event, item.audience).await;
                        }
                    }
                }
                None => last = self.catch_up(&db, last).await,
            }
            if commits.changed().await.is_err() || self.closed.load(Ordering::Relaxed) {
                return;
            }
        }
    }

    /// `run` for a database other servers may share (PostgreSQL): their events reach this hub
    /// only through the outbox, so it reads the outbox in seq order, woken by every server's
    /// commits (`Db::commits`: the database's listener), and every `SHARED_POLL` anyway. Taking its own writer's events as they come would move
    /// `last` past another server's earlier ones, and streams would never get those (nor a
    /// reconnect with `Last-Event-ID`, which starts after the last event the stream sent).
    async fn run_shared(
        self: Arc<Self>,
        db: Db,
        mut commits: tokio::sync::watch::Receiver<u64>,
        mut last: i64,
    ) {
        loop {
            last = self.catch_up(&db, last).await;
            tokio::select! {
                changed = commits.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = tokio::time::sleep(SHARED_POLL) => {}
            }
            if self.closed.load(Ordering::Relaxed) {
                return;
            }
        }
    }

    /// Reads and dispatches everything after `last` from the outbox; returns the new `last`.
    async fn catch_up(&self, db: &Db, mut last: i64) -> i64 {
        loop {
            let batch = db.events_with_audience(last, BATCH).await;
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    log::warn!("realtime hub: {e}");
                    return last;
                }
            };
            let full = batch.len() == BATCH as usize;
            for (event, audience) in batch {
                last = event.seq;
                self.deliver(db, event, audience).await;
            }
            if !full {
                return last;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc::error::TryRecvError;

    #[test]
    fn keep_only_ends_the_streams_of_others_and_refuses_them_new_ones() {
        let hub = Arc::new(Hub::default());
        let mut kate = hub.subscribe("kate");
        let mut kevin = hub.subscribe("kevin");
        hub.keep_only(&["kevin".to_owned()]);
        assert_eq!(
            kate.events.try_recv().err(),
            Some(TryRecvError::Disconnected)
        );
        assert_eq!(kevin.events.try_recv().err(), Some(TryRecvError::Empty));
        // A stream that authenticated before the reload but subscribes after it.
        let mut late = hub.subscribe("kate");
        assert_eq!(
            late.events.try_recv().err(),
            Some(TryRecvError::Disconnected)
        );
        assert_eq!(hub.open_streams(), 1);
    }
}
