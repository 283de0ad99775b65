//! Public ids: 16 characters of `[A-Za-z0-9]` from the thread's CSPRNG (ChaCha12), about 95
//! bits of entropy, so they are neither guessable nor, in practice, ever repeated. The UNIQUE
//! constraint on every `id` column is the backstop.

use rand::RngExt;
use rand::distr::Alphanumeric;

pub const ID_LEN: usize = 16;

pub fn new_id() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(ID_LEN)
        .map(char::from)
        .collect()
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
}
