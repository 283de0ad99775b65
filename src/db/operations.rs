//! The storage interface: whole operations, each one read snapshot or one write transaction.
//!
//! Callers outside `db` ask for what they need here and never see a connection: each method
//! runs its statements through `read` (a reader's snapshot) or `write` (the writer's next
//! group commit; its closure may run twice, so it changes only the database). The `_blocking`
//! ones are for threads outside the async runtime (webhook workers, start-up, the CLI).

use super::attachments::{self, NewAttachment, StoredFile};
use super::conversations::{self, ConversationChanges, ConversationFilter, Target};
use super::error::Result;
use super::events::{self, Audience, StoredEvent};
use super::groups::{self, GroupChanges, NewGroup};
use super::idempotency::{self, Receipt, StoredResponse};
use super::messages::{self, MessageChanges, NewMessage};
use super::people;
use super::records::{Attachment, Contact, Conversation, Group, Message};
use super::sql::Sql;
use super::{Db, contacts, demo, now, private_contacts};
use crate::account::Account;
use crate::pagination::{List, PageParams};

/// A configured account's own contact, as `sync_accounts_blocking` keeps it.
pub struct AccountContact {
    pub username: String,
    pub phone_number: String,
    pub avatar_url: Option<String>,
}

/// Messages.
impl Db {
    /// A page of the messages `viewer` sees, newest first; of one conversation if named.
    pub async fn messages_page(
        &self,
        viewer: Account,
        conversation: Option<String>,
        page: PageParams,
    ) -> Result<List<Message>> {
        let profiles = self.profiles.clone();
        self.read(move |c| {
            let profiles = profiles.as_deref();
            messages::list(c, profiles, &viewer.id, conversation.as_deref(), &page)
        })
        .await
    }

    /// Sends a message (with its attachments and events) as `sender`.
    pub async fn send_message(
        &self,
        sender: Account,
        new: NewMessage,
        receipt: Option<Receipt<Message>>,
    ) -> Result<Message> {
        self.write_answered(receipt, move |tx| {
            messages::create(tx, &sender, &new, now())
        })
        .await
    }

    /// One message, as `viewer` sees it.
    pub async fn message(&self, viewer: Account, id: String) -> Result<Message> {
        let profiles = self.profiles.clone();
        self.read(move |c| messages::get(c, profiles.as_deref(), &viewer.id, &id))
            .await
    }

    /// Edits a message (the sender) and/or `viewer`'s own reactions to it.
    pub async fn update_message(
        &self,
        viewer: Account,
        id: String,
        changes: MessageChanges,
    ) -> Result<Message> {
        self.write(move |tx| messages::update(tx, &viewer, &id, &changes, now()))
            .await
    }

    /// Deletes a message for everyone (the sender only).
    pub async fn delete_message(&self, viewer: Account, id: String) -> Result<()> {
        self.write(move |tx| messages::delete(tx, &viewer.id, &id))
            .await
    }
}

/// Conversations.
impl Db {
    /// A page of `viewer`'s conversations, most recently active first.
    pub async fn conversations_page(
        &self,
        viewer: Account,
        filter: ConversationFilter,
        page: PageParams,
    ) -> Result<List<Conversation>> {
        self.read(move |c| conversations::list(c, &viewer.id, &filter, &page))
            .await
    }

    /// `viewer`'s conversation with a contact or group, created if missing (`true`: created).
    pub async fn start_conversation(
        &self,
        viewer: Account,
        target: Target,
        receipt: Option<Receipt<(Conversation, bool)>>,
    ) -> Result<(Conversation, bool)> {
        self.write_answered(receipt, move |tx| {
            conversations::create(tx, &viewer.id, &target, now())
        })
        .await
    }

    /// Opens a conversation: marks its messages from others read, then returns it, opened.
    pub async fn open_conversation(&self, viewer: Account, id: String) -> Result<Conversation> {
        self.write(move |tx| {
            let now = now();
            messages::mark_read(tx, &viewer.id, &id, now)?;
            conversations::open(tx, &viewer.id, &id, now)
        })
        .await
    }

    /// Changes `viewer`'s settings of a conversation, or its pinned message.
    pub async fn update_conversation(
        &self,
        viewer: Account,
        id: String,
        changes: ConversationChanges,
    ) -> Result<Conversation> {
        self.write(move |tx| conversations::update(tx, &viewer.id, &id, &changes))
            .await
    }

