//! The API tests of `tests/api`, the same files, on PostgreSQL: each test gets a database of its
//! own on a throwaway server (`tests/support/postgres.rs`). Without PostgreSQL they are skipped,
//! loudly (and fail in CI). `migration` stays with SQLite: it upgrades an old SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../support/mod.rs"]
mod support;

/// The database these tests run on.
const BACKEND: helpers::Backend = helpers::Backend::Postgres;

#[path = "../api/attachments.rs"]
mod attachments;
#[path = "../api/auth.rs"]
mod auth;
#[path = "../api/big_groups.rs"]
mod big_groups;
#[path = "../api/bodies.rs"]
mod bodies;
#[path = "../api/contacts.rs"]
mod contacts;
#[path = "../api/conversations.rs"]
mod conversations;
#[path = "../api/demo.rs"]
mod demo;
#[path = "../api/errors.rs"]
mod errors;
#[path = "../api/events.rs"]
mod events;
#[path = "../api/groups.rs"]
mod groups;
#[path = "../api/hardening.rs"]
mod hardening;
#[path = "../api/head.rs"]
mod head;
#[path = "../api/idempotency.rs"]
mod idempotency;
#[path = "../api/isolation.rs"]
mod isolation;
#[path = "../api/messages.rs"]
mod messages;
#[path = "../api/metrics.rs"]
mod metrics;
#[path = "../api/openapi.rs"]
mod openapi;
#[path = "../api/pagination.rs"]
mod pagination;
#[path = "../api/webapp.rs"]
mod webapp;

// PostgreSQL only.
mod reconnect;
