//! A PostgreSQL client for synchronous code: tokio-postgres driven on the calling thread, on a
//! small runtime of its own (as the `postgres` crate does), plus the two things that crate
//! cannot do and a read needs to cost one round trip instead of three: a statement sent in
//! the same flight as the `BEGIN` before it, and a `COMMIT` sent without waiting for its
//! answer (a read-only transaction's commit cannot fail; the answer is read, and dropped, with
//! the next request).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, Error, Row, Socket, Statement};

pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub struct PgClient {
    client: Client,
    driver: Driver,
}

type Connection = Box<tokio_postgres::Connection<Socket, NoTlsStream>>;

/// Runs the connection (its socket reads and writes) while a request waits.
struct Driver {
    runtime: tokio::runtime::Runtime,
    /// `None` once it has ended: dropping it fails the requests still waiting for an answer,
    /// and every request fails at once from then on.
    connection: Option<Connection>,
    /// A `NOTIFY` arrived on a channel this connection listens on.
    notified: bool,
}

/// Polls the connection; drops it once it has ended.
fn drive(connection: &mut Option<Connection>, notified: &mut bool, cx: &mut Context<'_>) {
    let Some(running) = connection else {
        return;
    };
    loop {
        match running.poll_message(cx) {
            Poll::Ready(Some(Ok(AsyncMessage::Notification(_)))) => *notified = true,
            Poll::Ready(Some(Ok(AsyncMessage::Notice(notice)))) => {
                log::info!("PostgreSQL: {}", notice.message());
            }
            Poll::Ready(Some(Ok(_))) => {}
            Poll::Ready(Some(Err(e))) => {
                log::warn!("PostgreSQL connection lost: {e}");
                *connection = None;
                return;
            }
            Poll::Ready(None) => {
                *connection = None;
                return;
            }
            Poll::Pending => return,
        }
    }
}

/// What `PgClient::wait_for_notification` saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Waited {
    Notified,
    TimedOut,
    /// The connection ended.
    Closed,
}

impl Driver {
    /// Drives the connection until `request` is done.
    fn block_on<T>(&mut self, request: impl Future<Output = T>) -> T {
        let mut request = std::pin::pin!(request);
        let Driver {
            runtime,
            connection,
            notified,
        } = self;
        runtime.block_on(std::future::poll_fn(|cx| {
            drive(connection, notified, cx);
            request.as_mut().poll(cx)
        }))
    }

    /// Polls `request` once (which queues its messages) and the connection once (which
    /// writes them out), without waiting for an answer.
    fn send(&mut self, request: Pin<&mut impl Future>) {
        let mut request = request;
        let Driver {
            runtime,
            connection,
            notified,
        } = self;
        runtime.block_on(std::future::poll_fn(|cx| {
            let _ = request.as_mut().poll(cx);
            drive(connection, notified, cx);
            Poll::Ready(())
        }));
    }

    /// Waits up to `timeout` for a notification (of a `LISTEN`), driving the connection.
    fn wait_for_notification(&mut self, timeout: Duration) -> Waited {
        let Driver {
            runtime,
            connection,
            notified,
        } = self;
        runtime.block_on(async {
            let notification = std::future::poll_fn(|cx| {
                drive(connection, notified, cx);
                if std::mem::take(notified) {
                    Poll::Ready(Waited::Notified)
                } else if connection.is_none() {
                    Poll::Ready(Waited::Closed)
                } else {
                    Poll::Pending
                }
            });
            tokio::select! {
                waited = notification => waited,
                () = tokio::time::sleep(timeout) => Waited::TimedOut,
            }
        })
    }
}

/// `request`, with `begin` (transaction control, no parameters) sent ahead of it in the same
/// flight: both are queued before either is answered.
async fn after<T>(
    client: &Client,
    begin: Option<&str>,
    request: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match begin {
        None => request.await,
        Some(begin) => {
            let (begun, answer) =
                futures_util::future::join(client.batch_execute(begin), request).await;
            begun.and(answer)
        }
    }
}

impl PgClient {
    /// Connects; the connection will run on `runtime` (a current-thread one, used by nothing
    /// else).
    pub fn connect(
        runtime: tokio::runtime::Runtime,
        config: &tokio_postgres::Config,
    ) -> Result<PgClient, Error> {
        let (client, connection) = runtime.block_on(config.connect(tokio_postgres::NoTls))?;
        Ok(PgClient {
            client,
            driver: Driver {
                runtime,
                connection: Some(Box::new(connection)),
                notified: false,
            },
        })
    }

    pub fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        let PgClient { client, driver } = self;
        driver.block_on(client.prepare(sql))
    }

    /// The statement's rows; `begin` (transaction control, no parameters) goes first, in the
    /// same flight.
    pub fn query(
        &mut self,
        begin: Option<&str>,
        statement: &Statement,
        params: Params<'_>,
    ) -> Result<Vec<Row>, Error> {
        let PgClient { client, driver } = self;
        driver.block_on(after(client, begin, client.query(statement, params)))
    }

    /// Runs the statement; the rows it changed. `begin` as for `query`.
    pub fn execute(
        &mut self,
        begin: Option<&str>,
        statement: &Statement,
        params: Params<'_>,
    ) -> Result<u64, Error> {
        let PgClient { client, driver } = self;
        driver.block_on(after(client, begin, client.execute(statement, params)))
    }

    /// Runs statements without parameters (simple query protocol).
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        let PgClient { client, driver } = self;
        driver.block_on(client.batch_execute(sql))
    }

    /// Runs the statement, then `after` (transaction control, no parameters) in the same
    /// flight.
    pub fn execute_then(
        &mut self,
        statement: &Statement,
        params: Params<'_>,
        after: &str,
    ) -> Result<(), Error> {
        let PgClient { client, driver } = self;
        driver.block_on(async {
            let (executed, done) = futures_util::future::join(
                client.execute(statement, params),
                client.batch_execute(after),
            )
            .await;
            executed.and(done)
        })
    }

    /// Waits up to `timeout` for a notification on a channel this connection listens on.
    pub fn wait_for_notification(&mut self, timeout: Duration) -> Waited {
        self.driver.wait_for_notification(timeout)
    }

    /// Sends statements that cannot fail without waiting for their answer.
    pub fn send_without_waiting(&mut self, sql: &str) {
        let PgClient { client, driver } = self;
        let request = std::pin::pin!(client.batch_execute(sql));
        driver.send(request);
    }

    /// Whether the connection is known to have ended (nothing is read to find out).
    pub fn is_closed(&self) -> bool {
        self.driver.connection.is_none() || self.client.is_closed()
    }

    /// Whether the connection has ended, reading what has arrived first: a connection the
    /// server closed while it sat idle is seen closed before a request fails on it.
    pub fn has_ended(&mut self) -> bool {
        let Driver {
            runtime,
            connection,
            notified,
        } = &mut self.driver;
        if connection.is_some() {
            runtime.block_on(async {
                // Yielding lets the runtime look at its sockets (without waiting): a close
                // that arrived meanwhile is then read by `drive`.
                tokio::task::yield_now().await;
                std::future::poll_fn(|cx| {
                    drive(connection, notified, cx);
                    Poll::Ready(())
                })
                .await;
            });
        }
        connection.is_none() || self.client.is_closed()
    }
}
