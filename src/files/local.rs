//! Attachment bytes as files in a local folder: one file per attachment, named by its id,
//! beside the database (`protocol.db` → `protocol.db-files/`). Why files and not SQLite blobs:
//! an upload streams straight to disk without passing through the WAL (a 25 MiB blob would be
//! written twice and bloat the WAL), downloads and range requests read the file directly, and
//! the database stays small and fast to back up.
//!
//! Crash safety: an upload is written to `.tmp/` and renamed to its final name before its
//! record is committed. A crash before the commit leaves a file without a record, which the
//! start-up sweep removes; a deleted record's file is noted in `file_trash` in the same
//! transaction and removed after the commit (or by the next sweep).
//!
//! The S3 store (`files::s3`) spools uploads here too, in `.tmp/`, before it PUTs them.

use crate::body_clock::BodyClock;
use crate::db::{Db, ids};
use crate::error::{Error, ErrorKind, Result};
use actix_web::web;
use futures_util::Stream;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Upload bytes are gathered into blocks of this size before each write.
const WRITE_BLOCK: usize = 256 * 1024;
/// Bytes read per step of a download.
const READ_BLOCK: usize = 64 * 1024;

/// Attachment bytes as files in a local folder.
pub struct FileStore {
    dir: PathBuf,
    tmp: PathBuf,
    /// fsync files before their record is committed (`synchronous = "full"`).
    sync: bool,
    started: SystemTime,
    /// A private folder for an in-memory database, removed with the store.
    _temporary: Option<tempdir::Guard>,
}

impl FileStore {
    /// The store beside `database` (for `:memory:`, a private temporary folder).
    /// The store in `dir` (`None`: a temporary folder, removed with the store).
    pub fn open(dir: Option<&Path>, sync: bool) -> std::result::Result<FileStore, String> {
        let (dir, temporary) = match dir {
            Some(dir) => (dir.to_owned(), None),
            None => {
                let guard = tempdir::Guard::new()
                    .map_err(|e| format!("cannot create a temporary folder: {e}"))?;
                (guard.path().to_owned(), Some(guard))
            }
        };
        let tmp = dir.join(".tmp");
        std::fs::create_dir_all(&tmp)
            .map_err(|e| format!("cannot create the attachment folder {}: {e}", dir.display()))?;
        Ok(FileStore {
            dir,
            tmp,
            sync,
            started: SystemTime::now(),
            _temporary: temporary,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where an attachment's bytes live. Only ever called with generated ids.
    pub fn path(&self, id: &str) -> Option<PathBuf> {
        ids::is_id(id).then(|| self.dir.join(id))
    }

    /// Streams `chunks` into a temporary file. More than `limit` bytes: 413, and nothing is
    /// kept (the rest of the stream is read and dropped, up to a bound, so the client gets the
    /// answer instead of a reset connection).
    ///
    /// With `hash`, the SHA-256 of the bytes is computed on the way (S3 checks an upload
    /// against it).
    pub async fn receive<S, E>(
        &self,
        mut chunks: S,
        limit: u64,
        clock: &BodyClock,
        hash: bool,
    ) -> Result<Upload>
    where
        S: Stream<Item = std::result::Result<web::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = self.tmp.join(ids::new_id());
        let file = File::create(&path).map_err(|e| Error::io("create an upload file", e))?;
        // From here on the guard removes the file on every early return.
        let mut upload = Upload {
            path,
            size: 0,
            sha256: None,
            committed: false,
        };
        let mut file = Some(file);
        let mut hasher = hash.then(Sha256::new);
        let mut block: Vec<u8> = Vec::with_capacity(WRITE_BLOCK);
        while let Some(chunk) = clock.next(&mut chunks).await? {
            let chunk = chunk
                .map_err(|e| Error::bad_request(format!("The upload could not be read: {e}.")))?;
            upload.size += chunk.len() as u64;
            if upload.size > limit {
                drop(file.take());
                drain(&mut chunks, limit, clock).await;
                return Err(too_large(limit));
            }
            block.extend_from_slice(&chunk);
            if block.len() >= WRITE_BLOCK {
                let (f, b, h) = write_block(file.take(), block, hasher.take()).await?;
                file = Some(f);
                block = b;
                hasher = h;
            }
        }
        let sync = self.sync;
        let (f, _, hasher) = write_block(file.take(), block, hasher).await?;
        upload.sha256 = hasher.map(|h| crate::s3::sigv4::hex(&h.finalize()));
        if sync {
            web::block(move || f.sync_all())
                .await
                .map_err(Error::internal)?
                .map_err(|e| Error::io("fsync an upload", e))?;
        }
        Ok(upload)
    }

    /// `len` bytes of an attachment from `start`, read a block at a time off the async
    /// threads; the whole file is never in memory.
    pub async fn read(
        &self,
        id: &str,
        start: u64,
        len: u64,
    ) -> Result<impl Stream<Item = Result<web::Bytes>> + 'static> {
        let path = self
            .path(id)
            .ok_or_else(|| Error::not_found("attachment", id))?;
        let file = web::block(move || -> std::io::Result<File> {
            let mut file = File::open(&path)?;
            file.seek(std::io::SeekFrom::Start(start))?;
            Ok(file)
        })
        .await
        .map_err(Error::internal)?
        .map_err(|e| Error::internal(format!("open attachment {id}: {e}")))?;
        Ok(read_blocks(file, len))
    }

    /// Moves a finished upload to its final name. Call before committing its record.
    pub fn keep(&self, mut upload: Upload, id: &str) -> Result<()> {
        let target = self
            .path(id)
            .ok_or_else(|| Error::internal("attachment id of the wrong shape"))?;
        std::fs::rename(&upload.path, &target)
            .map_err(|e| Error::internal(format!("rename upload to {}: {e}", target.display())))?;
        upload.committed = true;
        Ok(())
    }

    /// Puts `bytes` under `id` unless something is there already (the demo's attachment), going
    /// through `.tmp/` as an upload does.
    pub fn ensure_blocking(&self, id: &str, bytes: &[u8]) -> std::result::Result<(), String> {
        let path = self
            .path(id)
            .ok_or_else(|| format!("{id} is not an attachment id"))?;
        if path.exists() {
            return Ok(());
        }
        let tmp = self.tmp.join(id);
        File::create(&tmp)
            .and_then(|mut f| f.write_all(bytes))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Removes an attachment's bytes (its record is already gone or was never committed).
    pub fn remove(&self, id: &str) {
        if let Some(path) = self.path(id) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => log::warn!("could not remove {}: {e}", path.display()),
            }
        }
    }

