//! Contacts' `last_active_at` for the accounts that call the API (kept apart from
//! authentication, which only says who is calling).

use crate::db::{self, Db};
use std::collections::HashMap;
use std::sync::Mutex;

/// Keeps contacts' `last_active_at`, written at most once a minute per account so that busy
/// clients do not turn every read into a write.
#[derive(Default)]
pub struct ActivityTracker {
    last_written: Mutex<HashMap<String, i64>>,
}

const ACTIVITY_RESOLUTION_SECS: i64 = 60;

impl ActivityTracker {
    pub fn touch(&self, db: &Db, account_id: &str) {
        let now = db::now();
        {
            let Ok(mut last) = self.last_written.lock() else {
                return;
            };
            match last.get(account_id) {
                Some(at) if now - at < ACTIVITY_RESOLUTION_SECS => return,
                _ => last.insert(account_id.to_owned(), now),
            };
        }
        let db = db.clone();
        let id = account_id.to_owned();
        actix_web::rt::spawn(async move {
            if let Err(e) = db.record_activity(id, now).await {
                log::warn!("could not record activity: {e}");
            }
        });
    }
}
