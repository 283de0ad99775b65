//! The chat web app (issue 16): its files are built into the binary from `web/` and served at
//! `/` (the page) and `/app/VERSION/…` (scripts, styles, the icon), with no build step and
//! nothing fetched from elsewhere.
//!
//! VERSION is a hash of every file, so the files can be cached for good: a new binary with
//! other files has another VERSION and the page names the new paths. The page itself is
//! revalidated on every load (ETag). Every response of the app carries a strict
//! Content-Security-Policy: scripts and styles only from this origin, nothing inline.

use crate::AppState;
use crate::account::Account;
use crate::error::{Error, ErrorKind, Result};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// A file of the app, by its path under `web/`.
struct Asset {
    path: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset { path: $path, body: include_bytes!(concat!("../../web/", $path)) }),*]
    };
}

/// Every file under `web/` but the page and the notes (a test checks that none is missing).
const ASSETS: &[Asset] = assets![
    "app.css",
    "app.js",
    "icon.svg",
    "lib/api.js",
    "lib/events.js",
    "lib/format.js",
    "lib/html.js",
    "lib/icons.js",
    "lib/store.js",
    "vendor/hooks.mjs",
    "vendor/htm.mjs",
    "vendor/preact.mjs",
    "views/composer.js",
    "views/contacts.js",
    "views/conversation.js",
    "views/devdrawer.js",
    "views/dialog.js",
    "views/groups.js",
    "views/message.js",
    "views/sidebar.js",
    "views/signin.js",
];

const INDEX: &str = include_str!("../../web/index.html");

/// Where the page's `{{assets}}` points: `/app/VERSION`.
const ASSETS_PLACEHOLDER: &str = "{{assets}}";
/// Where the page lists every module, so that the browser fetches them all at once instead of
/// discovering them import by import.
const PRELOADS_PLACEHOLDER: &str = "{{preloads}}";

/// Scripts, styles, fetches and images only from this origin (images also from `blob:`, which
/// is how attachments fetched with the token are shown); no inline script or style, no
/// plugins, no framing, no form posting anywhere, no `<base>`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' blob:; connect-src 'self'; manifest-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

struct Built {
    version: String,
    /// `"VERSION"`, the ETag of the page and of every file.
    etag: String,
    page: String,
}

static BUILT: LazyLock<Built> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    hash.update(INDEX.as_bytes());
    for asset in ASSETS {
        hash.update(asset.path.as_bytes());
        hash.update((asset.body.len() as u64).to_le_bytes());
        hash.update(asset.body);
    }
    let digest = hash.finalize();
    let version: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let preloads: String = ASSETS
        .iter()
        .filter(|a| a.path.ends_with(".js") || a.path.ends_with(".mjs"))
        .map(|a| {
            format!(
                "<link rel=\"modulepreload\" href=\"{ASSETS_PLACEHOLDER}/{}\">\n",
                a.path
            )
        })
        .collect();
    let page = INDEX
        .replace(PRELOADS_PLACEHOLDER, &preloads)
        .replace(ASSETS_PLACEHOLDER, &format!("/app/{version}"));
    Built {
        etag: format!("\"{version}\""),
        version,
        page,
    }
});

/// The version in the files' paths.
pub fn version() -> &'static str {
    &BUILT.version
}

/// The paths of the embedded files (for the test that compares them with `web/`).
pub fn asset_paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.path)
}

/// `GET /` and `HEAD /`: the app's page.
pub async fn page(req: HttpRequest) -> HttpResponse {
    let built = &*BUILT;
    respond(
        &req,
        "text/html; charset=utf-8",
        "no-cache",
        built.page.as_bytes(),
    )
}

