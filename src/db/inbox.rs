//! Answers from the writer to a runtime thread, handed over a batch at a time.
//!
//! Waking a task from another thread costs a system call (tokio writes its runtime's eventfd)
//! and often a context switch on the woken thread, and the writer used to pay it for nearly
//! every job of a batch (6% of the writer's time under the send load). A thread that installs
//! an inbox instead gets all its answers of one batch pushed together with one wake-up; its
//! drain task then wakes each waiting request from inside the thread, which costs no system
//! call. Threads without an inbox (start-up, the CLI, background tasks) are answered directly.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Hands one job's result to its waiting request.
pub(crate) type Answer = Box<dyn FnOnce() + Send>;

#[derive(Default)]
pub(crate) struct Inbox {
    answers: Mutex<Vec<Answer>>,
    ready: Notify,
}

thread_local! {
    static THIS_THREAD: RefCell<Option<Arc<Inbox>>> = const { RefCell::new(None) };
}

/// Gives the current thread an inbox, drained by a task on its `LocalSet` (once per thread).
/// Call it on an actix worker thread, e.g. from the app factory.
pub fn install() {
    THIS_THREAD.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            let inbox = Arc::new(Inbox::default());
            actix_web::rt::spawn(drain(Arc::clone(&inbox)));
            *slot = Some(inbox);
        }
    });
}

/// The current thread's inbox, if it has one.
pub(crate) fn this_thread() -> Option<Arc<Inbox>> {
    THIS_THREAD.with(|slot| slot.borrow().clone())
}

impl Inbox {
    /// Queues answers; `wake` must follow once the batch's answers are all in.
    pub(crate) fn push(&self, answer: Answer) {
        self.answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(answer);
    }

    /// One wake-up for everything pushed so far (kept for later if the drain task is busy).
    pub(crate) fn wake(&self) {
        self.ready.notify_one();
    }
}

async fn drain(inbox: Arc<Inbox>) {
    loop {
        inbox.ready.notified().await;
        let answers = std::mem::take(&mut *inbox.answers.lock().unwrap_or_else(|p| p.into_inner()));
        for answer in answers {
            answer();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::writer::Writer;
    use rusqlite::Connection;
    use std::thread::{ThreadId, current};

    fn writer() -> Writer {
        let conn = crate::db::sql::Sql::Sqlite(Connection::open_in_memory().unwrap());
        Writer::start(
            conn,
            Arc::new(crate::db::events::Plain),
            None,
            None,
            None,
            |_| {},
        )
        .unwrap()
    }

    #[actix_web::test]
    async fn answers_run_on_the_thread_with_the_inbox() {
        install();
        let writer = writer();
        let mut waiting = Vec::new();
        for i in 0..20 {
            let (reply, answer) = tokio::sync::oneshot::channel::<(Option<i32>, ThreadId)>();
            writer.submit(
                move |_| Ok(i),
                this_thread(),
                move |result| {
                    let _ = reply.send((result.ok(), current().id()));
                },
            );
            waiting.push(answer);
        }
        for (i, answer) in (0..).zip(waiting) {
            let (value, thread) = answer.await.unwrap();
            assert_eq!(value, Some(i));
            assert_eq!(thread, current().id());
        }
    }

    #[test]
    fn without_an_inbox_the_writer_answers() {
        assert!(this_thread().is_none());
        let (reply, answer) = std::sync::mpsc::channel();
        writer().submit(
            |_| Ok(7),
            None,
            move |result| {
                let _ = reply.send((result.ok(), current().id()));
            },
        );
        let (value, thread) = answer.recv().unwrap();
        assert_eq!(value, Some(7));
        assert_ne!(thread, current().id());
    }
}
