//! The demo dataset: the McCallister family of the public Protocol docs, with the docs' own ids
//! (`xgQQXg3hrtjh7AvZ`, `SIuAFUNKdSYHZF2w`, `WAz8eIbvDR60rouK`, ...) so that the docs' curl
//! examples work against a local server.
//!
//! Loading is idempotent (`db::demo` inserts only what is missing). `demo_data = true` loads
//! it once per database, so what you delete while trying the API stays deleted across
//! restarts; `protocol seed-demo` loads whatever is missing again.
//!
//! Where the docs contradict themselves (README, "How this server differs from the docs"), one
//! reading was chosen: `WAz8eIbvDR60rouK` is Kevin (the message pages) rather than Frank (the
//! contact pages); the group is `L7cGNIBKZiNJ6wqF` as the curl examples spell it; the person
//! "you" are in the docs' conversation `xgQQXg3hrtjh7AvZ` is Kate, Kevin's mother.

use crate::config::Config;
use crate::db::{self, Db};
use crate::files::FileStore;
use std::io::Write;

pub use crate::db::demo::Report;

/// When the docs' examples happen (Unix seconds in December 1991 and May 1992).
pub(crate) const CREATED: i64 = 692_233_200;
pub(crate) const LAST_ACTIVE: i64 = 705_103_200;
pub(crate) const AVATARS: &str = "https://assets.protocol.chat/avatars";

pub(crate) struct Person {
    pub(crate) id: &'static str,
    pub(crate) username: &'static str,
    pub(crate) phone_number: &'static str,
    pub(crate) avatar: &'static str,
    /// Only the family were active; the hotel staff never used the API.
    pub(crate) active: bool,
}

pub(crate) const PEOPLE: &[Person] = &[
    person(
        "WAz8eIbvDR60rouK",
        "KevinMcCallister",
        "1-800-759-3000",
        "buzzboy.jpg",
        true,
    ),
    person(
        "heb4q2y7OcIgculK",
        "KateMcCallister",
        "1-800-759-3001",
        "kate.jpg",
        true,
    ),
    person(
        "O5E0lIrSjuYpdWAb",
        "PeterMcCallister",
        "1-800-759-3002",
        "peter.jpg",
        true,
    ),
    person(
        "inEIRvzjC6YLMX3o",
        "LinnieMcCallister",
        "1-800-759-3000",
        "linnie.jpg",
        true,
    ),
    person(
        "BQwDRqzIUVqVuEMg",
        "FrankMcCallister",
        "1-800-759-3000",
        "frank.jpg",
        true,
    ),
    person(
        "ogllgH7VpNMuKLLW",
        "Hector",
        "1-212-759-3000",
        "hector.jpg",
        false,
    ),
    person(
        "19RUFkYcLQju72cQ",
        "Cedric",
        "1-212-759-3000",
        "cedric.jpg",
        false,
    ),
    person(
        "wKcW9ZpLCfEspDRc",
        "Hester",
        "1-212-759-3000",
        "hester.jpg",
        false,
    ),
    person(
        "5wuv8qDC5zI2QwyL",
        "Cliff",
        "1-212-759-3000",
        "cliff.jpg",
        false,
    ),
];

const fn person(
    id: &'static str,
    username: &'static str,
    phone_number: &'static str,
    avatar: &'static str,
    active: bool,
) -> Person {
    Person {
        id,
        username,
        phone_number,
        avatar,
        active,
    }
}

/// Address books: (owner, contact), oldest first (lists show the newest first, so Kate's
/// starts with Kevin, as in the docs). Frank is in nobody's but Peter's, so the docs' "create
/// a contact" example adds him to Kate's.
pub(crate) const ADDRESS_BOOKS: &[(&str, &str)] = &[
    ("KateMcCallister", "PeterMcCallister"),
    ("KateMcCallister", "LinnieMcCallister"),
    ("KateMcCallister", "Hector"),
    ("KateMcCallister", "Cedric"),
    ("KateMcCallister", "Hester"),
    ("KateMcCallister", "Cliff"),
    ("KateMcCallister", "KevinMcCallister"),
    ("KevinMcCallister", "PeterMcCallister"),
    ("KevinMcCallister", "KateMcCallister"),
    ("PeterMcCallister", "FrankMcCallister"),
    ("PeterMcCallister", "KevinMcCallister"),
    ("PeterMcCallister", "KateMcCallister"),
];

pub(crate) const GROUP_ID: &str = "L7cGNIBKZiNJ6wqF";
pub(crate) const GROUP_OWNER: &str = "KateMcCallister";
pub(crate) const GROUP_MEMBERS: &[&str] =
    &["Hector", "Cedric", "Hester", "Cliff", "KevinMcCallister"];

pub(crate) enum Between {
    Direct(&'static str, &'static str),
    Group,
}