    /// Removes the files of records deleted since the last call (`file_trash`).
    pub async fn empty_trash(&self, db: &Db) -> Result<()> {
        let ids = db.trashed_files(1000).await?;
        if ids.is_empty() {
            return Ok(());
        }
        for id in &ids {
            self.remove(id);
        }
        Ok(db.forget_trashed(ids).await?)
    }

    /// Removes the unfinished uploads a crash left in `.tmp/`.
    pub fn sweep_unfinished(&self) {
        for entry in std::fs::read_dir(&self.tmp).into_iter().flatten().flatten() {
            if self.older_than_start(&entry.path()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    fn older_than_start(&self, path: &Path) -> bool {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified < self.started)
    }

    /// Start-up clean-up of what a crash may have left: unfinished uploads, trashed files, and
    /// files without a record. Only files older than this process are touched, so uploads in
    /// flight are safe.
    pub async fn sweep(&self, db: &Db) -> Result<()> {
        self.empty_trash(db).await?;
        self.sweep_unfinished();
        let old = |path: &Path| self.older_than_start(path);
        let candidates: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| ids::is_id(name) && old(&self.dir.join(name)))
            .collect();
        let orphans = db.unknown_files(candidates).await?;
        for id in &orphans {
            log::info!("removing orphan attachment file {id}");
            self.remove(id);
        }
        Ok(())
    }
}

/// `len` bytes of `reader` as a stream, read a block at a time off the async threads; the
/// whole file is never in memory.
pub(crate) fn read_blocks<R: Read + Send + 'static>(
    reader: R,
    len: u64,
) -> impl Stream<Item = Result<web::Bytes>> + 'static {
    futures_util::stream::try_unfold((reader, len), |(reader, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let want = usize::try_from(left).map_or(READ_BLOCK, |l| l.min(READ_BLOCK));
        let (reader, block) = web::block(move || {
            let mut reader = reader;
            let mut block = vec![0; want];
            let got = reader.read(&mut block)?;
            block.truncate(got);
            Ok::<_, std::io::Error>((reader, block))
        })
        .await
        .map_err(Error::internal)?
        .map_err(|e| Error::internal(format!("read attachment: {e}")))?;
        if block.is_empty() {
            return Err(Error::internal(
                "attachment bytes shorter than their record",
            ));
        }
        let left = left - block.len() as u64;
        Ok(Some((web::Bytes::from(block), (reader, left))))
    })
}

/// 413 for an upload over `limit` bytes.
pub fn too_large(limit: u64) -> Error {
    Error::new(
        ErrorKind::PayloadTooLarge,
        format!("The file is larger than the upload limit of {limit} bytes."),
    )
    .with_param("file")
}

/// Writes (and hashes, with a hasher) a block off the async threads.
async fn write_block(
    file: Option<File>,
    block: Vec<u8>,
    mut hasher: Option<Sha256>,
) -> Result<(File, Vec<u8>, Option<Sha256>)> {
    let mut file = file.ok_or_else(|| Error::internal("upload file already closed"))?;
    web::block(move || {
        file.write_all(&block)?;
        if let Some(hasher) = &mut hasher {
            hasher.update(&block);
        }
        let mut block = block;
        block.clear();
        Ok::<_, std::io::Error>((file, block, hasher))
    })
    .await
    .map_err(Error::internal)?
    .map_err(|e| Error::io("write an upload", e))
}

/// Reads and drops the rest of an oversized upload, up to as much again as the limit.
async fn drain<S, E>(chunks: &mut S, limit: u64, clock: &BodyClock)
where
    S: Stream<Item = std::result::Result<web::Bytes, E>> + Unpin,
{
    let mut dropped: u64 = 0;
    while let Ok(Some(Ok(chunk))) = clock.next(chunks).await {
        dropped += chunk.len() as u64;
        if dropped > limit {
            break;
        }
    }
}

/// A finished upload in the temporary folder; removed on drop unless kept.
pub struct Upload {
    path: PathBuf,
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes, when `receive` was asked for it.
    pub sha256: Option<String>,
    committed: bool,
}

impl Upload {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

mod tempdir {
    use std::path::{Path, PathBuf};

    /// A folder under the system's temporary directory, removed on drop.
    pub struct Guard(PathBuf);

    impl Guard {
        pub fn new() -> std::io::Result<Guard> {
            let path =
                std::env::temp_dir().join(format!("protocol-{}-files", super::ids::new_id()));
            std::fs::create_dir_all(&path)?;
            Ok(Guard(path))
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
