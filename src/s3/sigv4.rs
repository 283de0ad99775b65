//! AWS Signature Version 4 for S3 requests sent with an `Authorization` header: the canonical
//! request, the string to sign, the derived key and the header itself. Written here rather than
//! taken from the AWS SDK (hundreds of crates) for the four calls the server makes.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::time::SystemTime;

/// The hash of an empty payload: GET, HEAD and DELETE send none.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
    /// `s3` for the store; the tests also sign IAM calls to the test server.
    pub service: String,
}

/// One request to sign. `headers` are the ones to sign besides `host`, `x-amz-date` and
/// `x-amz-content-sha256` (which `sign` adds), with lowercase names.
pub struct Request<'a> {
    pub method: &'a str,
    /// The absolute path, already URI-encoded (`encode_path`).
    pub path: &'a str,
    /// Query parameters, not encoded; sorted and encoded here.
    pub query: &'a [(&'a str, &'a str)],
    /// `host[:port]` as sent in the `Host` header.
    pub host: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    /// Lowercase hex SHA-256 of the body.
    pub payload_sha256: &'a str,
}

/// The values of the `x-amz-date` and `authorization` headers to send (with
/// `x-amz-content-sha256`, the request's `payload_sha256`).
pub struct Signed {
    pub amz_date: String,
    pub authorization: String,
}

/// Signs `request` at `now` (the server's clock must be within 15 minutes of S3's).
pub fn sign(credentials: &Credentials, request: &Request, now: SystemTime) -> Signed {
    let amz_date = amz_date(now);
    let date = &amz_date[..8];
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), request.host.to_owned()),
        ("x-amz-content-sha256".into(), request.payload_sha256.into()),
        ("x-amz-date".into(), amz_date.clone()),
    ];
    headers.extend(
        request
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned())),
    );
    headers.sort();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        request.path,
        canonical_query(request.query),
        request.payload_sha256
    );
    let scope = format!(
        "{date}/{}/{}/aws4_request",
        credentials.region, credentials.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let key = [
        date,
        credentials.region.as_str(),
        credentials.service.as_str(),
        "aws4_request",
    ]
    .iter()
    .fold(
        format!("AWS4{}", credentials.secret_access_key).into_bytes(),
        |key, part| hmac(&key, part.as_bytes()),
    );
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    Signed {
        authorization: format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope},SignedHeaders={signed_headers},Signature={signature}",
            credentials.access_key_id
        ),
        amz_date,
    }
}

/// The query string as signed and as sent: parameters sorted by name, each encoded.
pub fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(name, value)| (encode(name, true), encode(value, true)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A path with each segment encoded and its slashes kept.
pub fn encode_path(path: &str) -> String {
    encode(path, false)
}

/// SigV4's URI encoding: every byte but the unreserved ones as `%XX` (uppercase); `/` too
/// unless it separates path segments.
fn encode(text: &str, slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            b'/' if !slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `YYYYMMDDTHHMMSSZ` in UTC: the log's RFC 3339 timestamp without its separators.
fn amz_date(now: SystemTime) -> String {
    crate::logging::utc_timestamp(now).replace(['-', ':'], "")
}

/// Seconds since 1970 of an ISO 8601 UTC time as S3 lists it (`2024-05-01T10:11:12.000Z`);
/// fractions of a second are dropped.
pub fn parse_iso8601(text: &str) -> Option<i64> {
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        text.get(range).and_then(|s| s.parse::<i64>().ok())
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators
        .iter()
        .any(|&(at, want)| text.as_bytes().get(at) != Some(&want))
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(amz: &str) -> SystemTime {
        let iso = format!(
            "{}-{}-{}T{}:{}:{}Z",
            &amz[0..4],
            &amz[4..6],
            &amz[6..8],
            &amz[9..11],
            &amz[11..13],
            &amz[13..15]
        );
        UNIX_EPOCH + Duration::from_secs(parse_iso8601(&iso).unwrap() as u64)
    }

    /// The GET Object example of the S3 docs ("Signature Calculations for the Authorization
    /// Header: Transferring Payload in a Single Chunk"): the first 10 bytes of test.txt.
    #[test]
    fn signs_the_s3_docs_get_object_example() {
        let credentials = Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
            service: "s3".into(),
        };
        let signed = sign(
            &credentials,
            &Request {
                method: "GET",
                path: "/test.txt",
                query: &[],
                host: "examplebucket.s3.amazonaws.com",
                headers: &[("Range", "bytes=0-9")],
                payload_sha256: EMPTY_PAYLOAD_SHA256,
            },
            at("20130524T000000Z"),
        );
        assert_eq!(signed.amz_date, "20130524T000000Z");
        assert_eq!(
            signed.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// Query parameters are sorted by name and encoded: `a b/c` is `a%20b%2Fc`.
    #[test]
    fn query_parameters_are_sorted_and_encoded() {
        assert_eq!(
            canonical_query(&[("prefix", "a b/c"), ("list-type", "2"), ("max-keys", "2")]),
            "list-type=2&max-keys=2&prefix=a%20b%2Fc"
        );
        assert_eq!(encode_path("/bucket/a b/ü"), "/bucket/a%20b/%C3%BC");
    }

    #[test]
    fn dates_convert_both_ways() {
        assert_eq!(parse_iso8601("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(parse_iso8601("2013-05-24T00:00:00Z"), Some(1_369_353_600));
        assert_eq!(
            parse_iso8601("2024-02-29T23:59:59.999Z"),
            Some(1_709_251_199)
        );
        assert_eq!(parse_iso8601("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_iso8601("yesterday"), None);
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_251_199);
        assert_eq!(amz_date(leap), "20240229T235959Z");
    }
}
