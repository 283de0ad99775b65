//! Property tests (proptest) on what parses client input: form and JSON bodies, the typed
//! accessors that read attributes out of them, the query string, pagination parameters and
//! cursors. Whatever the bytes, parsing and every accessor return a value that keeps its
//! limits, or a 4xx error (naming the attribute, for an accessor); never a panic, never a 5xx.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use protocol::error::{Error, ErrorKind};
use protocol::extract::{Body, Query};
use protocol::pagination::PageParams;
use protocol::rules::MAX_TIMESTAMP;

fn client_error(kind: ErrorKind) -> bool {
    !matches!(kind, ErrorKind::Internal)
}

/// An accessor's refusal must be a 4xx that names the attribute it read.
fn refused_well(key: &str, error: &Error) -> Result<(), TestCaseError> {
    prop_assert!(client_error(error.kind), "{key}: {error:?}");
    prop_assert!(error.status().is_client_error(), "{key}: {error:?}");
    prop_assert_eq!(error.param.as_deref(), Some(key), "{:?}", error);
    prop_assert!(!error.message.is_empty());
    Ok(())
}

/// Runs every typed accessor on `body` and checks what each returns.
fn check_accessors(body: &Body) -> Result<(), TestCaseError> {
    for key in ["message", "name", "username"] {
        match body.string(key) {
            Ok(_) => {}
            Err(e) => refused_well(key, &e)?,
        }
        match body.required_string(key) {
            Ok(_) => prop_assert!(body.contains(key)),
            Err(e) => refused_well(key, &e)?,
        }
        if let Err(e) = body.nullable_string(key) {
            refused_well(key, &e)?;
        }
    }
    match body.bool("is_muted") {
        Ok(Some(_)) => prop_assert!(body.contains("is_muted")),
        Ok(None) => prop_assert!(!body.contains("is_muted")),
        Err(e) => refused_well("is_muted", &e)?,
    }
    match body.nullable_timestamp("archived_at") {
        Ok(Some(Some(t))) => prop_assert!((0..=MAX_TIMESTAMP).contains(&t), "{t}"),
        Ok(_) => {}
        Err(e) => refused_well("archived_at", &e)?,
    }
    match body.string_list("attachments", 32) {
        Ok(Some(list)) => prop_assert!(list.len() <= 32, "{}", list.len()),
        Ok(None) => prop_assert!(!body.contains("attachments")),
        Err(e) => refused_well("attachments", &e)?,
    }
    match body.string_list_map("reactions", 32) {
        Ok(Some(map)) => prop_assert!(map.len() <= 32, "{}", map.len()),
        Ok(None) => prop_assert!(!body.contains("reactions")),
        Err(e) => refused_well("reactions", &e)?,
    }
    Ok(())
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
            // The typed accessors cope with whatever shape came out.
            Ok(body) => check_accessors(&body)?,
            Err(e) => prop_assert!(client_error(e.kind)),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512),
                                   json in any::<bool>()) {
        let content_type = if json { "application/json" } else { "application/x-www-form-urlencoded" };
        match Body::parse(Some(content_type), &bytes) {
            Ok(body) => check_accessors(&body)?,
            Err(e) => prop_assert!(client_error(e.kind)),
        }
    }

    #[test]
    fn json_values_never_panic(value in json_value()) {
        let text = serde_json::json!({"reactions": value.clone(), "attachments": value.clone(),
                                      "archived_at": value.clone(), "message": value}).to_string();
        let body = Body::parse(Some("application/json"), text.as_bytes()).unwrap();
        check_accessors(&body)?;
    }

    #[test]
    fn form_values_of_every_shape_are_read_or_refused_by_name(
        key in prop_oneof![Just("is_muted"), Just("archived_at"), Just("attachments"),
                           Just("reactions"), Just("message")],
        suffix in prop_oneof![Just(""), Just("[]"), Just("[x]"), Just("[x][]"), Just("[][]")],
        value in prop_oneof![Just(String::new()), "[a-z0-9_]{0,8}", "-?[0-9]{1,25}",
                             Just("true".to_owned()), Just("%FF".to_owned())],
        repeat in 1..4usize,
    ) {
        let pair = format!("{key}{suffix}={value}");
        let text = vec![pair; repeat].join("&");
        match Body::parse(Some("application/x-www-form-urlencoded"), text.as_bytes()) {
            Ok(body) => check_accessors(&body)?,
            Err(e) => prop_assert!(client_error(e.kind)),
        }
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
        let query = Query::parse(&format!("limit={limit}"));
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
