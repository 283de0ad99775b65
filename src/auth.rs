//! Authentication (contract section 2): `Authorization: Bearer TOKEN`, or Basic with the token as
//! the password and the account's username as the user name.
//!
//! Tokens are never stored or compared as they are: each is hashed with SHA-256, accounts are
//! filed by the first 8 bytes of their hash, and the presented token's hash is compared in
//! constant time with the (nearly always one) account filed under its own first bytes. Where the
//! lookup goes depends only on the hash of what was presented, which says nothing about any
//! stored token; the comparison itself never stops early. A server with 10,000 accounts thus
//! looks a token up in one step instead of comparing it with every account.

use crate::AppState;
use crate::account::Account;
use crate::error::{Error, Result};
use crate::limits::too_many;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::{Ready, ready};
use subtle::ConstantTimeEq;

struct Credential {
    token_hash: [u8; 32],
    account: Account,
}

/// The accounts that may call the API, by the hash of their token.
pub struct Accounts {
    by_prefix: HashMap<u64, Vec<Credential>>,
}

fn prefix(hash: &[u8; 32]) -> u64 {
    u64::from_le_bytes([
        hash[0], hash[1], hash[2], hash[3], hash[4], hash[5], hash[6], hash[7],
    ])
}

impl Accounts {
    /// `entries` are (token, account) pairs.
    pub fn new(entries: impl IntoIterator<Item = (String, Account)>) -> Accounts {
        let mut by_prefix: HashMap<u64, Vec<Credential>> = HashMap::new();
        for (token, account) in entries {
            let token_hash = hash(&token);
            by_prefix
                .entry(prefix(&token_hash))
                .or_default()
                .push(Credential {
                    token_hash,
                    account,
                });
        }
        Accounts { by_prefix }
    }

    /// The account whose token this is; the hashes are compared in constant time.
    pub fn find(&self, token: &str) -> Option<&Account> {
        let presented = hash(token);
        let mut found = None;
        for credential in self
            .by_prefix
            .get(&prefix(&presented))
            .into_iter()
            .flatten()
        {
            if bool::from(credential.token_hash.ct_eq(&presented)) {
                found = Some(&credential.account);
            }
        }
        found
    }

    /// Checks an `Authorization` header value.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Account> {
        let Some(value) = authorization else {
            return Err(Error::unauthorized(
                "No token was given. Send Authorization: Bearer YOUR_TOKEN.",
            ));
        };
        let invalid = || Error::unauthorized("The token is not valid.");
        let (scheme, rest) = value.trim().split_once(' ').ok_or_else(invalid)?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return self.find(rest.trim()).cloned().ok_or_else(invalid);
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(invalid)?;
            let (username, token) = decoded.split_once(':').ok_or_else(invalid)?;
            let account = self.find(token).ok_or_else(invalid)?;
            // Checked after the token, so a wrong user name costs the same as a wrong token.
            if account.username != username {
                return Err(invalid());
            }
            return Ok(account.clone());
        }
        Err(Error::unauthorized(
            "Use Bearer (or Basic) authorization with your token.",
        ))
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl FromRequest for Account {
    type Error = Error;
    type Future = Ready<Result<Account>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(Error::internal("AppState is missing from the app")));
        };
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let result = state.accounts().authenticate(authorization);
        match &result {
            Ok(account) => {
                if let Some(wait) = state.limits.requests.hit(&account.id) {
                    return ready(Err(too_many(
                        "This account is over its request rate; retry later.",
                        wait,
                    )));
                }
                state.activity.touch(&state.db, &account.id);
                // For the access log.
                req.extensions_mut().insert(account.clone());
            }
            // Only a presented credential that fails is a guess worth counting. A correct token
            // is never refused for its address's failures: people behind one NAT or proxy share
            // an address, and tokens are long random values that guessing cannot reach.
            Err(_) if authorization.is_some() => {
                if let Some(ip) = state.client_address(req) {
                    if let Some(wait) = state.limits.auth_failures.blocked(&ip) {
                        return ready(Err(too_many(
                            "Too many failed authentications from this address; retry later.",
                            wait,
                        )));
                    }
                    state.limits.auth_failures.count(&ip);
                }
            }
            Err(_) => {}
        }
        ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts() -> Accounts {
        Accounts::new([
            (
                "tok-kevin".to_string(),
                Account {
                    id: "K".into(),
                    username: "kevin".into(),
                },
            ),
            (
                "tok-kate".to_string(),
                Account {
                    id: "T".into(),
                    username: "kate".into(),
                },
            ),
        ])
    }

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[test]
    fn bearer() {
        let a = accounts();
        assert_eq!(a.authenticate(Some("Bearer tok-kate")).unwrap().id, "T");
        assert_eq!(a.authenticate(Some("bearer  tok-kevin ")).unwrap().id, "K");
        assert!(a.authenticate(Some("Bearer tok-kat")).is_err());
        assert!(a.authenticate(Some("Bearer ")).is_err());
        assert!(a.authenticate(Some("tok-kate")).is_err());
        assert!(a.authenticate(None).is_err());
    }

    #[test]
    fn basic_needs_the_tokens_own_username() {
        let a = accounts();
        assert_eq!(
            a.authenticate(Some(&basic("kate", "tok-kate"))).unwrap().id,
            "T"
        );
        assert!(a.authenticate(Some(&basic("kevin", "tok-kate"))).is_err());
        assert!(a.authenticate(Some("Basic !!!")).is_err());
    }

    #[test]
    fn errors_never_echo_the_token() {
        let err = accounts()
            .authenticate(Some("Bearer super-secret-value"))
            .unwrap_err();
        assert!(!err.message.contains("super-secret-value"));
    }
}