    /// Removes a conversation from `viewer`'s view.
    pub async fn delete_conversation(&self, viewer: Account, id: String) -> Result<()> {
        self.write(move |tx| conversations::delete(tx, &viewer.id, &id))
            .await
    }
}

/// Contacts and accounts.
impl Db {
    /// A page of `viewer`'s address book.
    pub async fn contacts_page(&self, viewer: Account, page: PageParams) -> Result<List<Contact>> {
        self.read(move |c| contacts::list(c, &viewer.id, &page))
            .await
    }

    /// Adds a contact to `viewer`'s address book.
    pub async fn add_contact(
        &self,
        viewer: Account,
        new: contacts::NewContact,
        receipt: Option<Receipt<Contact>>,
    ) -> Result<Contact> {
        self.write_answered(receipt, move |tx| {
            contacts::create(tx, &viewer.id, &new, now())
        })
        .await
    }

    /// One person, as `viewer` sees them.
    pub async fn contact(&self, viewer: Account, id: String) -> Result<Contact> {
        self.read(move |c| people::get(c, &viewer.id, &id)).await
    }

    /// Sets (or with `Some(None)` clears) `viewer`'s name for a contact.
    pub async fn update_contact(
        &self,
        viewer: Account,
        id: String,
        display_name: Option<Option<String>>,
    ) -> Result<Contact> {
        self.write(move |tx| {
            contacts::update(
                tx,
                &viewer.id,
                &id,
                display_name.as_ref().map(Option::as_deref),
            )
        })
        .await
    }

    /// Removes a contact from `viewer`'s address book.
    pub async fn delete_contact(&self, viewer: Account, id: String) -> Result<()> {
        self.write(move |tx| contacts::delete(tx, &viewer.id, &id))
            .await
    }

    /// Records that an account was active at `now`.
    pub async fn record_activity(&self, account_id: String, now: i64) -> Result<()> {
        self.write(move |tx| contacts::set_last_active(tx, &account_id, now))
            .await
    }

