//! What the API prints: the response type of each resource (and so its OpenAPI schema), made
//! from storage's records (`db/records.rs`). Where the server is reached (`public_url`, the
//! base of `file_url`) is known here, not in storage.
//!
//! Events carry the same objects. Storage records an event in the transaction of its change,
//! so it asks `Views` (as `db::events::Render`) for the payload's JSON: an event's body and the
//! API's answer are the same shape by construction.

use crate::db::events::{Payload, Render};
use crate::db::records;
use crate::pagination::List;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Contact {
    pub id: String,
    pub username: String,
    pub phone_number: String,
    pub avatar_url: Option<String>,
    pub display_name: Option<String>,
    pub conversation_id: Option<String>,
    pub last_active_at: Option<i64>,
    /// When you added them (for someone outside your address book: when the person was first
    /// known to the server).
    pub created_at: i64,
}

/// A person's public profile, as embedded in a message (`message.contact`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub phone_number: &'a str,
    pub avatar_url: Option<&'a str>,
    pub last_active_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
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

#[derive(Debug, Clone, Serialize, ToSchema)]
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

/// A group's event payload: the group without its members, and who joined and left (see
/// `records::GroupEvent`).
#[derive(Serialize)]
struct GroupEvent<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a Option<String>,
    avatar_url: &'a Option<String>,
    conversation_id: &'a str,
    created_at: i64,
    archived_at: Option<i64>,
    contacts_added: &'a [String],
    contacts_removed: &'a [String],
}

// Messages and attachments are printed straight from their records (borrowed: the hottest
// paths, a send and a page of messages, copy no string to print it).
#[derive(Debug, Serialize, ToSchema)]
pub struct Attachment<'a> {
    pub id: &'a str,
    pub message_id: Option<&'a str>,
    pub filename: &'a str,
    /// `{public_url}/v1/attachments/{id}/content`.
    pub file_url: String,
    pub file_type: &'a str,
    pub file_size: i64,
    pub created_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Message<'a> {
    pub id: &'a str,
    pub conversation_id: &'a str,
    /// The sender's profile.
    pub contact: Profile<'a>,
    pub message: &'a str,
    /// One object per emoji, in order of first use: `{"EMOJI": ["username", …]}`.
    #[schema(value_type = Vec<HashMap<String, Vec<String>>>)]
    #[serde(serialize_with = "reactions")]
    pub reactions: &'a [records::Reaction],
    pub attachments: Vec<Attachment<'a>>,
    pub read_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

/// Messages as JSON, written by hand (`crate::json`): the text serde_json prints for them
/// (tested against it), without serde's steps per field and per string, which were a sixth of
/// the instructions of a page of messages. Reactions and attachments (mostly empty) go through
/// serde.
pub mod message_json {
    use super::{Message, Profile, Reactions};
    use crate::json::{integer, string};
    use crate::pagination::List;
    use std::ops::Range;

    /// Where in the output each sender's profile was printed, by the sender's record: a page's
    /// senders are few, and a repeat is copied from there.
    type Printed<'a> = Vec<(&'a str, Range<usize>)>;

    /// `{"has_more":…,"data":[…]}`.
    pub fn page<'a>(page: &List<Message<'a>>) -> serde_json::Result<Vec<u8>> {
        // Room for a page of ten messages (about 3.5 KiB) without growing.
        let mut out = Vec::with_capacity(512 + 400 * page.data.len());
        out.extend_from_slice(if page.has_more {
            b"{\"has_more\":true,\"data\":["
        } else {
            b"{\"has_more\":false,\"data\":["
        });
        let mut printed = Printed::new();
        for (n, message) in page.data.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_with(&mut out, message, &mut printed)?;
        }
        out.extend_from_slice(b"]}");
        Ok(out)
    }

    /// One message.
    pub fn one(message: &Message<'_>) -> serde_json::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(512);
        write(&mut out, message)?;
        Ok(out)
    }

    /// A sender's profile, as `Profile` prints it.
    fn profile(out: &mut Vec<u8>, p: &Profile<'_>) -> serde_json::Result<()> {
        out.extend_from_slice(b"{\"id\":");
        string(out, p.id)?;
        out.extend_from_slice(b",\"username\":");
        string(out, p.username)?;
        out.extend_from_slice(b",\"phone_number\":");
        string(out, p.phone_number)?;
        out.extend_from_slice(b",\"avatar_url\":");
        match p.avatar_url {
            Some(url) => string(out, url)?,
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"last_active_at\":");
        integer(out, p.last_active_at);
        out.extend_from_slice(b",\"created_at\":");
        integer(out, Some(p.created_at));
        out.push(b'}');
        Ok(())
    }

    /// One message, appended to `out`.
    pub fn write(out: &mut Vec<u8>, m: &Message<'_>) -> serde_json::Result<()> {
        write_with(out, m, &mut Printed::new())
    }

    fn write_with<'a>(
        out: &mut Vec<u8>,
        m: &Message<'a>,
        printed: &mut Printed<'a>,
    ) -> serde_json::Result<()> {
        out.extend_from_slice(b"{\"id\":");
        string(out, m.id)?;
        out.extend_from_slice(b",\"conversation_id\":");
        string(out, m.conversation_id)?;
        out.extend_from_slice(b",\"contact\":");
        let sender = m.contact.id;
        // The same record, not merely the same id: records of one sender share an `Arc`.
        match printed.iter().find(|(id, _)| std::ptr::eq(*id, sender)) {
            Some((_, at)) => out.extend_from_within(at.clone()),
            None => {
                let start = out.len();
                profile(out, &m.contact)?;
                printed.push((sender, start..out.len()));
            }
        }
        out.extend_from_slice(b",\"message\":");
        string(out, m.message)?;
        out.extend_from_slice(b",\"reactions\":");
        if m.reactions.is_empty() {
            out.extend_from_slice(b"[]");
        } else {
            serde_json::to_writer(&mut *out, &Reactions(m.reactions))?;
        }
        out.extend_from_slice(b",\"attachments\":");
        if m.attachments.is_empty() {
            out.extend_from_slice(b"[]");
        } else {
            serde_json::to_writer(&mut *out, &m.attachments)?;
        }
        out.extend_from_slice(b",\"read_at\":");
        integer(out, m.read_at);
        out.extend_from_slice(b",\"created_at\":");
        integer(out, Some(m.created_at));
        out.extend_from_slice(b",\"updated_at\":");
        integer(out, m.updated_at);
        out.push(b'}');
        Ok(())
    }
}

