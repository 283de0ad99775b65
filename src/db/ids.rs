//! Public ids: 16 characters of `[A-Za-z0-9]`. The first 7 are the creation time in
//! milliseconds (base 62, digits in ASCII order, good until 2081), the other 9 come from the
//! thread's CSPRNG (ChaCha12, about 53 bits). Ids made later sort after earlier ones (a clock
//! set back only costs speed), so a new row's id lands at the end of its UNIQUE index instead
//! of on a random page of it: with random ids every insert dirtied (and often first read from
//! disk) one more page per id index, which was most of the writer's I/O (`bench/`). Ids are
//! not secrets (every lookup is checked against the account that asks); the random part still
//! makes them impractical to guess and, within one millisecond, to repeat. The UNIQUE
//! constraint on every `id` column is the backstop.

use rand::RngExt;
use rand::distr::Alphanumeric;

pub const ID_LEN: usize = 16;
const TIME_LEN: usize = 7;
/// Base 62 in ASCII order, so byte order (SQLite's BINARY collation) is time order.
const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub fn new_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut id = String::with_capacity(ID_LEN);
    id.extend(time_prefix(millis).iter().map(|&b| char::from(b)));
    id.push_str(&random_chars(ID_LEN - TIME_LEN));
    id
}

/// `len` characters of `[A-Za-z0-9]` from the thread's CSPRNG (about 5.95 bits each).
pub fn random_chars(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// `millis` in base 62, most significant digit first (wrapping after 62^7 ms, in 2081).
fn time_prefix(mut millis: u128) -> [u8; TIME_LEN] {
    let mut digits = [b'0'; TIME_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = DIGITS[(millis % 62) as usize];
        millis /= 62;
    }
    digits
}

/// Whether `s` has the shape of an id; anything else cannot name an object.
pub fn is_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_contract_shape_and_differ() {
        let a = new_id();
        let b = new_id();
        assert!(is_id(&a) && is_id(&b));
        assert_ne!(a, b);
        assert!(!is_id("short"));
        assert!(!is_id("' OR 1=1 --xxxxx"));
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        assert_eq!(&time_prefix(0), b"0000000");
        assert_eq!(&time_prefix(61), b"000000z");
        assert_eq!(&time_prefix(62), b"0000010");
        let times = [0, 1, 61, 62, 3_843, 1_795_603_255_123, 1_795_603_255_124];
        for pair in times.windows(2) {
            assert!(time_prefix(pair[0]) < time_prefix(pair[1]), "{pair:?}");
        }
        assert_eq!(random_chars(32).len(), 32);
        let earlier = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(earlier < new_id());
    }
}
