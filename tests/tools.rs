//! The tools people already use, run against the real binary started with the shipped
//! protocol.toml: `openapi-spec-validator` and `redocly lint` accept its /openapi.json,
//! `openapi-python-client` generates a client that runs the README's tour (and the README's
//! Python example), `openapi-typescript` generates types that the README's TypeScript example
//! type-checks against, and prometheus_client's parser reads its /metrics.
//!
//! The tools come from PyPI and npm into target/tools/ (`tests/tools/install.sh`; `.ci/run`
//! runs it). Without them each test says SKIPPED and passes, except under `PROTOCOL_CI=1`,
//! where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_protocol");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Tools {
    /// The Python venv's bin/.
    python: PathBuf,
    /// node_modules/.bin/.
    node: PathBuf,
}

impl Tools {
    fn find(test: &str) -> Option<Tools> {
        let tools = Path::new(ROOT).join("target/tools");
        let found = Tools {
            python: tools.join("venv/bin"),
            node: tools.join("npm/node_modules/.bin"),
        };
        let needed = [
            found.python.join("python"),
            found.python.join("openapi-spec-validator"),
            found.python.join("openapi-python-client"),
            found.node.join("openapi-typescript"),
            found.node.join("redocly"),
            found.node.join("tsc"),
        ];
        let missing: Vec<String> = needed
            .iter()
            .filter(|path| !path.exists())
            .map(|path| path.display().to_string())
            .collect();
        if missing.is_empty() {
            return Some(found);
        }
        let message = format!(
            "SKIPPED: {test}, because the OpenAPI and Prometheus tools are not installed \
             (tests/tools/install.sh puts them in target/tools/): missing {}",
            missing.join(", ")
        );
        assert!(std::env::var("PROTOCOL_CI").is_err(), "{message}");
        eprintln!("{message}");
        None
    }

