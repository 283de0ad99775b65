//! API tests: each starts the real server on 127.0.0.1 with a fresh SQLite file and talks HTTP
//! to it. One file per resource or concern. `tests/api_postgres` runs the same files on
//! PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

/// The database these tests run on.
const BACKEND: helpers::Backend = helpers::Backend::Sqlite;
#[path = "../support/mod.rs"]
mod support;

mod attachments;
mod auth;
mod big_groups;
mod bodies;
mod contacts;
mod conversations;
mod demo;
mod errors;
mod events;
mod groups;
mod hardening;
mod head;
mod idempotency;
mod isolation;
mod messages;
mod metrics;
mod migration;
mod openapi;
mod pagination;
mod webapp;
