//! Rules for the values people give the server, shared by the API and the config file.
//! Each returns a sentence a person can act on, or `Ok`.

pub const MAX_USERNAME_CHARS: usize = 64;
pub const MAX_PHONE_CHARS: usize = 32;
pub const MAX_URL_CHARS: usize = 2048;
pub const MAX_DISPLAY_NAME_CHARS: usize = 128;
pub const MAX_GROUP_NAME_CHARS: usize = 128;
pub const MAX_DESCRIPTION_CHARS: usize = 2048;
pub const MAX_EMOJI_CHARS: usize = 64;
pub const MAX_FILENAME_CHARS: usize = 255;
/// The largest timestamp accepted: 9999-12-31T23:59:59Z.
pub const MAX_TIMESTAMP: i64 = 253_402_300_799;

type Rule = Result<(), String>;

/// Usernames are ASCII letters, digits, `_`, `.` and `-`, and compare without regard to case:
/// no two people can have names that look alike (`bob`, `BOB`, or `bоb` with a Cyrillic `о`).
pub fn username(value: &str) -> Rule {
    if value.is_empty() || value.len() > MAX_USERNAME_CHARS {
        return Err(format!(
            "username must be 1 to {MAX_USERNAME_CHARS} characters."
        ));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(
            "username may contain only the ASCII letters A-Z and a-z, digits, '_', '.' and '-'."
                .into(),
        );
    }
    Ok(())
}

/// The form usernames are compared in.
pub fn username_key(value: &str) -> String {
    value.to_ascii_lowercase()
}

/// Characters that change how text around them is shown without being seen: bidirectional
/// controls (a right-to-left override before `gnp.exe` makes it show as `exe.png`) and invisible
/// format characters. Zero-width joiners stay: emoji sequences and several scripts need them.
pub fn is_invisible_control(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180E}' | '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{3164}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

/// A name people see beside others' (a display name, a group name): `text`, and no
/// bidirectional or invisible control characters.
pub fn name(param: &str, value: &str, min: usize, max: usize) -> Rule {
    text(param, value, min, max)?;
    if value.chars().any(is_invisible_control) {
        return Err(format!(
            "{param} must not contain invisible or text-direction control characters."
        ));
    }
    Ok(())
}

pub fn phone_number(value: &str) -> Rule {
    let len = value.chars().count();
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')' | '.');
    if len == 0
        || len > MAX_PHONE_CHARS
        || !value.chars().all(allowed)
        || !value.chars().any(|c| c.is_ascii_digit())
    {
        return Err(format!(
            "phone_number must be 1 to {MAX_PHONE_CHARS} characters of digits, spaces and '+-().'."
        ));
    }
    Ok(())
}

pub fn url(param: &str, value: &str) -> Rule {
    let scheme_ok = value.starts_with("https://") || value.starts_with("http://");
    if !scheme_ok
        || value.chars().count() > MAX_URL_CHARS
        || value.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(format!(
            "{param} must be an http:// or https:// URL of at most {MAX_URL_CHARS} characters."
        ));
    }
    Ok(())
}

/// A single line of text of at most `max` characters (names, descriptions).
pub fn text(param: &str, value: &str, min: usize, max: usize) -> Rule {
    let len = value.trim().chars().count();
    if len < min || value.chars().count() > max {
        return Err(if min > 0 {
            format!("{param} must be {min} to {max} characters.")
        } else {
            format!("{param} must be at most {max} characters.")
        });
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(format!("{param} must not contain control characters."));
    }
    Ok(())
}

pub fn emoji(value: &str) -> Rule {
    let ok = !value.is_empty()
        && value.len() <= MAX_EMOJI_CHARS
        && value.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'+' | b'-')
        });
    if !ok {
        return Err(format!(
            "reaction names are 1 to {MAX_EMOJI_CHARS} characters of a-z, 0-9, '_', '+' and '-'."
        ));
    }
    Ok(())
}

pub fn timestamp(param: &str, value: i64) -> Rule {
    if !(0..=MAX_TIMESTAMP).contains(&value) {
        return Err(format!(
            "{param} must be a Unix time in seconds between 0 and {MAX_TIMESTAMP}."
        ));
    }
    Ok(())
}