    fn run(&self, program: &Path, args: &[&str], cwd: &Path) -> Output {
        let output = Command::new(program)
            .args(args)
            .current_dir(cwd)
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
        assert!(
            output.status.success(),
            "{} {args:?} failed:\n{}\n{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

/// The binary with the shipped protocol.toml (demo data, example tokens), on free ports, with
/// metrics on, in a temporary folder.
struct Server {
    child: Child,
    base: String,
    metrics: String,
    dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let shipped = std::fs::read_to_string(Path::new(ROOT).join("protocol.toml")).unwrap();
        let config: String = shipped
            .lines()
            .map(|line| match line {
                l if l.starts_with("listen = ") => "listen = \"127.0.0.1:0\"".to_owned(),
                l if l.starts_with("# metrics_listen = ") => {
                    "metrics_listen = \"127.0.0.1:0\"".to_owned()
                }
                l => l.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            config.contains("\nmetrics_listen = "),
            "the shipped file changed"
        );
        std::fs::write(dir.path().join("protocol.toml"), config).unwrap();
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(dir.path().join("protocol.toml"))
            .env_remove("PROTOCOL_LISTEN")
            .env_remove("PROTOCOL_DATABASE")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut next = || lines.next().unwrap().unwrap();
        let base = next()
            .strip_prefix("listening on ")
            .expect("the first line says where")
            .to_owned();
        let metrics = next()
            .strip_prefix("metrics on ")
            .expect("the second line says where the metrics are")
            .to_owned();
        Server {
            child,
            base,
            metrics,
            dir,
        }
    }

    /// GET `url`; (status, body).
    fn get(&self, url: &str) -> (u16, Vec<u8>) {
        let rest = url.strip_prefix("http://").unwrap();
        let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Authorization: Bearer kate-example-token-change-me\r\n\r\n"
        )
        .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let status = String::from_utf8_lossy(&response[9..12]).parse().unwrap();
        (status, response[end + 4..].to_vec())
    }

    /// This server's OpenAPI document, saved as a file.
    fn document(&self) -> PathBuf {
        let (status, body) = self.get(&format!("{}/openapi.json", self.base));
        assert_eq!(status, 200);
        let path = self.dir.path().join("openapi.json");
        std::fs::write(&path, body).unwrap();
        path
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first fenced block of the README in `language` that contains `marker`.
fn readme_example(language: &str, marker: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    readme
        .split(&format!("```{language}\n"))
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("no {language} example with {marker:?} in the README"))
        .to_owned()
}

#[test]
fn the_openapi_document_passes_the_common_validators() {
    let Some(tools) = Tools::find("the_openapi_document_passes_the_common_validators") else {
        return;
    };
    let server = Server::start();
    let document = server.document();
    let document = document.to_str().unwrap();
    let validated = tools.run(
        &tools.python.join("openapi-spec-validator"),
        &[document],
        server.dir.path(),
    );
    assert!(String::from_utf8_lossy(&validated.stdout).contains("OK"));
    // Redocly's recommended rules; it exits 1 on any error.
    tools.run(
        &tools.node.join("redocly"),
        &["lint", "--format", "stylish", document],
        server.dir.path(),
    );
}

#[test]
fn generated_clients_run_the_tour() {
    let Some(tools) = Tools::find("generated_clients_run_the_tour") else {
        return;
    };
    let server = Server::start();
    let document = server.document();
    let folder = server.dir.path().join("clients");
    std::fs::create_dir_all(&folder).unwrap();

    // Python: generate as the README says, run the tour, then the README's example.
    tools.run(
        &tools.python.join("openapi-python-client"),
        &[
            "generate",
            "--path",
            document.to_str().unwrap(),
            "--meta",
            "none",
            "--output-path",
            "protocol_client",
        ],
        &folder,
    );
    let python = tools.python.join("python");
    let tour = tools.run(
        &python,
        &[
            &format!("{ROOT}/tests/tools/tour.py"),
            folder.to_str().unwrap(),
            &server.base,
        ],
        &folder,
    );
    let said = String::from_utf8_lossy(&tour.stdout);
    assert!(said.starts_with("tour: ok"), "{said}");
    let example =
        readme_example("python", "protocol_client").replace("http://127.0.0.1:8080", &server.base);
    std::fs::write(folder.join("example.py"), example).unwrap();
    let ran = tools.run(&python, &["example.py"], &folder);
    let printed = String::from_utf8_lossy(&ran.stdout);
    assert!(
        printed.contains("KateMcCallister Stay put, Kevin."),
        "{printed}"
    );

    // TypeScript: generate the types, and type-check the README's example against them.
    tools.run(
        &tools.node.join("openapi-typescript"),
        &[document.to_str().unwrap(), "-o", "protocol.ts"],
        &folder,
    );
    let types = std::fs::read_to_string(folder.join("protocol.ts")).unwrap();
    assert!(types.contains("\"/v1/messages\"") && types.contains("NewMessageRequest"));
    std::fs::write(
        folder.join("example.ts"),
        readme_example("ts", "from \"./protocol\""),
    )
    .unwrap();
    tools.run(
        &tools.node.join("tsc"),
        &[
            "--noEmit",
            "--strict",
            "--target",
            "es2022",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
            "--lib",
            "es2022,dom",
            "example.ts",
        ],
        &folder,
    );
}

#[test]
fn the_metrics_read_with_the_prometheus_parser() {
    let Some(tools) = Tools::find("the_metrics_read_with_the_prometheus_parser") else {
        return;
    };
    let server = Server::start();
    for path in [
        "/health",
        "/v1/conversations",
        "/v1/messages?conversation_id=xgQQXg3hrtjh7AvZ",
        "/v1/nowhere",
    ] {
        server.get(&format!("{}{path}", server.base));
    }
    // A write, so that the writer has batches to report.
    let (status, _) = {
        let addr = server.base.trim_start_matches("http://");
        let body = "conversation_id=xgQQXg3hrtjh7AvZ&message=Stay+put";
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "POST /v1/messages HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Authorization: Bearer kate-example-token-change-me\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        (response[9..12].to_owned(), response)
    };
    assert_eq!(status, "201");
    let (status, text) = server.get(&server.metrics);
    assert_eq!(status, 200);
    let mut check = Command::new(tools.python.join("python"))
        .arg(format!("{ROOT}/tests/tools/check_metrics.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check.stdin.take().unwrap().write_all(&text).unwrap();
    let output = check.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&text)
    );
}
