//! JSON written by hand where serde's steps per field and per string are most of the work (a
//! page of messages, an event's body): key runs are copied at once, and strings that need no
//! escaping (ids, most text) are copied as they are. What needs escaping is left to serde_json,
//! so the text is always what serde_json would print.

/// `s` as a JSON string.
pub fn string(out: &mut Vec<u8>, s: &str) -> serde_json::Result<()> {
    // No early exit, so that the check runs over whole words at a time.
    let plain = s.bytes().fold(true, |plain, b| {
        plain & (b >= 0x20 && b != b'"' && b != b'\\')
    });
    if plain {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(&mut *out, s)
    }
}

/// An integer, or `null`.
pub fn integer(out: &mut Vec<u8>, value: Option<i64>) {
    match value {
        Some(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
}
