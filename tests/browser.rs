//! The web app in a real browser: runs `tests/browser/test_webapp.py` (Playwright for Python
//! driving Debian's Chromium) against this build's binary, inside a network namespace that
//! has only loopback when `unshare -rn` works here, so nothing can be fetched from elsewhere.
//!
//! Without Chromium or Playwright it prints SKIPPED and passes, unless `PROTOCOL_CI=1` (set by
//! `.ci/run`, which installs both): then it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn missing_tools() -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is missing (apt-get install chromium)"));
    }
    let playwright = Command::new("python3")
        .args(["-c", "import playwright.sync_api"])
        .output();
    match playwright {
        Ok(out) if out.status.success() => None,
        _ => Some("Playwright for Python is missing (pip install playwright)".into()),
    }
}

/// Whether `unshare -rn` can make a loopback-only network namespace here.
fn can_isolate() -> bool {
    Command::new("unshare")
        .args(["-rn", "sh", "-c", "ip link set lo up"])
        .output()
        .is_ok_and(|out| out.status.success())
}

#[test]
fn web_app_in_a_real_browser() {
    if let Some(why) = missing_tools() {
        if std::env::var("PROTOCOL_CI").as_deref() == Ok("1") {
            panic!("the browser test cannot run in CI: {why}");
        }
        eprintln!("\n*** SKIPPED: web_app_in_a_real_browser, because {why} ***\n");
        return;
    }
    let binary = env!("CARGO_BIN_EXE_protocol");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/test_webapp.py");
    let mut command = if can_isolate() {
        let mut c = Command::new("unshare");
        c.args([
            "-rn",
            "sh",
            "-c",
            "ip link set lo up && exec python3 \"$0\" --binary \"$1\"",
            script,
            binary,
        ]);
        c
    } else {
        eprintln!(
            "note: unshare -rn does not work here; the browser test runs on the host network"
        );
        let mut c = Command::new("python3");
        c.args([script, "--binary", binary]);
        c
    };
    let status = command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("python3 runs");
    assert!(status.success(), "the browser test failed: {status}");
}
