//! `spawn_app()`: a fresh server on 127.0.0.1:0 with a fresh database — a SQLite file, or in
//! the `api_postgres` tests a PostgreSQL database of its own — and request helpers that speak
//! real HTTP to it.

use awc::Client;
use awc::http::header::{HeaderMap, HeaderName, HeaderValue};
use protocol::config::Config;
use protocol::db::sql::Sql;
use protocol::{RunOptions, build_state, run};
use serde_json::Value;
use std::net::TcpListener;
use std::path::PathBuf;
use tempfile::TempDir;

/// A fresh PostgreSQL database; without PostgreSQL, ends this test binary (loudly; in CI it
/// fails instead), since every test in it needs one.
fn postgres_database() -> String {
    match crate::support::postgres::fresh_database() {
        Ok(url) => url,
        Err(why) => {
            assert!(
                !crate::support::in_ci(),
                "the PostgreSQL API tests cannot run in CI: {why}"
            );
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\nSKIPPED every PostgreSQL API test (tests/api_postgres): {why}\n"
            );
            std::process::exit(0);
        }
    }
}

/// The accounts every test app has, and their tokens.
pub const KEVIN: (&str, &str) = ("KevinMcCallister", "token-kevin");
pub const KATE: (&str, &str) = ("KateMcCallister", "token-kate");
pub const PETER: (&str, &str) = ("PeterMcCallister", "token-peter");

/// Which database the tests of this binary run on (`crate::BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // each test binary names one
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    /// Where `/metrics` is served, when the config turned them on.
    pub metrics_base: Option<String>,
    pub dir: TempDir,
    /// `server.database`: the SQLite file (in `dir`, or in the first run's folder after a
    /// restart), or the PostgreSQL URL.
    database: String,
    /// Where the attachment files are.
    files: PathBuf,
    client: Client,
    server: actix_web::dev::ServerHandle,
    state: actix_web::web::Data<protocol::AppState>,
}

impl Drop for TestApp {
    /// Its webhook workers and event hub end with the test: left running, a worker would go
    /// on retrying its receiver's address, which a later test's receiver may be given.
    fn drop(&mut self) {
        protocol::stop_background_work(&self.state);
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body as JSON; reading it when the server sent something else panics with the body.
    pub body: Json,
    /// The bytes as sent (for downloads and pages, which are not JSON).
    pub raw: Vec<u8>,
}

/// A response body that should be JSON. An empty body reads as `null`; a body that is not
/// JSON panics, printing it, the moment a test looks at it as JSON, so a server that answers
/// HTML or text where the contract says JSON never passes as `null`.
#[derive(Clone, PartialEq)]
pub struct Json(Result<Value, String>);

impl Json {
    fn parse(raw: &[u8]) -> Json {
        if raw.is_empty() {
            return Json(Ok(Value::Null));
        }
        Json(serde_json::from_slice(raw).map_err(|e| {
            let text = String::from_utf8_lossy(&raw[..raw.len().min(2000)]);
            format!("{e}: {text}")
        }))
    }

    /// The value, owned.
    #[track_caller]
    pub fn value(&self) -> Value {
        (**self).clone()
    }
}

impl std::ops::Deref for Json {
    type Target = Value;

    #[track_caller]
    fn deref(&self) -> &Value {
        match &self.0 {
            Ok(value) => value,
            Err(not_json) => panic!("expected a JSON body, got {not_json}"),
        }
    }
}

impl From<Json> for Value {
    #[track_caller]
    fn from(json: Json) -> Value {
        json.value()
    }
}

impl PartialEq<Value> for Json {
    #[track_caller]
    fn eq(&self, other: &Value) -> bool {
        **self == *other
    }
}

impl PartialEq<Json> for Value {
    #[track_caller]
    fn eq(&self, other: &Json) -> bool {
        *self == **other
    }
}

/// Shows the JSON, or the text that was not JSON (never panics: used in failure messages).
impl std::fmt::Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Ok(value) => write!(f, "{value}"),
            Err(not_json) => write!(f, "(not JSON) {not_json}"),
        }
    }
}

impl std::fmt::Debug for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Response {
    /// Panics with the body when the status is not the expected one.
    #[track_caller]
    pub fn expect(self, status: u16) -> Response {
        assert_eq!(
            self.status, status,
            "expected {status}, got {}: {}",
            self.status, self.body
        );
        self
    }

