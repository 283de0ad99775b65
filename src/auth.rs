//! Authentication (contract section 2): `Authorization: Bearer TOKEN`, or Basic with the token as
//! the password and the account's username as the user name.
//!
//! Accounts are filed by a keyed hash of their token (SipHash, with a key drawn at random when
//! the server starts), and the presented token is compared in constant time with the (nearly
//! always one) account filed under its own hash. Where the lookup goes depends only on a hash
//! whose key nobody outside the process knows, so it says nothing about any stored token; the
//! comparison itself never stops early (except on a length that differs, and a token of the
//! right length is still unknown). A server with 10,000 accounts thus looks a token up in one
//! step instead of comparing it with every account. (SHA-256 did the filing before: 3,800
//! instructions a request, against a few hundred.)

use crate::AppState;
use crate::account::Account;
use crate::error::{Error, Result};
use crate::limits::too_many;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use base64::Engine;
use std::collections::HashMap;
use std::future::{Ready, ready};
use std::hash::{BuildHasher, RandomState};
use subtle::ConstantTimeEq;

struct Credential {
    token: Box<[u8]>,
    account: Account,
}

/// The accounts that may call the API, by the keyed hash of their token.
pub struct Accounts {
    /// Its key is random, drawn once per process.
    key: RandomState,
    by_hash: HashMap<u64, Vec<Credential>>,
}

impl Accounts {
    /// `entries` are (token, account) pairs.
    pub fn new(entries: impl IntoIterator<Item = (String, Account)>) -> Accounts {
        let key = RandomState::new();
        let mut by_hash: HashMap<u64, Vec<Credential>> = HashMap::new();
        for (token, account) in entries {
            by_hash
                .entry(key.hash_one(token.as_bytes()))
                .or_default()
                .push(Credential {
                    token: token.into_bytes().into_boxed_slice(),
                    account,
                });
        }
        Accounts { key, by_hash }
    }

    /// The account whose token this is; the tokens are compared in constant time.
    pub fn find(&self, token: &str) -> Option<&Account> {
        let presented = token.as_bytes();
        let mut found = None;
        for credential in self
            .by_hash
            .get(&self.key.hash_one(presented))
            .into_iter()
            .flatten()
        {
            if bool::from(credential.token.ct_eq(presented)) {
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
    fn each_of_many_accounts_is_found_by_its_own_token_only() {
        let many = Accounts::new((0..1000).map(|i| {
            let account = Account {
                id: format!("id{i}"),
                username: format!("user{i}"),
            };
            (format!("token-{i}"), account)
        }));
        for i in 0..1000 {
            assert_eq!(
                many.find(&format!("token-{i}")).unwrap().id,
                format!("id{i}")
            );
            assert!(many.find(&format!("token-{i}x")).is_none());
        }
        assert!(many.find("").is_none());
    }

    #[test]
    fn errors_never_echo_the_token() {
        let err = accounts()
            .authenticate(Some("Bearer super-secret-value"))
            .unwrap_err();
        assert!(!err.message.contains("super-secret-value"));
    }
}