/// A filename given by `PUT /v1/attachments/:id`: a plain name, never a path.
pub fn filename(value: &str) -> Rule {
    if value.trim().is_empty() || value.chars().count() > MAX_FILENAME_CHARS {
        return Err(format!(
            "filename must be 1 to {MAX_FILENAME_CHARS} characters."
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() || is_invisible_control(c) || c == '/' || c == '\\')
        || value == "."
        || value == ".."
    {
        return Err(
            "filename must be a plain name: no slashes, backslashes, control characters or \
             invisible text-direction characters."
                .into(),
        );
    }
    Ok(())
}

/// The filename an upload declares, made safe to store and to send back: the last path
/// component, without control characters, at most `MAX_FILENAME_CHARS` characters (the
/// extension kept), and `file` when nothing is left. It is only ever metadata: the bytes are
/// stored under the attachment's id.
pub fn upload_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_invisible_control(*c))
        .collect();
    let clean = clean.trim();
    if clean.is_empty() || clean.chars().all(|c| c == '.') {
        return "file".into();
    }
    if clean.chars().count() <= MAX_FILENAME_CHARS {
        return clean.to_owned();
    }
    let extension: String = match clean.rsplit_once('.') {
        Some((_, ext)) if ext.chars().count() <= 16 => format!(".{ext}"),
        _ => String::new(),
    };
    let keep = MAX_FILENAME_CHARS - extension.chars().count();
    clean.chars().take(keep).collect::<String>() + &extension
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(username("KevinMcCallister").is_ok());
        assert!(username("kate.mc-callister_2").is_ok());
        assert!(username("").is_err());
        assert!(username("a b").is_err());
        assert!(username("../x").is_err());
        assert!(username(&"a".repeat(65)).is_err());
        // Look-alikes of ASCII names are refused; case is folded for comparison.
        assert!(username("b\u{043E}b").is_err());
        assert!(username("Zo\u{00EB}").is_err());
        assert_eq!(username_key("BoB"), username_key("bob"));
    }

    #[test]
    fn names_refuse_direction_tricks() {
        assert!(name("display_name", "Kate", 0, 128).is_ok());
        assert!(name("display_name", "\u{05D3}\u{05E0}\u{05D4}", 0, 128).is_ok());
        assert!(name("display_name", "family \u{1F468}\u{200D}\u{1F469}", 0, 128).is_ok());
        assert!(name("display_name", "\u{202E}gnp.exe", 0, 128).is_err());
        assert!(name("display_name", "a\u{200B}b", 0, 128).is_err());
        assert_eq!(upload_filename("\u{202E}gnp.exe"), "gnp.exe");
        assert!(filename("\u{202E}gnp.exe").is_err());
    }

    #[test]
    fn phone_numbers() {
        assert!(phone_number("1-800-759-3000").is_ok());
        assert!(phone_number("+44 (20) 7946.0958").is_ok());
        assert!(phone_number("---").is_err());
        assert!(phone_number("555 CALL").is_err());
    }

    #[test]
    fn emojis() {
        assert!(emoji("red_angry_face").is_ok());
        assert!(emoji("+1").is_ok());
        assert!(emoji("Red").is_err());
        assert!(emoji("a b").is_err());
        assert!(emoji("'; DROP TABLE messages;--").is_err());
        assert!(emoji(&"a".repeat(65)).is_err());
    }

    #[test]
    fn timestamps() {
        assert!(timestamp("t", 0).is_ok());
        assert!(timestamp("t", MAX_TIMESTAMP).is_ok());
        assert!(timestamp("t", -1).is_err());
        assert!(timestamp("t", MAX_TIMESTAMP + 1).is_err());
    }

    #[test]
    fn upload_filenames_are_never_paths() {
        assert_eq!(upload_filename("../../etc/passwd"), "passwd");
        assert_eq!(upload_filename("C:\\Users\\x\\report.pdf"), "report.pdf");
        assert_eq!(upload_filename("a\0b.txt"), "ab.txt");
        assert_eq!(upload_filename(".."), "file");
        assert_eq!(upload_filename(""), "file");
        let long = format!("{}.pdf", "n".repeat(1000));
        let cut = upload_filename(&long);
        assert_eq!(cut.chars().count(), MAX_FILENAME_CHARS);
        assert!(cut.ends_with(".pdf"));
    }

    #[test]
    fn filenames() {
        assert!(filename("report final.pdf").is_ok());
        assert!(filename("../x").is_err());
        assert!(filename("a\0b").is_err());
        assert!(filename("..").is_err());
        assert!(filename(&"x".repeat(256)).is_err());
    }
}