/// `GET /app/{version}/{path}` (and `HEAD`): one of the app's files. A page from an older
/// binary may still ask for its version; it gets today's files, revalidated each time.
pub async fn asset(req: HttpRequest, path: web::Path<(String, String)>) -> Result<HttpResponse> {
    let (version, path) = path.into_inner();
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return Err(Error::new(
            ErrorKind::NotFound,
            "No such file in the web app.",
        ));
    };
    let cache = if version == BUILT.version {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Ok(respond(&req, content_type(asset.path), cache, asset.body))
}

/// `GET /app/demo-accounts`: no token needed; `[]` unless the server has demo data and
/// accounts with the example tokens.
pub async fn list_demo_accounts(state: web::Data<AppState>) -> HttpResponse {
    json(&*state.demo_accounts())
}

/// Who the token belongs to: the app needs its own contact id to tell its messages apart, and
/// the API has no such route.
#[derive(Serialize)]
struct Me<'a> {
    id: &'a str,
    username: &'a str,
}

/// `GET /app/me`: the account of the token.
pub async fn me(account: Account) -> HttpResponse {
    json(&Me {
        id: &account.id,
        username: &account.username,
    })
}

fn json(body: &impl Serialize) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(bytes) => secured(&mut HttpResponse::Ok())
            .insert_header(header::ContentType::json())
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(bytes),
        Err(e) => actix_web::ResponseError::error_response(&Error::internal(format!(
            "response not serializable: {e}"
        ))),
    }
}

/// 200 with the body, or 304 when the client has this version already.
fn respond(
    req: &HttpRequest,
    content_type: &'static str,
    cache: &'static str,
    body: &'static [u8],
) -> HttpResponse {
    let etag = &BUILT.etag;
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    secured(&mut response)
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, cache));
    if fresh {
        return response.finish();
    }
    response
        .insert_header((header::CONTENT_TYPE, content_type))
        .body(body)
}

/// The headers every response of the app carries.
fn secured(response: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    response
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header(("Cross-Origin-Opener-Policy", "same-origin"))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn page_names_the_versioned_files() {
        assert!(!BUILT.page.contains(ASSETS_PLACEHOLDER));
        assert!(!BUILT.page.contains(PRELOADS_PLACEHOLDER));
        let preloaded = |path: &str| {
            BUILT.page.contains(&format!(
                "rel=\"modulepreload\" href=\"/app/{}/{path}\"",
                BUILT.version
            ))
        };
        assert!(preloaded("lib/store.js") && preloaded("vendor/preact.mjs"));
        assert!(!preloaded("app.css"));
        assert!(
            BUILT
                .page
                .contains(&format!("/app/{}/app.js", BUILT.version))
        );
        assert_eq!(BUILT.version.len(), 12);
    }

    #[test]
    fn every_file_of_web_is_embedded() {
        fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    out.push(
                        path.strip_prefix(root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut on_disk = Vec::new();
        walk(&root, &root, &mut on_disk);
        on_disk.retain(|p| p != "index.html" && !p.ends_with(".md"));
        on_disk.sort();
        let mut embedded: Vec<String> = asset_paths().map(str::to_owned).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "list every file of web/ in ASSETS");
    }

    /// The app works with no network: no file names a URL of another site (XML namespaces,
    /// which are names and never fetched, aside).
    #[test]
    fn nothing_points_elsewhere() {
        let texts = ASSETS
            .iter()
            .map(|a| (a.path, String::from_utf8_lossy(a.body).into_owned()))
            .chain([("index.html", INDEX.to_owned())]);
        for (path, text) in texts {
            for scheme in ["http://", "https://", "//cdn", "@import"] {
                for (at, _) in text.match_indices(scheme) {
                    let rest = &text[at..];
                    assert!(
                        rest.starts_with("http://www.w3.org/"),
                        "{path} names {}",
                        &rest[..rest.len().min(60)]
                    );
                }
            }
        }
    }

    #[test]
    fn every_asset_has_a_known_type() {
        for asset in ASSETS {
            assert_ne!(
                content_type(asset.path),
                "application/octet-stream",
                "{}",
                asset.path
            );
        }
    }
}
