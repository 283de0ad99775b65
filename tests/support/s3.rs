//! A throwaway S3 server for the tests that store attachments in a bucket: moto's server
//! (Python, `python3 -m pip install 'moto[server]'`) on a free port, with signature checks on:
//! the first three requests (unchecked) make an IAM user and its access key, and from then on
//! moto recomputes every request's SigV4 signature and refuses a wrong one, so the server's
//! signer is tested against an independent implementation (botocore's). Each test starts its
//! own (about a second) and owns its bucket; the process is killed on drop.
#![allow(dead_code)]

use protocol::s3::sigv4;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

pub const BUCKET: &str = "protocol-test";
pub const REGION: &str = "us-east-1";

pub struct MotoS3 {
    child: Child,
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    log: PathBuf,
}

/// moto with a bucket, or — without moto — a loud skip (a failure in CI).
pub fn start_or_skip(test: &str, dir: &Path) -> Option<MotoS3> {
    match start(dir) {
        Ok(moto) => Some(moto),
        Err(why) => {
            super::skip(test, &format!("no S3 test server: {why}"));
            None
        }
    }
}

fn start(dir: &Path) -> Result<MotoS3, String> {
    let log = dir.join("moto.log");
    let stderr = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    // Requests before the third are not authenticated: the IAM calls below.
    // `python3 -m` rather than the `moto_server` script: the module is found wherever pip put
    // it for this python3, whether or not its scripts' folder is on PATH.
    let child = Command::new("python3")
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", "0"])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    let mut moto = MotoS3 {
        child,
        endpoint: String::new(),
        access_key_id: "setup".into(),
        secret_access_key: "setup".into(),
        log,
    };
    // It prints ` * Running on http://127.0.0.1:PORT` once it listens.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = moto.log_text();
        if let Some(rest) = text.split("Running on http://").nth(1) {
            let addr: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                .collect();
            moto.endpoint = format!("http://{addr}");
            break;
        }
        if let Ok(Some(status)) = moto.child.try_wait() {
            return Err(format!(
                "moto's server exited ({status}; python3 -m pip install 'moto[server]'): {}",
                text.trim()
            ));
        }
        if Instant::now() > deadline {
            return Err(format!("moto's server did not start: {}", text.trim()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    moto.make_user()?;
    moto.client()
        .create_bucket()
        .map_err(|e| format!("cannot create the test bucket: {e}"))?;
    Ok(moto)
}

impl MotoS3 {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The settings of the test bucket.
    pub fn settings(&self) -> protocol::s3::Settings {
        protocol::s3::Settings {
            endpoint: self.endpoint.clone(),
            bucket: BUCKET.into(),
            region: REGION.into(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
        }
    }

    /// A client of the test bucket, for looking behind the server's back.
    pub fn client(&self) -> protocol::s3::Client {
        protocol::s3::Client::new(&self.settings()).unwrap()
    }

    /// The config section that stores attachments in the test bucket.
    pub fn config_section(&self, orphan_grace_seconds: u64) -> String {
        format!(
            "[attachments]\nstore = \"s3\"\n[attachments.s3]\nendpoint = \"{}\"\nbucket = \"{BUCKET}\"\n\
             region = \"{REGION}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n\
             orphan_grace_seconds = {orphan_grace_seconds}\n",
            self.endpoint, self.access_key_id, self.secret_access_key
        )
    }

    /// The keys in the bucket, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .client()
            .list_all()
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        keys.sort();
        keys
    }

    /// Stops the server, as an outage would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// An IAM user allowed everything, and its access key (the three unauthenticated calls).
    fn make_user(&mut self) -> Result<(), String> {
        self.iam(&[("Action", "CreateUser"), ("UserName", "protocol")])?;
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        self.iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", "protocol"),
            ("PolicyName", "everything"),
            ("PolicyDocument", policy),
        ])?;
        let answer = self.iam(&[("Action", "CreateAccessKey"), ("UserName", "protocol")])?;
        let field = |tag: &str| {
            answer
                .split(&format!("<{tag}>"))
                .nth(1)
                .and_then(|rest| rest.split(&format!("</{tag}>")).next())
                .map(str::to_owned)
                .ok_or_else(|| format!("no {tag} in {answer}"))
        };
        self.access_key_id = field("AccessKeyId")?;
        self.secret_access_key = field("SecretAccessKey")?;
        Ok(())
    }

    /// One IAM call (a form POST), signed for the `iam` service so moto routes it there.
    fn iam(&self, params: &[(&str, &str)]) -> Result<String, String> {
        let mut all = params.to_vec();
        all.push(("Version", "2010-05-08"));
        let body = sigv4::canonical_query(&all);
        let host = self.endpoint.trim_start_matches("http://").to_owned();
        let payload = {
            use sha2::Digest;
            sigv4::hex(&sha2::Sha256::digest(body.as_bytes()))
        };
        let credentials = sigv4::Credentials {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            region: REGION.into(),
            service: "iam".into(),
        };
        let content_type = "application/x-www-form-urlencoded";
        let signed = sigv4::sign(
            &credentials,
            &sigv4::Request {
                method: "POST",
                path: "/",
                query: &[],
                host: &host,
                headers: &[("content-type", content_type)],
                payload_sha256: &payload,
            },
            SystemTime::now(),
        );
        let response = ureq::post(&format!("{}/", self.endpoint))
            .header("content-type", content_type)
            .header("x-amz-date", &signed.amz_date)
            .header("x-amz-content-sha256", &payload)
            .header("authorization", &signed.authorization)
            .config()
            .http_status_as_error(false)
            .build()
            .send(body.as_str())
            .map_err(|e| format!("IAM call to moto: {e}"))?;
        let status = response.status();
        let text = response
            .into_body()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(format!("IAM {params:?}: {status} {text}"))
        }
    }
}

impl Drop for MotoS3 {
    fn drop(&mut self) {
        self.kill();
    }
}
