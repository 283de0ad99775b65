//! How long a client may take to send a request body (uploads included).
//!
//! Two limits, both answered with 408: no byte for `IDLE` (a client that stopped), and, once the
//! first `GRACE` is over, an average below the configured minimum rate (a client that trickles a
//! byte every few seconds to hold a connection open forever).

use crate::error::{Error, ErrorKind, Result};
use futures_util::{Stream, StreamExt};
use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How long a body may go without sending a byte.
pub const IDLE: Duration = Duration::from_secs(10);
/// How long a body may take before its average rate counts.
pub const GRACE: Duration = Duration::from_secs(10);

/// The clock of one request body. `next` waits for the next item of a stream of the body (its
/// raw chunks, or multipart fields and their chunks) only as long as the limits allow.
pub struct BodyClock {
    started: Instant,
    received: Rc<Cell<u64>>,
    min_bytes_per_second: u64,
}

impl BodyClock {
    pub fn new(min_bytes_per_second: u64) -> BodyClock {
        BodyClock {
            started: Instant::now(),
            received: Rc::new(Cell::new(0)),
            min_bytes_per_second,
        }
    }

    /// Wraps the request's payload so the clock sees every byte that arrives.
    pub fn count<S>(&self, payload: S) -> Counted<S> {
        Counted {
            inner: payload,
            received: Rc::clone(&self.received),
            quiet_first_poll: false,
        }
    }

    /// The next item, or 408 when the client is too slow.
    pub async fn next<S>(&self, stream: &mut S) -> Result<Option<S::Item>>
    where
        S: Stream + Unpin,
    {
        let wait = IDLE.min(self.time_left());
        tokio::time::timeout(wait, stream.next())
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::RequestTimeout,
                    "The request body arrived too slowly; send it without long pauses.",
                )
            })
    }

    /// Until the body falls below the minimum average rate.
    fn time_left(&self) -> Duration {
        let rate = self.min_bytes_per_second.max(1);
        let earned = Duration::from_secs_f64(self.received.get() as f64 / rate as f64);
        (GRACE + earned).saturating_sub(self.started.elapsed())
    }
}

/// A payload stream whose bytes are counted for its `BodyClock`.
pub struct Counted<S> {
    inner: S,
    received: Rc<Cell<u64>>,
    quiet_first_poll: bool,
}

impl<S> Counted<S> {
    /// For a body read by a handler's extractor. actix-http polls the handler once as soon as
    /// it has decoded the request's head, before it feeds the body that came with it, and then
    /// again after feeding it, in the same pass. Waiting on the empty payload in that first
    /// poll would register a wake-up that the body's arrival fires, and the connection's task
    /// would run once more for nothing (two header decodes and a pass of the dispatcher, ~6k
    /// instructions a POST). So the first poll looks without leaving a waker; were the second
    /// poll ever not to come, the clock's own timer (`BodyClock::next`) still wakes the task.
    pub fn quiet_first_poll(mut self) -> Self {
        self.quiet_first_poll = true;
        self
    }
}

impl<S, E> Stream for Counted<S>
where
    S: Stream<Item = std::result::Result<actix_web::web::Bytes, E>> + Unpin,
{
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let polled = if std::mem::take(&mut self.quiet_first_poll) {
            Pin::new(&mut self.inner).poll_next(&mut Context::from_waker(Waker::noop()))
        } else {
            Pin::new(&mut self.inner).poll_next(cx)
        };
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.received.set(self.received.get() + chunk.len() as u64);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::web::Bytes;

    #[test]
    fn bytes_earn_time_past_the_grace() {
        let clock = BodyClock::new(1000);
        assert!(clock.time_left() <= GRACE);
        clock.received.set(5000);
        assert!(clock.time_left() > GRACE + Duration::from_secs(4));
    }

    #[actix_web::test]
    async fn a_counted_stream_feeds_the_clock() {
        let clock = BodyClock::new(1000);
        let chunks = futures_util::stream::iter(vec![
            Ok::<_, std::io::Error>(Bytes::from_static(b"hello")),
            Ok(Bytes::from_static(b" world")),
        ]);
        let mut counted = clock.count(chunks);
        while clock.next(&mut counted).await.unwrap().is_some() {}
        assert_eq!(clock.received.get(), 11);
    }
}
