//! Attachment bytes as objects of an S3-compatible bucket, one per attachment, named by its id:
//! what lets several servers share them (an upload through one is downloadable through all).
//!
//! An upload is spooled to a local file while its SHA-256 is computed, then PUT from that file
//! with its length and hash (S3 refuses bytes that do not match), before its record commits; if
//! the commit fails the object is deleted. Downloads are ranged GETs read a block at a time.
//! Deleted records' objects are deleted after the commit (`file_trash`), and at start-up
//! objects without a record are removed once they are `orphan_grace_seconds` older than the
//! start (younger ones may be another server's upload whose record is about to commit).

use super::local::{FileStore, Upload, read_blocks};
use crate::body_clock::BodyClock;
use crate::config::S3Config;
use crate::db::{Db, ids};
use crate::error::{Error, Result};
use crate::s3::{Client, S3Error};
use actix_web::web;
use futures_util::Stream;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct S3Store {
    client: Arc<Client>,
    /// Where uploads wait, hashed, before their PUT (`server.files`'s `.tmp/`).
    spool: FileStore,
    started: SystemTime,
    orphan_grace: Duration,
}

impl S3Store {
    /// Connects to the bucket and checks that it answers (HEAD bucket): a server that cannot
    /// store attachments does not start.
    pub fn open(config: &S3Config, spool: Option<&Path>) -> std::result::Result<S3Store, String> {
        let client = Client::new(&config.settings())?;
        client.head_bucket().map_err(|e| {
            format!(
                "the S3 bucket {:?} at {} cannot be used: {e}",
                client.bucket(),
                client.endpoint()
            )
        })?;
        Ok(S3Store {
            client: Arc::new(client),
            spool: FileStore::open(spool, false)?,
            started: SystemTime::now(),
            orphan_grace: Duration::from_secs(config.orphan_grace_seconds),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Spools an upload to a local file, hashing it on the way.
    pub async fn receive<S, E>(&self, chunks: S, limit: u64, clock: &BodyClock) -> Result<Upload>
    where
        S: Stream<Item = std::result::Result<web::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.spool.receive(chunks, limit, clock, true).await
    }

    /// Stores a spooled upload as the object `id`. Call before committing its record.
    pub async fn keep(&self, upload: Upload, id: &str) -> Result<()> {
        let sha256 = upload
            .sha256
            .clone()
            .ok_or_else(|| Error::internal("an upload for S3 without its hash"))?;
        let (client, key) = (self.client.clone(), id.to_owned());
        web::block(move || {
            let mut file = std::fs::File::open(upload.path())
                .map_err(|e| Error::io("open a spooled upload", e))?;
            client
                .put_object(&key, &mut file, upload.size, &sha256)
                .map_err(|e| unavailable("store an upload", e))
            // The spooled file goes with `upload`, here.
        })
        .await
        .map_err(Error::internal)?
    }

    /// `len` bytes of an attachment from `start`, a ranged GET read a block at a time.
    pub async fn read(
        &self,
        id: &str,
        start: u64,
        len: u64,
    ) -> Result<impl Stream<Item = Result<web::Bytes>> + 'static> {
        if !ids::is_id(id) {
            return Err(Error::not_found("attachment", id));
        }
        let reader: Box<dyn Read + Send> = if len == 0 {
            // `bytes=0--1` is no range: an empty file needs no request.
            Box::new(std::io::empty())
        } else {
            let (client, key) = (self.client.clone(), id.to_owned());
            let reader = web::block(move || client.get_range(&key, start, len))
                .await
                .map_err(Error::internal)?
                .map_err(|e| {
                    if e.is_not_found() {
                        Error::internal(format!("attachment {id} has no object in the bucket"))
                    } else {
                        unavailable("read an attachment", e)
                    }
                })?;
            Box::new(reader)
        };
        Ok(read_blocks(reader, len))
    }

    /// Deletes an attachment's object (its record is already gone or was never committed).
    pub async fn remove(&self, id: &str) {
        if !ids::is_id(id) {
            return;
        }
        let (client, key) = (self.client.clone(), id.to_owned());
        match web::block(move || client.delete(&key)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::warn!("could not delete the object of attachment {id}: {e}"),
            Err(e) => log::warn!("could not delete the object of attachment {id}: {e}"),
        }
    }

    /// Deletes the objects of records deleted since the last call (`file_trash`); those S3
    /// does not delete now stay in the trash for the next call.
    pub async fn empty_trash(&self, db: &Db) -> Result<()> {
        let trashed = db.trashed_files(1000).await?;
        if trashed.is_empty() {
            return Ok(());
        }
        let client = self.client.clone();
        let deleted = web::block(move || {
            let mut deleted = Vec::with_capacity(trashed.len());
            for id in trashed {
                match client.delete(&id) {
                    Ok(()) => deleted.push(id),
                    Err(e) => log::warn!("the object of deleted attachment {id} stays: {e}"),
                }
            }
            deleted
        })
        .await
        .map_err(Error::internal)?;
        Ok(db.forget_trashed(deleted).await?)
    }

    /// Start-up clean-up: the trash, unfinished spooled uploads, and objects without a record
    /// older than the start by the grace period.
    pub async fn sweep(&self, db: &Db) -> Result<()> {
        self.empty_trash(db).await?;
        self.spool.sweep_unfinished();
        let cutoff = self
            .started
            .checked_sub(self.orphan_grace)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        // A page (up to 1000 keys) at a time: a bucket of millions is never all in memory.
        let (mut listed, mut removed) = (0, 0);
        let mut token: Option<String> = None;
        loop {
            let client = self.client.clone();
            let from = token.clone();
            let page = web::block(move || client.list_page(from.as_deref()))
                .await
                .map_err(Error::internal)?
                .map_err(|e| unavailable("list the bucket", e))?;
            listed += page.objects.len();
            let candidates: Vec<String> = page
                .objects
                .into_iter()
                .filter(|object| ids::is_id(&object.key) && object.last_modified < cutoff)
                .map(|object| object.key)
                .collect();
            for id in db.unknown_files(candidates).await? {
                log::info!("removing orphan attachment object {id}");
                self.remove(&id).await;
                removed += 1;
            }
            match page.next {
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                _ => break,
            }
        }
        log::info!("swept the S3 bucket: {listed} object(s), {removed} orphan(s) removed");
        Ok(())
    }

    /// Puts `bytes` under `id` unless the object is there already (the demo's attachment).
    pub fn ensure_blocking(&self, id: &str, bytes: &[u8]) -> std::result::Result<(), String> {
        let exists = self
            .client
            .exists(id)
            .map_err(|e| format!("cannot reach the S3 bucket: {e}"))?;
        if exists {
            return Ok(());
        }
        use sha2::Digest;
        let sha256 = crate::s3::sigv4::hex(&sha2::Sha256::digest(bytes));
        self.client
            .put_object(id, &mut &bytes[..], bytes.len() as u64, &sha256)
            .map_err(|e| format!("cannot store {id} in the S3 bucket: {e}"))
    }
}

/// 503 for a failed S3 call: the client hears that the storage failed, the log hears how.
fn unavailable(what: &str, e: S3Error) -> Error {
    let message = match &e {
        S3Error::Status {
            status: 401 | 403, ..
        } => "The attachment storage refused the server's request; the cause has been logged.",
        _ => "The attachment storage did not answer; the cause has been logged. Retry later.",
    };
    Error::unavailable(message, format!("S3: {what}: {e}"))
}