    /// The `id` of the returned object.
    #[track_caller]
    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.body))
            .to_owned()
    }

    /// The ids of a returned list, in order.
    #[track_caller]
    pub fn ids(&self) -> Vec<String> {
        self.body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {}", self.body))
            .iter()
            .map(|o| {
                o["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("an item without an id in {}", self.body))
                    .to_owned()
            })
            .collect()
    }

    #[track_caller]
    pub fn has_more(&self) -> bool {
        self.body["has_more"]
            .as_bool()
            .unwrap_or_else(|| panic!("no has_more in {}", self.body))
    }

    /// Asserts the contract's error body: type for the status, a message, and the param.
    #[track_caller]
    pub fn expect_error(self, status: u16, param: Option<&str>) -> Response {
        let response = self.expect(status);
        let body = &response.body;
        let kind = if status >= 500 {
            "api_error"
        } else {
            "invalid_request"
        };
        assert_eq!(body["type"], kind, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert!(
            body["documentation_url"]
                .as_str()
                .is_some_and(|u| u.starts_with("http")),
            "{body}"
        );
        assert_eq!(body.get("param").and_then(Value::as_str), param, "{body}");
        response
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A server with the three standard accounts and default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server whose config `adjust` may change first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    // The server's errors, shown with a failing test's output (RUST_LOG may ask for more).
    let _ = env_logger::builder()
        .is_test(true)
        .filter_level(log::LevelFilter::Error)
        .parse_default_env()
        .try_init();
    let dir = tempfile::tempdir().expect("temp dir");
    let database = match crate::BACKEND {
        Backend::Sqlite => dir.path().join("test.db").display().to_string(),
        Backend::Postgres => postgres_database(),
    };
    let mut config = Config::parse(&format!(
        r#"
        [server]
        listen = "127.0.0.1:0"
        database = "{}"
        files = "{}"

        [[accounts]]
        username = "{}"
        phone_number = "1-800-759-3000"
        token = "{}"

        [[accounts]]
        username = "{}"
        phone_number = "1-800-759-3001"
        token = "{}"

        [[accounts]]
        username = "{}"
        phone_number = "1-800-759-3002"
        token = "{}"
        "#,
        database,
        dir.path().join("test.db-files").display(),
        KEVIN.0,
        KEVIN.1,
        KATE.0,
        KATE.1,
        PETER.0,
        PETER.1
    ))
    .expect("test config parses");
    adjust(&mut config);
    config.validate().expect("test config is valid");

    let listener = TcpListener::bind(config.listen_addr().expect("addr")).expect("bind");
    let local = listener.local_addr().expect("local addr");
    let base = format!("http://{local}");
    let metrics_listener = config
        .metrics_addr()
        .expect("metrics addr")
        .map(|addr| TcpListener::bind(addr).expect("bind metrics"));
    let metrics_base = metrics_listener
        .as_ref()
        .map(|l| format!("http://{}", l.local_addr().expect("metrics addr")));
    let state =
        actix_web::web::Data::new(build_state(&config, &config.public_url(local)).expect("state"));
    let server = run(
        listener,
        state.clone(),
        RunOptions {
            workers: Some(1),
            handle_signals: false,
            metrics_listener,
        },
    )
    .expect("server starts");
    let handle = server.handle();
    actix_web::rt::spawn(server);
    TestApp {
        base,
        metrics_base,
        dir,
        database: config.server.database.clone(),
        files: config.server.files_dir().expect("a files folder"),
        client: Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .finish(),
        server: handle,
        state,
    }
}

impl TestApp {
    /// Stops the server and its background workers (as a restart would), keeping its files.
    pub async fn stop(&self) {
        protocol::stop_background_work(&self.state);
        self.server.stop(false).await;
    }

    /// `server.database` of this app, for a second server on the same database.
    pub fn database(&self) -> String {
        self.database.clone()
    }

    /// The folder of the attachment files.
    pub fn files(&self) -> PathBuf {
        self.files.clone()
    }

    /// Runs `work` on a connection of the test's own to the live database, for tests that look
    /// under the API (purges, stored keys, failures). The SQL is the model code's: it runs on
    /// both backends.
    pub fn sql<T: Send>(&self, work: impl FnOnce(&Sql) -> T + Send) -> T {
        let database = self.database.clone();
        protocol::db::sql::off_runtime(move || {
            let conn = if protocol::db::postgres::is_url(&database) {
                let config = protocol::db::postgres::config(&database).expect("the URL");
                protocol::db::postgres::connect(&config).expect("connect to PostgreSQL")
            } else {
                let conn = rusqlite::Connection::open(&database).expect("open the database");
                conn.busy_timeout(std::time::Duration::from_secs(30))
                    .expect("busy timeout");
                Sql::Sqlite(conn)
            };
            work(&conn)
        })
    }

    /// Stops this server and starts another on the same database and files (a restart); keep
    /// `self` alive meanwhile, it owns the folder.
    pub async fn restarted(&self) -> TestApp {
        self.restarted_with(|_| {}).await
    }

    pub async fn restarted_with(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        self.stop().await;
        let (database, files) = (self.database(), self.files());
        spawn_app_with(|c| {
            c.server.database = database;
            c.server.files = Some(files.display().to_string());
            adjust(c);
        })
        .await
    }

    /// The underlying client, for streaming requests.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends a request; `token` None sends no Authorization header.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Response {
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.insert_header(("Authorization", format!("Bearer {token}")));
        }
        for (name, value) in headers {
            request = request.insert_header((
                HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                HeaderValue::from_str(value).expect("header value"),
            ));
        }
        let mut response = match body {
            Some((content_type, bytes)) => request
                .insert_header(("Content-Type", content_type))
                .send_body(bytes)
                .await
                .expect("request is sent"),
            None => request.send().await.expect("request is sent"),
        };
        let raw = response
            .body()
            .limit(64 * 1024 * 1024)
            .await
            .expect("response body")
            .to_vec();
        Response {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: Json::parse(&raw),
            raw,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request("GET", path, Some(token), None, &[]).await
    }

    /// A form body exactly as `curl -d` sends it: `"reactions[smile][]=Kate&is_muted=true"`.
    pub async fn post_form(&self, path: &str, token: &str, form: &str) -> Response {
        self.send_form("POST", path, token, form).await
    }

    pub async fn put_form(&self, path: &str, token: &str, form: &str) -> Response {
        self.send_form("PUT", path, token, form).await
    }

    pub async fn send_form(&self, method: &str, path: &str, token: &str, form: &str) -> Response {
        let body = (
            "application/x-www-form-urlencoded",
            form.as_bytes().to_vec(),
        );
        self.request(method, path, Some(token), Some(body), &[])
            .await
    }

    pub async fn post_json(&self, path: &str, token: &str, json: Value) -> Response {
        self.send_json("POST", path, token, json).await
    }

    pub async fn put_json(&self, path: &str, token: &str, json: Value) -> Response {
        self.send_json("PUT", path, token, json).await
    }

    pub async fn send_json(&self, method: &str, path: &str, token: &str, json: Value) -> Response {
        let body = ("application/json", json.to_string().into_bytes());
        self.request(method, path, Some(token), Some(body), &[])
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request("DELETE", path, Some(token), None, &[]).await
    }

    // ---- Shortcuts for setting up a scene ----

    /// `who` adds a contact by username (creating the person if new); returns the contact.
    pub async fn add_contact(&self, who: &str, username: &str) -> Value {
        self.post_form(
            "/v1/contacts",
            who,
            &format!("username={username}&phone_number=555-0100"),
        )
        .await
        .expect(201)
        .body
        .value()
    }

    /// Kevin and Kate know each other; returns their direct conversation id.
    pub async fn kevin_and_kate(&self) -> String {
        let contact = self.add_contact(KEVIN.1, KATE.0).await;
        contact["conversation_id"]
            .as_str()
            .expect("conversation_id")
            .to_owned()
    }

    /// Sends a message; returns it.
    pub async fn send(&self, who: &str, conversation: &str, text: &str) -> Value {
        self.post_json(
            "/v1/messages",
            who,
            serde_json::json!({"conversation_id": conversation, "message": text}),
        )
        .await
        .expect(201)
        .body
        .value()
    }

    /// Sends a message carrying the uploads `attachments`; returns it.
    pub async fn send_with_attachments(
        &self,
        who: &str,
        conversation: &str,
        text: &str,
        attachments: &[&str],
    ) -> Value {
        self.post_json(
            "/v1/messages",
            who,
            serde_json::json!({"conversation_id": conversation, "message": text, "attachments": attachments}),
        )
        .await
        .expect(201)
        .body
        .value()
    }

    /// A `multipart/form-data` upload as `curl -F NAME=@FILE` sends it, with extra text parts.
    pub async fn upload(
        &self,
        who: &str,
        part: &str,
        filename: &str,
        content_type: Option<&str>,
        bytes: &[u8],
        fields: &[(&str, &str)],
    ) -> Response {
        let (content_type, body) = multipart_body(part, filename, content_type, bytes, fields);
        self.request(
            "POST",
            "/v1/attachments",
            Some(who),
            Some((&content_type, body)),
            &[],
        )
        .await
    }
}

/// A multipart body as curl builds it: (Content-Type header, body).
pub fn multipart_body(
    part: &str,
    filename: &str,
    content_type: Option<&str>,
    bytes: &[u8],
    fields: &[(&str, &str)],
) -> (String, Vec<u8>) {
    let boundary = "----protocol-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    let escaped = filename.replace('\\', "\\\\").replace('"', "\\\"");
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{part}\"; filename=\"{escaped}\"\r\n"
        )
        .as_bytes(),
    );
    if let Some(content_type) = content_type {
        body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
