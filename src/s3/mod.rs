//! A small blocking client for S3-compatible object storage (AWS S3, MinIO, Ceph, Garage…):
//! the calls the attachment store makes, path-style (`ENDPOINT/BUCKET/KEY`), signed with
//! Signature Version 4. Every call blocks: callers run it off the async threads.

pub mod sigv4;

use sigv4::{Credentials, EMPTY_PAYLOAD_SHA256};
use std::fmt;
use std::io::Read;
use std::time::{Duration, SystemTime};
use ureq::SendBody;

/// Longest error or listing answer read from S3 (a listing of 1000 keys is about 250 KiB).
const MAX_ANSWER: u64 = 4 * 1024 * 1024;

/// Where the bucket is and who the server is to it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `http(s)://host[:port]`, without a path.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Why a call failed.
#[derive(Debug)]
pub enum S3Error {
    /// No answer: refused, reset, timed out, DNS, TLS.
    Unreachable(String),
    /// An answer that says no: its status and S3's `<Code>` and `<Message>`.
    Status {
        status: u16,
        code: String,
        message: String,
    },
    /// An answer that cannot be read (a listing that is not S3's XML).
    Garbled(String),
}

impl S3Error {
    pub fn is_not_found(&self) -> bool {
        matches!(self, S3Error::Status { status: 404, .. })
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            S3Error::Unreachable(e) => write!(f, "no answer: {e}"),
            // A HEAD answer has no body to say why: the status must.
            S3Error::Status { status, code, .. } if code.is_empty() => {
                let why = match status {
                    301 => " (the bucket is in another region: set attachments.s3.region)",
                    403 => {
                        " (access denied: a wrong access key, secret or region, or a key that \
                         may not use this bucket)"
                    }
                    404 => " (no such bucket or object)",
                    _ => "",
                };
                write!(f, "HTTP {status}{why}")
            }
            S3Error::Status {
                status,
                code,
                message,
            } => write!(f, "HTTP {status} {code}: {message}"),
            S3Error::Garbled(e) => write!(f, "unreadable answer: {e}"),
        }
    }
}

pub type S3Result<T> = Result<T, S3Error>;

/// An object in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    /// Seconds since 1970.
    pub last_modified: i64,
}

/// A page of a listing and the token of the next one.
pub struct ListPage {
    pub objects: Vec<Listed>,
    pub next: Option<String>,
}

pub struct Client {
    agent: ureq::Agent,
    credentials: Credentials,
    endpoint: String,
    /// `host[:port]` of the endpoint, as the `Host` header carries it.
    host: String,
    bucket: String,
}