/// `reactions` for serde: `[{"EMOJI": ["username", …]}, …]`.
struct Reactions<'a>(&'a [records::Reaction]);

impl Serialize for Reactions<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        reactions(self.0, serializer)
    }
}

/// Reactions as `[{"EMOJI": ["username", …]}, …]`.
fn reactions<S: Serializer>(list: &[records::Reaction], serializer: S) -> Result<S::Ok, S::Error> {
    struct One<'a>(&'a records::Reaction);
    impl Serialize for One<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry(&self.0.emoji, &self.0.usernames)?;
            map.end()
        }
    }
    let mut seq = serializer.serialize_seq(Some(list.len()))?;
    for reaction in list {
        seq.serialize_element(&One(reaction))?;
    }
    seq.end()
}

impl From<records::Contact> for Contact {
    fn from(c: records::Contact) -> Contact {
        Contact {
            id: c.id,
            username: c.username,
            phone_number: c.phone_number,
            avatar_url: c.avatar_url,
            display_name: c.display_name,
            conversation_id: c.conversation_id,
            last_active_at: c.last_active_at,
            created_at: c.created_at,
        }
    }
}

impl<'a> From<&'a records::Profile> for Profile<'a> {
    fn from(p: &'a records::Profile) -> Profile<'a> {
        Profile {
            id: &p.id,
            username: &p.username,
            phone_number: &p.phone_number,
            avatar_url: p.avatar_url.as_deref(),
            last_active_at: p.last_active_at,
            created_at: p.created_at,
        }
    }
}

impl From<records::Conversation> for Conversation {
    fn from(c: records::Conversation) -> Conversation {
        Conversation {
            id: c.id,
            contact_id: c.contact_id,
            group_id: c.group_id,
            pinned_message_id: c.pinned_message_id,
            is_pinned: c.is_pinned,
            is_muted: c.is_muted,
            last_active_at: c.last_active_at,
            last_opened_at: c.last_opened_at,
            created_at: c.created_at,
            archived_at: c.archived_at,
        }
    }
}

impl From<records::Group> for Group {
    fn from(g: records::Group) -> Group {
        Group {
            id: g.id,
            name: g.name,
            description: g.description,
            avatar_url: g.avatar_url,
            conversation_id: g.conversation_id,
            contacts: g.contacts.into_iter().map(Contact::from).collect(),
            created_at: g.created_at,
            archived_at: g.archived_at,
        }
    }
}

/// Any page of records, as the page of their views.
pub fn list<R, V: From<R>>(page: List<R>) -> List<V> {
    List {
        has_more: page.has_more,
        data: page.data.into_iter().map(V::from).collect(),
    }
}

/// Turns records into what the API prints; knows the server's public address.
pub struct Views {
    /// Without a trailing slash.
    public_url: String,
}

impl Views {
    pub fn new(public_url: &str) -> Views {
        Views {
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    pub fn attachment<'a>(&self, a: &'a records::Attachment) -> Attachment<'a> {
        Attachment {
            id: &a.id,
            message_id: a.message_id.as_deref(),
            filename: &a.filename,
            file_url: format!("{}/v1/attachments/{}/content", self.public_url, a.id),
            file_type: &a.file_type,
            file_size: a.file_size,
            created_at: a.created_at,
        }
    }

