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
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    if rest.is_none_or(str::is_empty)
        || value.chars().count() > MAX_URL_CHARS
        || value.chars().any(|c| c.is_control() || is_space(c))
    {
        return Err(format!(
            "{param} must be an http:// or https:// URL of at most {MAX_URL_CHARS} characters."
        ));
    }
    Ok(())
}

/// A single line of text of at most `max` characters (names, descriptions).
pub fn text(param: &str, value: &str, min: usize, max: usize) -> Rule {
    let len = value.trim_matches(is_space).chars().count();
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
    if value.trim_matches(is_space).is_empty() || value.chars().count() > MAX_FILENAME_CHARS {
        return Err(format!(
            "filename must be 1 to {MAX_FILENAME_CHARS} characters."
        ));
    }
    // Not `.` or `..` (nor any name of dots and spaces alone, which is as useless and simpler
    // to state as a pattern).
    if value
        .chars()
        .any(|c| c.is_control() || is_invisible_control(c) || c == '/' || c == '\\')
        || value.chars().all(|c| c == '.' || is_space(c))
    {
        return Err(
            "filename must be a plain name: no slashes, backslashes, control characters or \
             invisible text-direction characters, not only dots."
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

/// White space as JSON Schema's regular expressions (ECMA-262 `\s`) see it: Unicode's, and the
/// byte order mark.
fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// `is_invisible_control`'s characters of the Basic Multilingual Plane, inside a character class.
macro_rules! invisible {
    () => {
        r"\xad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb"
    };
}

// The rules above as ECMA-262 regular expressions, the kind JSON Schema and so the OpenAPI
// document use (with `maxLength` for the lengths). `pattern_tests` checks that each pattern and
// its function agree, character by character.

pub const USERNAME_PATTERN: &str = "^[A-Za-z0-9_.-]{1,64}$";
pub const PHONE_PATTERN: &str = r"^[0-9+\-(). ]*[0-9][0-9+\-(). ]*$";
pub const URL_PATTERN: &str = r"^https?://[^\s\x00-\x1f\x7f-\x9f]+$";
/// `text` with `min` 0: no control characters but line breaks and tabs.
pub const TEXT_PATTERN: &str = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$";
/// `text` with `min` 1: the same, and not blank.
pub const NON_BLANK_TEXT_PATTERN: &str =
    r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x08\x0b-\x1f\x7f-\x9f]*$";
/// `name` with `min` 0: `TEXT_PATTERN` without the invisible and direction controls. (ECMA-262
/// without its `u` flag cannot name characters past U+FFFF, so the tag characters U+E0000 to
/// U+E007F that `is_invisible_control` also refuses are missing here: the one gap.)
pub const NAME_PATTERN: &str = concat!(r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f", invisible!(), r"]*$");
/// `name` with `min` 1.
pub const NON_BLANK_NAME_PATTERN: &str = concat!(
    r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f",
    invisible!(),
    r"]*[^\s\x00-\x1f\x7f-\x9f",
    invisible!(),
    r"][^\x00-\x08\x0b-\x1f\x7f-\x9f",
    invisible!(),
    r"]*$"
);
pub const EMOJI_PATTERN: &str = "^[a-z0-9_+-]{1,64}$";
pub const FILENAME_PATTERN: &str = concat!(
    r"^[^/\\\x00-\x1f\x7f-\x9f",
    invisible!(),
    r"]*[^\s./\\\x00-\x1f\x7f-\x9f",
    invisible!(),
    r"][^/\\\x00-\x1f\x7f-\x9f",
    invisible!(),
    r"]*$"
);

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

/// Each pattern against its rule, with a JSON Schema validator (the kind of engine the API's
/// users' tools run), over the characters where such rules go wrong and the edge cases of each.
#[cfg(test)]
mod pattern_tests {
    use super::*;

    /// Controls, ASCII, Latin-1 and a little beyond, every white space character of Unicode,
    /// the byte order mark, a letter of another script, an ideograph and an emoji.
    fn characters() -> impl Iterator<Item = char> {
        let spaces = [0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff].into_iter();
        let invisible = [
            0x034f, 0x061c, 0x115f, 0x1160, 0x17b4, 0x17b5, 0x180e, 0x3164, 0xffa0,
        ];
        (0u32..0x250)
            .chain(0x2000..=0x2070)
            .chain(spaces)
            .chain(invisible)
            .chain(0xfff8..=0xfffd)
            .chain([0x0435, 0x4e2d, 0x1f600])
            .filter_map(char::from_u32)
    }

    #[track_caller]
    fn agree(pattern: &str, max_length: usize, valid: &str, rule: impl Fn(&str) -> Rule) {
        let schema =
            serde_json::json!({"type": "string", "pattern": pattern, "maxLength": max_length});
        let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"));
        let matches = |value: &str| validator.is_valid(&serde_json::json!(value));
        assert!(rule(valid).is_ok(), "{valid:?}");
        let mut values = vec![
            String::new(),
            valid.to_owned(),
            ".".into(),
            "..".into(),
            "...".into(),
            valid.repeat(max_length),
        ];
        // At the length limit and just past it.
        let last = valid.chars().last().unwrap_or('a').to_string();
        for length in [max_length, max_length + 1] {
            let pad = length.saturating_sub(valid.chars().count());
            values.push(format!("{valid}{}", last.repeat(pad)));
        }
        for c in characters() {
            values.extend([
                c.to_string(),
                format!("{valid}{c}"),
                format!("{c}{valid}"),
                format!("{c}{c}"),
            ]);
        }
        for value in values {
            assert_eq!(
                matches(&value),
                rule(&value).is_ok(),
                "{pattern} and the rule disagree on {value:?}"
            );
        }
    }

    #[test]
    fn patterns_agree_with_their_rules() {
        agree(USERNAME_PATTERN, MAX_USERNAME_CHARS, "Kevin", username);
        agree(PHONE_PATTERN, MAX_PHONE_CHARS, "1-800", phone_number);
        agree(URL_PATTERN, MAX_URL_CHARS, "https://a", |v| url("u", v));
        agree(TEXT_PATTERN, 128, "Mom", |v| text("t", v, 0, 128));
        agree(NON_BLANK_TEXT_PATTERN, 128, "Mom", |v| text("t", v, 1, 128));
        agree(NAME_PATTERN, 128, "Mom", |v| name("t", v, 0, 128));
        agree(NON_BLANK_NAME_PATTERN, 128, "Mom", |v| name("t", v, 1, 128));
        agree(EMOJI_PATTERN, MAX_EMOJI_CHARS, "smile", emoji);
        agree(FILENAME_PATTERN, MAX_FILENAME_CHARS, "a.pdf", filename);
    }
}