    /// Creates or updates each account's contact (matched by username), in one transaction,
    /// and makes private the contacts who are not accounts: the accounts' contact ids in the
    /// order given, and how many contacts were made private.
    pub fn sync_accounts_blocking(
        &self,
        accounts: Vec<AccountContact>,
    ) -> Result<(Vec<String>, usize)> {
        let now = now();
        self.write_blocking(move |tx| {
            let ids = accounts
                .iter()
                .map(|a| {
                    contacts::upsert_account(
                        tx,
                        &a.username,
                        &a.phone_number,
                        a.avatar_url.as_deref(),
                        now,
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            let made_private = private_contacts::make_private(tx, &ids)?;
            Ok((ids, made_private))
        })
    }
}

/// Groups.
impl Db {
    /// A page of `viewer`'s groups; archived or not, if asked.
    pub async fn groups_page(
        &self,
        viewer: Account,
        archived: Option<bool>,
        page: PageParams,
    ) -> Result<List<Group>> {
        self.read(move |c| groups::list(c, &viewer.id, archived, &page))
            .await
    }

    /// Creates a group owned by `owner`, with at most `max_members`.
    pub async fn create_group(
        &self,
        owner: Account,
        new: NewGroup,
        max_members: usize,
        receipt: Option<Receipt<Group>>,
    ) -> Result<Group> {
        self.write_answered(receipt, move |tx| {
            groups::create(tx, &owner.id, &new, max_members, now())
        })
        .await
    }

    /// One group of `viewer`'s.
    pub async fn group(&self, viewer: Account, id: String) -> Result<Group> {
        self.read(move |c| groups::get(c, &viewer.id, &id)).await
    }

    /// Changes a group (its owner).
    pub async fn update_group(
        &self,
        viewer: Account,
        id: String,
        changes: GroupChanges,
        max_members: usize,
    ) -> Result<Group> {
        self.write(move |tx| groups::update(tx, &viewer.id, &id, &changes, max_members))
            .await
    }

    /// Deletes a group (its owner).
    pub async fn delete_group(&self, viewer: Account, id: String) -> Result<()> {
        self.write(move |tx| groups::delete(tx, &viewer.id, &id))
            .await
    }

    /// A page of a group's members.
    pub async fn group_members_page(
        &self,
        viewer: Account,
        id: String,
        page: PageParams,
    ) -> Result<List<Contact>> {
        self.read(move |c| groups::list_members(c, &viewer.id, &id, &page))
            .await
    }

    /// Adds contacts to a group; returns those added.
    pub async fn add_group_members(
        &self,
        viewer: Account,
        id: String,
        contacts: Vec<String>,
        max_members: usize,
        receipt: Option<Receipt<Vec<Contact>>>,
    ) -> Result<Vec<Contact>> {
        self.write_answered(receipt, move |tx| {
            groups::add_members(tx, &viewer.id, &id, &contacts, max_members)
        })
        .await
    }

    /// Removes a member from a group.
    pub async fn remove_group_member(
        &self,
        viewer: Account,
        id: String,
        member: String,
    ) -> Result<()> {
        self.write(move |tx| groups::remove_member(tx, &viewer.id, &id, &member))
            .await
    }
}

/// Attachments and the file trash.
impl Db {
    /// A page of the attachments `viewer` sees, newest first; of one conversation if named.
    pub async fn attachments_page(
        &self,
        viewer: Account,
        conversation: Option<String>,
        page: PageParams,
    ) -> Result<List<Attachment>> {
        self.read(move |c| attachments::list(c, &viewer.id, conversation.as_deref(), &page))
            .await
    }

    /// Records an upload whose bytes are already in place.
    pub async fn add_attachment(
        &self,
        uploader: Account,
        new: NewAttachment,
        receipt: Option<Receipt<Attachment>>,
    ) -> Result<Attachment> {
        self.write_answered(receipt, move |tx| {
            attachments::create(tx, &uploader.id, &new, now())
        })
        .await
    }

    /// One attachment, as `viewer` sees it.
    pub async fn attachment(&self, viewer: Account, id: String) -> Result<Attachment> {
        self.read(move |c| attachments::get(c, &viewer.id, &id))
            .await
    }

    /// What serving an attachment's bytes to `viewer` needs.
    pub async fn stored_file(&self, viewer: Account, id: String) -> Result<StoredFile> {
        self.read(move |c| attachments::stored_file(c, &viewer.id, &id))
            .await
    }

    /// Renames an attachment (its uploader).
    pub async fn rename_attachment(
        &self,
        viewer: Account,
        id: String,
        filename: String,
    ) -> Result<Attachment> {
        self.write(move |tx| attachments::rename(tx, &viewer.id, &id, &filename))
            .await
    }

    /// Deletes an attachment's record (its uploader); its bytes go to the trash.
    pub async fn delete_attachment(&self, viewer: Account, id: String) -> Result<()> {
        self.write(move |tx| attachments::delete(tx, &viewer.id, &id))
            .await
    }

    /// How many attachments are stored, and their bytes.
    pub async fn attachment_totals(&self) -> Result<(i64, i64)> {
        self.read(attachments::totals).await
    }

    /// Up to `limit` ids of deleted attachments whose files are still to be removed.
    pub async fn trashed_files(&self, limit: u32) -> Result<Vec<String>> {
        self.read(move |c| attachments::trashed(c, limit)).await
    }

    /// Forgets trashed ids whose files are gone.
    pub async fn forget_trashed(&self, ids: Vec<String>) -> Result<()> {
        self.write(move |tx| attachments::forget_trashed(tx, &ids))
            .await
    }

    /// Those of `candidates` (file names) that no attachment record knows.
    pub async fn unknown_files(&self, candidates: Vec<String>) -> Result<Vec<String>> {
        self.read(move |c| attachments::unknown(c, &candidates))
            .await
    }
}

/// Events: SSE replay, the realtime hub, webhooks, retention.
impl Db {
    /// The seq of the event with this id, if still retained.
    pub async fn event_seq(&self, id: String) -> Result<Option<i64>> {
        self.read(move |c| events::seq_of(c, &id)).await
    }

    /// The seq of the newest committed event (0: none).
    pub async fn newest_event_seq(&self) -> Result<i64> {
        self.read(events::newest_seq).await
    }

    /// Up to `limit` of `person`'s events after `after`, in order.
    pub async fn events_for(
        &self,
        person: String,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        self.read(move |c| events::after_for(c, &person, after, limit))
            .await
    }

    /// Up to `limit` events after `after`, in order, each with its audience.
    pub async fn events_with_audience(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(StoredEvent, Audience)>> {
        self.read(move |c| events::after_with_audience(c, after, limit))
            .await
    }

    /// The members of a (large) conversation who see its events after `after`.
    pub async fn members_seeing(&self, conversation: String, after: i64) -> Result<Vec<String>> {
        self.read(move |c| events::members_seeing(c, &conversation, after))
            .await
    }

    /// Up to `limit` events after `after`, in order (a webhook worker's next batch).
    pub fn events_after_blocking(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>> {
        self.read_blocking(move |c| events::after(c, after, limit))
    }

    /// Takes the delivery of a webhook endpoint for `holder` from `now` until `until` (ms):
    /// its cursor, or `None` while another server holds it (`events::claim_webhook`).
    pub fn claim_webhook_blocking(
        &self,
        url: String,
        holder: String,
        now: i64,
        until: i64,
    ) -> Result<Option<i64>> {
        self.write_blocking(move |tx| events::claim_webhook(tx, &url, &holder, now, until))
    }

    /// Moves a held endpoint's cursor (None: keeps it) and extends the lease; false when the
    /// lease was lost.
    pub fn keep_webhook_blocking(
        &self,
        url: String,
        holder: String,
        seq: Option<i64>,
        until: i64,
    ) -> Result<bool> {
        self.write_blocking(move |tx| events::keep_webhook(tx, &url, &holder, seq, until))
    }

    /// Lets go of a held endpoint.
    pub fn release_webhook_blocking(&self, url: String, holder: String) -> Result<()> {
        self.write_blocking(move |tx| events::release_webhook(tx, &url, &holder))
    }

    /// Records an event given up on after `attempts` deliveries.
    pub fn record_webhook_failure_blocking(
        &self,
        url: String,
        event_id: String,
        attempts: u32,
        error: String,
    ) -> Result<()> {
        self.write_blocking(move |tx| {
            events::record_webhook_failure(tx, &url, &event_id, attempts, &error, now())
        })
    }

    /// Each endpoint's backlog (`webhook_backlog`), in the order of `urls`.
    pub async fn webhook_backlogs(&self, urls: Vec<String>) -> Result<Vec<(i64, i64)>> {
        self.read(move |c| {
            urls.iter()
                .map(|url| events::webhook_backlog(c, url))
                .collect::<Result<Vec<_>>>()
        })
        .await
    }

    /// Deletes events older than `retention_hours` that every webhook endpoint has passed, and
    /// expired idempotency keys, in one transaction: how many of each.
    pub async fn prune(
        &self,
        retention_hours: u64,
        webhook_urls: Vec<String>,
    ) -> Result<(usize, usize)> {
        let now = now();
        let before = now.saturating_sub(retention_hours.saturating_mul(3600) as i64);
        self.write(move |tx| {
            let events = events::prune(tx, before, &webhook_urls)?;
            let keys = idempotency::prune(tx, now - idempotency::TTL_SECS)?;
            Ok((events, keys))
        })
        .await
    }
}

/// Idempotency keys.
impl Db {
    /// The response stored for `account`'s key, unless expired.
    pub async fn idempotent_response(
        &self,
        account: String,
        key: String,
    ) -> Result<Option<StoredResponse>> {
        self.read(move |c| idempotency::find(c, &account, &key, now()))
            .await
    }

    /// `write`, recording the response to the change under its `Idempotency-Key` (if any) in
    /// the change's transaction.
    async fn write_answered<T, F>(&self, receipt: Option<Receipt<T>>, mut work: F) -> Result<T>
    where
        F: FnMut(&Sql) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.write(move |tx| {
            let done = work(tx)?;
            if let Some(receipt) = &receipt {
                receipt.record(tx, &done, now())?;
            }
            Ok(done)
        })
        .await
    }
}

/// The demo dataset.
impl Db {
    /// Whether the demo data was loaded into this database once.
    pub fn demo_loaded_blocking(&self) -> Result<bool> {
        self.write_blocking(demo::is_loaded)
    }

    /// Inserts whatever part of the demo dataset is missing.
    pub fn load_demo_blocking(&self) -> Result<demo::Report> {
        self.write_blocking(demo::insert_missing)
    }
}