impl Client {
    pub fn new(settings: &Settings) -> Result<Client, String> {
        let endpoint = settings.endpoint.trim_end_matches('/').to_owned();
        let host = endpoint_host(&endpoint)?;
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .build();
        // A stalled store fails the request within a minute instead of holding it; a download
        // to a slow client may take as long as it needs, so there is no limit on the whole body.
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .timeout_per_write(Some(Duration::from_secs(60)))
            .tls_config(tls)
            .build()
            .into();
        Ok(Client {
            agent,
            credentials: Credentials {
                access_key_id: settings.access_key_id.clone(),
                secret_access_key: settings.secret_access_key.clone(),
                region: settings.region.clone(),
                service: "s3".into(),
            },
            endpoint,
            host,
            bucket: settings.bucket.clone(),
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Whether the bucket is there and these credentials may use it.
    pub fn head_bucket(&self) -> S3Result<()> {
        let response = self.send("HEAD", None, &[], &[], EMPTY_PAYLOAD_SHA256, None)?;
        expect_success(response).map(drop)
    }

    /// Creates the bucket (the tests make theirs; an operator makes it beforehand).
    pub fn create_bucket(&self) -> S3Result<()> {
        let response = self.send("PUT", None, &[], &[], EMPTY_PAYLOAD_SHA256, None)?;
        expect_success(response).map(drop)
    }

    /// Stores `len` bytes read from `body`, whose SHA-256 is `sha256` (lowercase hex): S3
    /// checks the bytes against it, so a cut or corrupted transfer is refused, not stored.
    pub fn put_object(
        &self,
        key: &str,
        body: &mut dyn Read,
        len: u64,
        sha256: &str,
    ) -> S3Result<()> {
        let len_text = len.to_string();
        let headers = [("content-length", len_text.as_str())];
        let response = self.send(
            "PUT",
            Some(key),
            &[],
            &headers,
            sha256,
            Some(SendBody::from_reader(body)),
        )?;
        expect_success(response).map(drop)
    }

    /// `len` bytes of an object from `start` (`len` > 0), as a reader of the answer's body.
    pub fn get_range(&self, key: &str, start: u64, len: u64) -> S3Result<impl Read + Send + use<>> {
        let range = format!("bytes={start}-{}", start + len - 1);
        let response = self.send(
            "GET",
            Some(key),
            &[],
            &[("range", range.as_str())],
            EMPTY_PAYLOAD_SHA256,
            None,
        )?;
        let response = expect_success(response)?;
        let length = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if length != Some(len) {
            return Err(S3Error::Garbled(format!(
                "asked for {range} of {key}, got {length:?} bytes"
            )));
        }
        Ok(response.into_body().into_reader())
    }

    /// Whether an object is there.
    pub fn exists(&self, key: &str) -> S3Result<bool> {
        let response = self.send("HEAD", Some(key), &[], &[], EMPTY_PAYLOAD_SHA256, None)?;
        match expect_success(response) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes an object; one that is not there is no error.
    pub fn delete(&self, key: &str) -> S3Result<()> {
        let response = self.send("DELETE", Some(key), &[], &[], EMPTY_PAYLOAD_SHA256, None)?;
        match expect_success(response) {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One page (up to 1000 objects) of the bucket's listing (ListObjectsV2), from `token`.
    pub fn list_page(&self, token: Option<&str>) -> S3Result<ListPage> {
        let mut query = vec![("list-type", "2")];
        if let Some(token) = token {
            query.push(("continuation-token", token));
        }
        let response = self.send("GET", None, &query, &[], EMPTY_PAYLOAD_SHA256, None)?;
        let response = expect_success(response)?;
        let xml = read_text(response)?;
        parse_listing(&xml)
    }

    /// Every object of the bucket, a page at a time.
    pub fn list_all(&self) -> S3Result<Vec<Listed>> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.list_page(token.as_deref())?;
            objects.extend(page.objects);
            match page.next {
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                _ => return Ok(objects),
            }
        }
    }

    /// Sends one signed request to the bucket (`key`: `None`) or one of its objects.
    fn send(
        &self,
        method: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        payload_sha256: &str,
        body: Option<SendBody>,
    ) -> S3Result<ureq::http::Response<ureq::Body>> {
        let path = match key {
            Some(key) => sigv4::encode_path(&format!("/{}/{key}", self.bucket)),
            None => sigv4::encode_path(&format!("/{}", self.bucket)),
        };
        // Only what must match the signature is signed: `content-length` is sent, not signed.
        let to_sign: Vec<(&str, &str)> = headers
            .iter()
            .copied()
            .filter(|(name, _)| *name != "content-length")
            .collect();
        let signed = sigv4::sign(
            &self.credentials,
            &sigv4::Request {
                method,
                path: &path,
                query,
                host: &self.host,
                headers: &to_sign,
                payload_sha256,
            },
            SystemTime::now(),
        );
        let query_text = sigv4::canonical_query(query);
        let url = if query_text.is_empty() {
            format!("{}{path}", self.endpoint)
        } else {
            format!("{}{path}?{query_text}", self.endpoint)
        };
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("x-amz-date", &signed.amz_date)
            .header("x-amz-content-sha256", payload_sha256)
            .header("authorization", &signed.authorization);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let garbled = |e: ureq::http::Error| S3Error::Garbled(format!("request: {e}"));
        match body {
            Some(body) => self.agent.run(request.body(body).map_err(garbled)?),
            None => self.agent.run(request.body(()).map_err(garbled)?),
        }
        .map_err(transport)
    }
}

/// No answer (refused, reset, timed out, TLS); a read error of an upload's spooled file, rare
/// as it is, lands here too.
/// `host[:port]` of an `http(s)://HOST[:PORT]` endpoint, as the `Host` header carries it.
pub fn endpoint_host(endpoint: &str) -> Result<String, String> {
    let endpoint = endpoint.trim_end_matches('/');
    let host = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .filter(|rest| !rest.is_empty() && !rest.contains(['/', '?', '#', '@']))
        .ok_or_else(|| {
            format!(
                "{endpoint:?} must be http(s)://HOST[:PORT], without a path (requests are \
                 path-style: the bucket goes in the path)"
            )
        })?;
    // ureq leaves a scheme's default port out of `Host`; the signature must match it.
    Ok(
        match (endpoint.starts_with("https://"), host.rsplit_once(':')) {
            (true, Some((name, "443"))) | (false, Some((name, "80"))) => name.to_owned(),
            _ => host.to_owned(),
        },
    )
}

fn transport(e: ureq::Error) -> S3Error {
    S3Error::Unreachable(e.to_string())
}

/// The response if it is a 2xx, else its status and S3's error code and message.
fn expect_success(
    response: ureq::http::Response<ureq::Body>,
) -> S3Result<ureq::http::Response<ureq::Body>> {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    // HEAD answers have no body: the status says it all.
    let xml = read_text(response).unwrap_or_default();
    Err(S3Error::Status {
        status,
        code: xml_text(&xml, "Code").unwrap_or_default(),
        message: xml_text(&xml, "Message").unwrap_or_default(),
    })
}

fn read_text(response: ureq::http::Response<ureq::Body>) -> S3Result<String> {
    let mut text = String::new();
    response
        .into_body()
        .into_with_config()
        .limit(MAX_ANSWER)
        .reader()
        .read_to_string(&mut text)
        .map_err(|e| S3Error::Unreachable(format!("reading the answer: {e}")))?;
    Ok(text)
}

/// The objects and next token of a ListObjectsV2 answer. S3's XML is flat and regular; only
/// `Key`, `LastModified`, `IsTruncated` and `NextContinuationToken` are read.
fn parse_listing(xml: &str) -> S3Result<ListPage> {
    if !xml.contains("<ListBucketResult") {
        return Err(S3Error::Garbled(format!(
            "not a listing: {}",
            xml.chars().take(200).collect::<String>()
        )));
    }
    let mut objects = Vec::new();
    for contents in xml.split("<Contents>").skip(1) {
        let contents = contents.split("</Contents>").next().unwrap_or_default();
        let key = xml_text(contents, "Key")
            .ok_or_else(|| S3Error::Garbled("an object without a Key".into()))?;
        let modified = xml_text(contents, "LastModified").unwrap_or_default();
        let last_modified = sigv4::parse_iso8601(&modified).ok_or_else(|| {
            S3Error::Garbled(format!("LastModified {modified:?} of {key} is not a time"))
        })?;
        objects.push(Listed { key, last_modified });
    }
    let truncated = xml_text(xml, "IsTruncated").is_some_and(|t| t == "true");
    let next = if truncated {
        Some(xml_text(xml, "NextContinuationToken").ok_or_else(|| {
            S3Error::Garbled("a truncated listing without NextContinuationToken".into())
        })?)
    } else {
        None
    };
    Ok(ListPage { objects, next })
}

/// The unescaped text of the first `<tag>…</tag>` in `xml`.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(unescape(&xml[start..end]))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_gives_keys_times_and_the_next_token() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>
<IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&amp;x</NextContinuationToken>
<Contents><Key>Nc6yKKMpcxiiFxp6</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified><Size>434234</Size></Contents>
<Contents><Key>a&amp;b</Key><LastModified>2009-10-12T17:50:31Z</LastModified></Contents>
</ListBucketResult>"#;
        let page = parse_listing(xml).unwrap();
        assert_eq!(
            page.objects,
            vec![
                Listed {
                    key: "Nc6yKKMpcxiiFxp6".into(),
                    last_modified: 1_255_369_830
                },
                Listed {
                    key: "a&b".into(),
                    last_modified: 1_255_369_831
                },
            ]
        );
        assert_eq!(
            page.next.as_deref(),
            Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&x")
        );
        let last =
            parse_listing("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>")
                .unwrap();
        assert!(last.objects.is_empty() && last.next.is_none());
        assert!(parse_listing("<html>proxy error</html>").is_err());
    }

    #[test]
    fn an_endpoint_with_a_path_is_refused() {
        let settings = |endpoint: &str| Settings {
            endpoint: endpoint.into(),
            bucket: "b".into(),
            region: "us-east-1".into(),
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
        };
        assert!(Client::new(&settings("http://127.0.0.1:9000/")).is_ok());
        assert!(Client::new(&settings("http://127.0.0.1:9000/bucket")).is_err());
        assert!(Client::new(&settings("ftp://host")).is_err());
        let client = Client::new(&settings("https://s3.example.com:443")).unwrap();
        assert_eq!(client.host, "s3.example.com");
    }
}
