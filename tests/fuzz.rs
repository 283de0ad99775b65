//! Property tests (proptest) on what parses client input: form and JSON bodies read as every
//! request type, the query string, pagination parameters and cursors. Whatever the bytes,
//! parsing returns a value or a 4xx error (naming the attribute for a body); it never panics,
//! and it never answers 5xx.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use protocol::api::{contacts, conversations, groups, messages};
use protocol::error::ErrorKind;
use protocol::extract::{Body, Query};
use protocol::input::from_body;
use protocol::pagination::PageParams;
use serde::de::DeserializeOwned;

fn client_error(kind: ErrorKind) -> bool {
    !matches!(kind, ErrorKind::Internal)
}

/// Reads the body as a request type: a value, or a 400 that names an attribute.
fn typed<T: DeserializeOwned>(content_type: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok(body) = Body::parse(Some(content_type), bytes) else {
        return Ok(());
    };
    if let Err(e) = from_body::<T>(body) {
        prop_assert_eq!(e.kind, ErrorKind::BadRequest);
        prop_assert!(e.param.is_some(), "{}", e.message);
    }
    Ok(())
}

/// Every request type with a body, read from the same bytes.
fn every_request_type(content_type: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    typed::<messages::NewMessageRequest>(content_type, bytes)?;
    typed::<messages::UpdateMessageRequest>(content_type, bytes)?;
    typed::<conversations::NewConversationRequest>(content_type, bytes)?;
    typed::<conversations::UpdateConversationRequest>(content_type, bytes)?;
    typed::<contacts::NewContactRequest>(content_type, bytes)?;
    typed::<groups::UpdateGroupRequest>(content_type, bytes)
}

/// Form-ish text: the characters that matter to the bracket parser, often.
fn formish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just("&".to_owned()),
            Just("=".to_owned()),
            Just("%".to_owned()),
            Just("%5B".to_owned()),
            Just("%FF".to_owned()),
            Just("reactions".to_owned()),
            Just("attachments[]".to_owned()),
            "[a-z0-9_]{0,6}",
            any::<char>().prop_map(|c| c.to_string()),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn form_bodies_never_panic(text in formish()) {
        match Body::parse(Some("application/x-www-form-urlencoded"), text.as_bytes()) {
            // The request types cope with whatever shape came out.
            Ok(_) => every_request_type("application/x-www-form-urlencoded", text.as_bytes())?,
            Err(e) => prop_assert!(client_error(e.kind)),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                                   json in any::<bool>()) {
        let content_type = if json { "application/json" } else { "application/x-www-form-urlencoded" };
        match Body::parse(Some(content_type), &bytes) {
            Ok(_) => every_request_type(content_type, &bytes)?,
            Err(e) => prop_assert!(client_error(e.kind)),
        }
    }

    #[test]
    fn form_values_of_every_shape_are_read_or_refused_by_name(
        key in prop_oneof![Just("is_muted"), Just("archived_at"), Just("attachments"),
                           Just("reactions"), Just("message"), Just("contact_id")],
        suffix in prop_oneof![Just(""), Just("[]"), Just("[x]"), Just("[x][]"), Just("[][]")],
        value in prop_oneof![Just(String::new()), "[a-z0-9_]{0,8}", "-?[0-9]{1,25}",
                             Just("true".to_owned()), Just("%FF".to_owned())],
        repeat in 1..4usize,
    ) {
        let pair = format!("{key}{suffix}={value}");
        let text = vec![pair; repeat].join("&");
        match Body::parse(Some("application/x-www-form-urlencoded"), text.as_bytes()) {
            Ok(_) => every_request_type("application/x-www-form-urlencoded", text.as_bytes())?,
            Err(e) => prop_assert!(client_error(e.kind)),
        }
    }

    #[test]
    fn json_values_never_panic(value in json_value()) {
        let text = serde_json::json!({"reactions": value.clone(), "attachments": value.clone(),
                                      "archived_at": value.clone(), "is_muted": value.clone(),
                                      "contact_id": value.clone(), "display_name": value.clone(),
                                      "message": value}).to_string();
        every_request_type("application/json", text.as_bytes())?;
    }

    #[test]
    fn queries_and_cursors_never_panic(text in formish()) {
        match PageParams::from_query(&Query::parse(&text)) {
            Ok(page) => prop_assert!((1..=100).contains(&page.limit)),
            Err(e) => {
                prop_assert!(client_error(e.kind));
                prop_assert!(e.param.is_some());
            }
        }
    }

    #[test]
    fn limits_outside_1_to_100_are_refused(limit in any::<i128>()) {
        let text = format!("limit={limit}");
        let query = Query::parse(&text);
        let parsed = PageParams::from_query(&query);
        prop_assert_eq!(parsed.is_ok(), (1..=100).contains(&limit));
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        ".{0,20}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::hash_map("[a-z_]{1,8}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}