    pub fn attachments<'a>(&self, page: &'a List<records::Attachment>) -> List<Attachment<'a>> {
        List {
            has_more: page.has_more,
            data: page.data.iter().map(|a| self.attachment(a)).collect(),
        }
    }

    pub fn messages<'a>(&self, page: &'a List<records::Message>) -> List<Message<'a>> {
        List {
            has_more: page.has_more,
            data: page.data.iter().map(|m| self.message(m)).collect(),
        }
    }

    pub fn message<'a>(&self, m: &'a records::Message) -> Message<'a> {
        Message {
            id: &m.id,
            conversation_id: &m.conversation_id,
            contact: Profile::from(&*m.contact),
            message: &m.message,
            reactions: &m.reactions,
            attachments: m.attachments.iter().map(|a| self.attachment(a)).collect(),
            read_at: m.read_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl Render for Views {
    fn payload(&self, payload: Payload<'_>, out: &mut Vec<u8>) -> serde_json::Result<()> {
        match payload {
            Payload::Contact(c) => serde_json::to_writer(out, &Contact::from(c.clone())),
            Payload::Conversation(c) => serde_json::to_writer(out, &Conversation::from(c.clone())),
            Payload::Message(m) => message_json::write(out, &self.message(m)),
            Payload::Attachment(a) => serde_json::to_writer(out, &self.attachment(a)),
            Payload::Group(g) => serde_json::to_writer(
                out,
                &GroupEvent {
                    id: &g.id,
                    name: &g.name,
                    description: &g.description,
                    avatar_url: &g.avatar_url,
                    conversation_id: &g.conversation_id,
                    created_at: g.created_at,
                    archived_at: g.archived_at,
                    contacts_added: g.contacts_added,
                    contacts_removed: g.contacts_removed,
                },
            ),
            #[cfg(test)]
            Payload::Text(text) => serde_json::to_writer(out, text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    fn text() -> impl Strategy<Value = String> {
        // Plain text, and text with what JSON escapes: quotes, backslashes, control characters.
        prop_oneof![
            "[a-zA-Z0-9 ]{0,12}",
            any::<String>(),
            "[\"\\\\\u{0}-\u{1f}\u{7f}é😀a]{0,8}",
        ]
    }

    fn message() -> impl Strategy<Value = records::Message> {
        let reaction = (text(), proptest::collection::vec(text(), 1..3))
            .prop_map(|(emoji, usernames)| records::Reaction { emoji, usernames });
        let attachment = (text(), any::<i64>()).prop_map(|(filename, size)| records::Attachment {
            id: "Nc6yKKMpcxiiFxp6".to_owned(),
            message_id: Some("SIuAFUNKdSYHZF2w".to_owned()),
            filename,
            file_type: "text/plain".to_owned(),
            file_size: size,
            created_at: 1,
        });
        (
            (text(), text(), text(), text(), proptest::option::of(text())),
            proptest::collection::vec(reaction, 0..2),
            proptest::collection::vec(attachment, 0..2),
            (
                proptest::option::of(any::<i64>()),
                any::<i64>(),
                proptest::option::of(any::<i64>()),
            ),
        )
            .prop_map(
                |((id, body, username, phone, avatar), reactions, attachments, times)| {
                    records::Message {
                        id: id.clone(),
                        conversation_id: format!("c{id}"),
                        contact: Arc::new(records::Profile {
                            id: "VcSJf8eI1xugKCPM".to_owned(),
                            username,
                            phone_number: phone,
                            avatar_url: avatar,
                            last_active_at: times.0,
                            created_at: times.1,
                        }),
                        message: body,
                        reactions,
                        attachments,
                        read_at: times.0,
                        created_at: times.1,
                        updated_at: times.2,
                    }
                },
            )
    }

    proptest! {
        /// The hand-written JSON of messages is serde_json's, byte for byte.
        #[test]
        fn message_json_is_what_serde_prints(
            mut messages in proptest::collection::vec(message(), 0..4),
            same_sender in proptest::collection::vec(any::<bool>(), 4),
            has_more in any::<bool>(),
        ) {
            // Some messages by the first one's sender (sharing its record, as a page does).
            for (n, same) in same_sender.iter().enumerate().skip(1) {
                if *same && n < messages.len() {
                    messages[n].contact = Arc::clone(&messages[0].contact);
                }
            }
            let views = Views::new("https://chat.example.com/");
            let records = List { has_more, data: messages };
            let page = views.messages(&records);
            prop_assert_eq!(
                String::from_utf8(message_json::page(&page).unwrap()).unwrap(),
                serde_json::to_string(&page).unwrap()
            );
            for message in &page.data {
                prop_assert_eq!(
                    String::from_utf8(message_json::one(message).unwrap()).unwrap(),
                    serde_json::to_string(message).unwrap()
                );
            }
        }
    }
}