/// Oldest first: the last one is the most recently active, first in every list.
pub(crate) const CONVERSATIONS: &[(&str, Between, i64)] = &[
    ("ZYjVAbCE9g5XRlra", Between::Group, CREATED - 10_800),
    (
        "4bYmCfeZVtL8rnGq",
        Between::Direct("KateMcCallister", "PeterMcCallister"),
        CREATED - 7_200,
    ),
    (
        "xgQQXg3hrtjh7AvZ",
        Between::Direct("KateMcCallister", "KevinMcCallister"),
        CREATED - 3_600,
    ),
];

/// (id, conversation, sender, text, created_at), in the order they were sent. The newest is
/// the docs' `SIuAFUNKdSYHZF2w`, at the top of the docs' list example.
pub(crate) const MESSAGES: &[(&str, &str, &str, &str, i64)] = &[
    (
        "L5qvSkdkTcDDbtlH",
        "ZYjVAbCE9g5XRlra",
        "Hector",
        "Welcome to the Plaza Hotel. How may we help you?",
        CREATED - 10_800,
    ),
    (
        "e3ywY6RFJUAUauy4",
        "ZYjVAbCE9g5XRlra",
        "KevinMcCallister",
        "One cheese pizza to room 411, please. And the biggest ice cream sundae you have.",
        CREATED - 10_200,
    ),
    (
        "hIo6zTz0hb4t6N4F",
        "ZYjVAbCE9g5XRlra",
        "Cedric",
        "Right away, sir.",
        CREATED - 9_600,
    ),
    (
        "t85kzuzYyjGSPu3N",
        "4bYmCfeZVtL8rnGq",
        "PeterMcCallister",
        "Any news from Kevin?",
        CREATED - 7_200,
    ),
    (
        "QGVl10AE2gtMJvIg",
        "4bYmCfeZVtL8rnGq",
        "KateMcCallister",
        "He is in New York. At the Plaza. On your credit card.",
        CREATED - 6_600,
    ),
    (
        "ZNsH22yp00ubODYZ",
        "xgQQXg3hrtjh7AvZ",
        "KateMcCallister",
        "Kevin, where are you? We landed in Miami and you were not with us.",
        CREATED - 3_600,
    ),
    (
        "7s9R8sU1U5OjwzE2",
        "xgQQXg3hrtjh7AvZ",
        "KevinMcCallister",
        "I'm traveling with my dad. He's at a meeting. I hate meetings.",
        CREATED - 3_000,
    ),
    (
        "LoPsJaMcPBuFNjg1",
        "xgQQXg3hrtjh7AvZ",
        "KateMcCallister",
        "The Plaza sent me this. Room service?!",
        CREATED - 1_800,
    ),
    (
        "8GCGOBCqZucpMzXW",
        "xgQQXg3hrtjh7AvZ",
        "KevinMcCallister",
        "I'm not apologizing. I'd rather kiss a toilet seat.",
        CREATED - 1_200,
    ),
    (
        "hSIhXBhNe8X1d8Et",
        "xgQQXg3hrtjh7AvZ",
        "KateMcCallister",
        "Stay right where you are. I'm on the next flight to New York.",
        CREATED - 600,
    ),
    (
        "SIuAFUNKdSYHZF2w",
        "xgQQXg3hrtjh7AvZ",
        "KevinMcCallister",
        "It's a nice night for a neck injury.",
        CREATED,
    ),
];

/// (message, emoji, who). The docs' update example adds Kate's red_angry_face to
/// `SIuAFUNKdSYHZF2w`, so that one starts without reactions.
pub(crate) const REACTIONS: &[(&str, &str, &str)] = &[
    ("e3ywY6RFJUAUauy4", "money_with_wings", "KateMcCallister"),
    ("QGVl10AE2gtMJvIg", "scream", "PeterMcCallister"),
    (
        "8GCGOBCqZucpMzXW",
        "face_with_rolling_eyes",
        "KateMcCallister",
    ),
    ("hSIhXBhNe8X1d8Et", "+1", "KevinMcCallister"),
];

pub(crate) const ATTACHMENT_ID: &str = "Nc6yKKMpcxiiFxp6";
pub(crate) const ATTACHMENT_MESSAGE: &str = "LoPsJaMcPBuFNjg1";
pub(crate) const ATTACHMENT_UPLOADER: &str = "KateMcCallister";
pub(crate) const ATTACHMENT_NAME: &str = "Invoice_room_service__Plaza_Hotel.pdf";
/// The docs' size for it; the generated invoice is padded to exactly this.
pub(crate) const ATTACHMENT_SIZE: usize = 21_352;

/// The accounts the demo is meant to be used with, and what each is for.
pub const DEMO_ACCOUNTS: &[(&str, &str)] = &[
    (
        "KateMcCallister",
        "the docs' \"you\": most examples (the conversation xgQQXg3hrtjh7AvZ is hers with Kevin)",
    ),
    (
        "KevinMcCallister",
        "WAz8eIbvDR60rouK: the sender of SIuAFUNKdSYHZF2w (editing or deleting it)",
    ),
    ("PeterMcCallister", "Kevin's dad"),
];

/// `demo_data = true`: loads the dataset unless this database already had it loaded once.
pub fn load_once(db: &Db, files: &FileStore) -> std::result::Result<Option<Report>, String> {
    let loaded = db
        .write_blocking(db::demo::is_loaded)
        .map_err(|e| format!("cannot read the database: {e}"))?;
    if loaded {
        Ok(None)
    } else {
        load(db, files).map(Some)
    }
}

