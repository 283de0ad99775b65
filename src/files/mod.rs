//! Attachment bytes: `ByteStore`, the one interface the handlers use, over a local folder
//! (`local::FileStore`, the default) or an S3-compatible bucket (`s3::S3Store`).

pub mod local;
pub mod s3;

use crate::body_clock::BodyClock;
use crate::config::{Config, StoreKind};
use crate::db::Db;
use crate::db::Synchronous;
use crate::error::Result;
use actix_web::web;
use futures_util::Stream;
use futures_util::future::Either;
pub use local::too_large;
use local::{FileStore, Upload};
use s3::S3Store;

/// Where attachment bytes live; the handlers know nothing of which.
pub enum ByteStore {
    Local(FileStore),
    S3(S3Store),
}

impl ByteStore {
    /// The store `config` names; an S3 bucket must answer.
    pub fn open(config: &Config) -> std::result::Result<ByteStore, String> {
        let server = &config.server;
        let files = server.files_dir();
        match config.attachments.store {
            StoreKind::Local => {
                FileStore::open(files.as_deref(), server.synchronous == Synchronous::Full)
                    .map(ByteStore::Local)
            }
            // `server.files` then only holds uploads on their way (`.tmp/`).
            StoreKind::S3 => {
                S3Store::open(&config.attachments.s3, files.as_deref()).map(ByteStore::S3)
            }
        }
    }

    /// Where the bytes are, for people: a folder, or an S3 bucket at its endpoint.
    pub fn describe(&self) -> String {
        match self {
            ByteStore::Local(store) => format!("{}/", store.dir().display()),
            ByteStore::S3(store) => format!(
                "S3 bucket {} at {}",
                store.client().bucket(),
                store.client().endpoint()
            ),
        }
    }

    /// Receives an upload (see `FileStore::receive`); more than `limit` bytes is a 413.
    pub async fn receive<S, E>(&self, chunks: S, limit: u64, clock: &BodyClock) -> Result<Upload>
    where
        S: Stream<Item = std::result::Result<web::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        match self {
            ByteStore::Local(store) => store.receive(chunks, limit, clock, false).await,
            ByteStore::S3(store) => store.receive(chunks, limit, clock).await,
        }
    }

    /// Puts a received upload in place as `id`. Call before committing its record.
    pub async fn keep(&self, upload: Upload, id: &str) -> Result<()> {
        match self {
            ByteStore::Local(store) => store.keep(upload, id),
            ByteStore::S3(store) => store.keep(upload, id).await,
        }
    }

    /// `len` bytes of an attachment from `start`, never all in memory.
    pub async fn read(
        &self,
        id: &str,
        start: u64,
        len: u64,
    ) -> Result<impl Stream<Item = Result<web::Bytes>> + 'static> {
        Ok(match self {
            ByteStore::Local(store) => Either::Left(store.read(id, start, len).await?),
            ByteStore::S3(store) => Either::Right(store.read(id, start, len).await?),
        })
    }

    /// Removes an attachment's bytes (its record is already gone or was never committed).
    pub async fn remove(&self, id: &str) {
        match self {
            ByteStore::Local(store) => store.remove(id),
            ByteStore::S3(store) => store.remove(id).await,
        }
    }

    /// Removes the bytes of records deleted since the last call (`file_trash`).
    pub async fn empty_trash(&self, db: &Db) -> Result<()> {
        match self {
            ByteStore::Local(store) => store.empty_trash(db).await,
            ByteStore::S3(store) => store.empty_trash(db).await,
        }
    }

    /// Start-up clean-up of what a crash may have left.
    pub async fn sweep(&self, db: &Db) -> Result<()> {
        match self {
            ByteStore::Local(store) => store.sweep(db).await,
            ByteStore::S3(store) => store.sweep(db).await,
        }
    }

    /// Puts `bytes` under `id` unless something is there already (the demo's attachment).
    pub fn ensure_blocking(&self, id: &str, bytes: &[u8]) -> std::result::Result<(), String> {
        match self {
            ByteStore::Local(store) => store.ensure_blocking(id, bytes),
            ByteStore::S3(store) => store.ensure_blocking(id, bytes),
        }
    }
}
