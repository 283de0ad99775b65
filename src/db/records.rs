//! What storage hands back: plain records of people, conversations, messages, groups and
//! attachments, as one viewer sees them. How the API prints them (field names on the wire,
//! `file_url`, the OpenAPI schemas) is `views.rs`'s business, not storage's. Kept apart from
//! the modules that read and write them so that `events.rs` can name them without a circle.

use std::sync::Arc;

/// A person as the viewer's address book shows them.
#[derive(Debug, Clone)]
pub struct Contact {
    pub id: String,
    pub username: String,
    pub phone_number: String,
    pub avatar_url: Option<String>,
    pub display_name: Option<String>,
    pub conversation_id: Option<String>,
    pub last_active_at: Option<i64>,
    /// When the viewer added them (for someone outside the address book: when the person was
    /// first known to the server).
    pub created_at: i64,
}

/// A person's public profile, as embedded in a message (`message.contact`).
#[derive(Debug, Clone)]
pub struct Profile {
    pub id: String,
    pub username: String,
    pub phone_number: String,
    pub avatar_url: Option<String>,
    pub last_active_at: Option<i64>,
    pub created_at: i64,
}

/// A conversation as one participant sees it.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: String,
    pub contact_id: Option<String>,
    pub group_id: Option<String>,
    pub pinned_message_id: Option<String>,
    pub is_pinned: bool,
    pub is_muted: bool,
    pub last_active_at: Option<i64>,
    pub last_opened_at: Option<i64>,
    pub created_at: i64,
    pub archived_at: Option<i64>,
}

/// A group with its members, as one member sees them.
#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub avatar_url: Option<String>,
    pub conversation_id: String,
    pub contacts: Vec<Contact>,
    pub created_at: i64,
    pub archived_at: Option<i64>,
}

/// A group as its events show it: what every member sees alike. Member objects differ from one
/// member to the next (your own names for people), and copying all of them into an event for
/// each member made a change of a large group cost members² bytes; an event names who joined
/// (`contacts_added`: everyone, when the group is created) and who left instead, so its size
/// follows the change. `GET /v1/groups/:id` (or `/contacts`) has the members.
#[derive(Debug)]
pub struct GroupEvent<'a> {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub avatar_url: Option<String>,
    pub conversation_id: String,
    pub created_at: i64,
    pub archived_at: Option<i64>,
    pub contacts_added: &'a [String],
    pub contacts_removed: &'a [String],
}

/// An attachment's record. Its `file_url` is the API's to build: where the server is reached
/// is no business of storage.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub id: String,
    pub message_id: Option<String>,
    pub filename: String,
    pub file_type: String,
    pub file_size: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    /// The sender's profile, shared by that sender's messages of one page (a page's senders
    /// are few: each is read, and printed, once).
    pub contact: Arc<Profile>,
    pub message: String,
    /// In order of first use.
    pub reactions: Vec<Reaction>,
    pub attachments: Vec<Attachment>,
    pub read_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

/// One emoji and who reacted with it, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub emoji: String,
    pub usernames: Vec<String>,
}
