//! The demo dataset itself: the McCallister family of the public Protocol docs, with the docs'
//! own ids, and the invoice PDF its one attachment carries. Plain data: `db::demo` writes it,
//! `demo` (the parent) loads and describes it.

/// When the docs' examples happen (Unix seconds in December 1991 and May 1992).
pub const CREATED: i64 = 692_233_200;
pub const LAST_ACTIVE: i64 = 705_103_200;
pub const AVATARS: &str = "https://assets.protocol.chat/avatars";

pub struct Person {
    pub id: &'static str,
    pub username: &'static str,
    pub phone_number: &'static str,
    pub avatar: &'static str,
    /// Only the family were active; the hotel staff never used the API.
    pub active: bool,
}

pub const PEOPLE: &[Person] = &[
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
pub const ADDRESS_BOOKS: &[(&str, &str)] = &[
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

pub const GROUP_ID: &str = "L7cGNIBKZiNJ6wqF";
pub const GROUP_OWNER: &str = "KateMcCallister";
pub const GROUP_MEMBERS: &[&str] = &["Hector", "Cedric", "Hester", "Cliff", "KevinMcCallister"];

pub enum Between {
    Direct(&'static str, &'static str),
    Group,
}

/// Oldest first: the last one is the most recently active, first in every list.
pub const CONVERSATIONS: &[(&str, Between, i64)] = &[
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
pub const MESSAGES: &[(&str, &str, &str, &str, i64)] = &[
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
pub const REACTIONS: &[(&str, &str, &str)] = &[
    ("e3ywY6RFJUAUauy4", "money_with_wings", "KateMcCallister"),
    ("QGVl10AE2gtMJvIg", "scream", "PeterMcCallister"),
    (
        "8GCGOBCqZucpMzXW",
        "face_with_rolling_eyes",
        "KateMcCallister",
    ),
    ("hSIhXBhNe8X1d8Et", "+1", "KevinMcCallister"),
];

pub const ATTACHMENT_ID: &str = "Nc6yKKMpcxiiFxp6";
pub const ATTACHMENT_MESSAGE: &str = "LoPsJaMcPBuFNjg1";
pub const ATTACHMENT_UPLOADER: &str = "KateMcCallister";
pub const ATTACHMENT_NAME: &str = "Invoice_room_service__Plaza_Hotel.pdf";
/// The docs' size for it; the generated invoice is padded to exactly this.
pub const ATTACHMENT_SIZE: usize = 21_352;

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
            assert!(crate::db::ids::is_id(id), "{id}");
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