/// Inserts whatever part of the dataset is missing (`protocol seed-demo`).
pub fn load(db: &Db, files: &FileStore) -> std::result::Result<Report, String> {
    let cannot = |e: &dyn std::fmt::Display| format!("cannot load the demo data: {e}");
    // The bytes go in place before their record is committed, as an upload's do.
    if let Some(path) = files.path(ATTACHMENT_ID)
        && !path.exists()
    {
        let tmp = files.dir().join(".tmp").join(ATTACHMENT_ID);
        std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&invoice_pdf()))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| cannot(&e))?;
    }
    db.write_blocking(db::demo::insert_missing)
        .map_err(|e| cannot(&e))
}

/// Whether an account of `config` is one of the demo people, who alone see the demo data.
pub fn visible_to(config: &Config) -> bool {
    config.accounts.iter().any(|account| {
        PEOPLE
            .iter()
            .any(|p| p.username.eq_ignore_ascii_case(&account.username))
    })
}

/// An account the sign-in page offers: its token is one of the shipped examples.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoAccount {
    pub username: String,
    pub token: String,
}

/// The accounts whose token is a shipped example (public in the repository), and only while
/// `demo_data` is on. No other token is ever listed.
pub fn demo_accounts(config: &Config) -> Vec<DemoAccount> {
    if !config.server.demo_data {
        return Vec::new();
    }
    let examples = config.accounts_with_example_tokens();
    config
        .accounts
        .iter()
        .filter(|a| examples.contains(&a.username.as_str()))
        .map(|a| DemoAccount {
            username: a.username.clone(),
            token: a.token.clone(),
        })
        .collect()
}

/// The lines printed after `listening on ...` when the demo data is on: which token to use
/// for what, and a first request. Only the shipped example tokens are printed (anyone can read
/// those anyway); a real token stays in protocol.toml.
pub fn start_up_hint(config: &Config, base: &str) -> Vec<String> {
    let examples = config.accounts_with_example_tokens();
    let mut lines = vec![
        "demo data: the McCallister family of the Protocol docs (demo_data = true); tokens:"
            .to_owned(),
    ];
    let mut first_token = None;
    for (username, role) in DEMO_ACCOUNTS {
        let Some(account) = config.accounts.iter().find(|a| a.username == *username) else {
            continue;
        };
        let token = if examples.contains(username) {
            first_token.get_or_insert(account.token.clone());
            account.token.as_str()
        } else {
            "(its token in protocol.toml)"
        };
        lines.push(format!("  {username:<17} {token:<30} {role}"));
    }
    let token = first_token.unwrap_or_else(|| "TOKEN".into());
    lines.push(format!(
        "try: curl -G {base}/v1/messages -H \"Authorization: Bearer {token}\" \
         -d conversation_id=xgQQXg3hrtjh7AvZ -d limit=10"
    ));
    lines
}

/// A one-page PDF invoice, padded (inside its content stream) to exactly `ATTACHMENT_SIZE`
/// bytes so `file_size` matches the docs.
pub fn invoice_pdf() -> Vec<u8> {
    let text = "BT /F1 20 Tf 72 720 Td (The Plaza Hotel) Tj ET\n\
                BT /F1 12 Tf 72 690 Td (Room service, room 411: Kevin McCallister) Tj ET\n\
                BT /F1 12 Tf 72 670 Td (Total charged to Peter McCallister: $967.43) Tj ET\n";
    let mut padding = ATTACHMENT_SIZE.saturating_sub(build_pdf(text, 0).len());
    loop {
        let pdf = build_pdf(text, padding);
        match pdf.len().cmp(&ATTACHMENT_SIZE) {
            std::cmp::Ordering::Equal => return pdf,
            // The stream length gained a digit: take one byte of padding back.
            std::cmp::Ordering::Greater if padding > 0 => padding -= 1,
            _ => return pdf,
        }
    }
}

fn build_pdf(text: &str, padding: usize) -> Vec<u8> {
    let content = format!("{text}{}\n", " ".repeat(padding));
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invoice_has_the_docs_size_and_is_a_pdf() {
        let pdf = invoice_pdf();
        assert_eq!(pdf.len(), ATTACHMENT_SIZE);
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
    }

    #[test]
    fn every_id_has_the_id_shape_and_is_used_once() {
        let mut all: Vec<&str> = PEOPLE.iter().map(|p| p.id).collect();
        all.extend(CONVERSATIONS.iter().map(|c| c.0));
        all.extend(MESSAGES.iter().map(|m| m.0));
        all.extend([GROUP_ID, ATTACHMENT_ID]);
        for id in &all {
            assert!(db::ids::is_id(id), "{id}");
        }
        let unique: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
    }

    #[test]
    fn emoji_names_follow_the_rules() {
        for (_, emoji, _) in REACTIONS {
            assert!(crate::rules::emoji(emoji).is_ok(), "{emoji}");
        }
    }
}
