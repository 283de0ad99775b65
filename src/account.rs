//! Who is calling: the account a request authenticated as (`auth.rs`), which handlers and
//! storage take as "you". Neither HTTP nor storage: both depend on it, it depends on nothing.

/// The authenticated account: "you" in every handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its contact id.
    pub id: String,
    pub username: String,
}
