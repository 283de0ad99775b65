//! Attachments: streamed multipart upload, the bytes with ranges, and the records.

use super::schemas::Binary;
use super::{check, created, ok};
use crate::account::Account;
use crate::body_clock::BodyClock;
use crate::db::records;
use crate::db::{attachments::NewAttachment, ids::new_id};
use crate::error::ErrorBody;
use crate::error::{Error, ErrorKind, Result};
use crate::extract::Query;
use crate::idempotency::{self, IdempotencyKey};
use crate::input::{Input, Request};
use crate::pagination::{Filters, List, Listing, PageQuery};
use crate::ranges::{self, Answer, Conditions, Validators};
use crate::views::Attachment;
use crate::{AppState, Settings, rules};
use actix_multipart::{Field, Multipart};
use actix_web::body::SizedStream;
use actix_web::http::header::{
    self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
};
use actix_web::{HttpRequest, HttpResponse, web};
use utoipa::{IntoParams, ToSchema};

type Id = web::Path<String>;

/// Room for the multipart framing around the file itself.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;
/// Largest text field (`message_id`) read from an upload form.
const MAX_TEXT_FIELD: usize = 1024;

/// List all attachments
///
/// `GET /v1/attachments`: `conversation_id` optional.
#[utoipa::path(
    get,
    path = "/v1/attachments",
    tag = "attachments",
    params(PageQuery, AttachmentQuery),
    responses((status = 200, description = "Attachments, newest first", body = List<Attachment>)),
)]
pub async fn list_attachments(
    state: web::Data<AppState>,
    account: Account,
    Listing { page, filter }: Listing<AttachmentQuery>,
) -> Result<HttpResponse> {
    let conversation = filter.conversation_id;
    let list = state
        .db
        .attachments_page(account, conversation, page)
        .await?;
    Ok(ok(state.views.attachments(&list)))
}

/// Upload an attachment
///
/// `POST /v1/attachments`: multipart with `file` and optional `message_id`. The file streams to
/// disk as it arrives; its record is committed once all of it is there.
#[utoipa::path(
    post,
    path = "/v1/attachments",
    tag = "attachments",
    request_body(content((UploadRequest = "multipart/form-data"))),
    responses((status = 201, description = "Stored", body = Attachment), (status = 403, description = "message_id names a message that is not yours", body = ErrorBody), (status = 503, description = "The attachment store (an S3 bucket) does not answer: retry after Retry-After", body = ErrorBody)),
)]
pub async fn create_attachment(
    state: web::Data<AppState>,
    account: Account,
    key: IdempotencyKey,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(Error::new(
            ErrorKind::UnsupportedMediaType,
            "Upload the file as multipart/form-data with a part named file (curl -F file=@PATH).",
        ));
    }
    let limit = state.settings.max_upload_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit + MULTIPART_OVERHEAD) {
        return Err(crate::files::too_large(limit));
    }

    let clock = BodyClock::new(state.settings.min_body_bytes_per_second);
    let mut form = Multipart::new(req.headers(), clock.count(payload));
    let mut upload = None;
    let mut message_id = None;
    while let Some(field) = clock.next(&mut form).await? {
        let field = field.map_err(unreadable)?;
        match field.name() {
            Some("file") if upload.is_none() => {
                let declared_type = field.content_type().map(|m| m.essence_str().to_owned());
                let has_filename = field
                    .content_disposition()
                    .and_then(|cd| cd.get_filename())
                    .is_some();
                if !has_filename && declared_type.is_none() {
                    // `curl -F file="../x.pdf"` (the docs' example) sends the path as text.
                    return Err(Error::invalid(
                        "file",
                        "file arrived as a text field, not a file: send the file itself \
                         (curl -F file=@PATH; the @ makes curl read the file).",
                    ));
                }
                let filename = rules::upload_filename(
                    field
                        .content_disposition()
                        .and_then(|cd| cd.get_filename())
                        .unwrap_or_default(),
                );
                let received = state.files.receive(field, limit, &clock).await?;
                upload = Some((received, filename, declared_type));
            }
            Some("file") => return Err(Error::invalid("file", "Send one file per upload.")),
            Some("message_id") => message_id = Some(text_field(field, &clock).await?),
            // Unknown attributes are ignored (contract §1); a large one is refused, not stored.
            _ => drain(field, &clock).await?,
        }
    }
    let Some((received, filename, declared_type)) = upload else {
        return Err(Error::invalid(
            "file",
            "A part named file is required (curl -F file=@PATH).",
        ));
    };
    let new = NewAttachment {
        id: new_id(),
        file_type: file_type(declared_type.as_deref(), &filename),
        filename,
        file_size: received.size,
        message_id: message_id.filter(|m| !m.is_empty()),
    };
    state.files.keep(received, &new.id).await?;
    let id = new.id.clone();
    let views = state.clone();
    let receipt = key.receipt(move |attachment: &records::Attachment| {
        idempotency::created(views.views.attachment(attachment))
    });
    let result = state.db.add_attachment(account, new, receipt).await;
    match result {
        Ok(attachment) => Ok(created(state.views.attachment(&attachment))),
        Err(error) => {
            state.files.remove(&id).await;
            Err(error.into())
        }
    }
}

/// Retrieve an attachment
///
/// `GET /v1/attachments/:id`
#[utoipa::path(
    get,
    path = "/v1/attachments/{id}",
    tag = "attachments",
    params(("id" = String, Path, description = "The object's id", example = "Nc6yKKMpcxiiFxp6")),
    responses((status = 200, description = "The attachment", body = Attachment)),
)]
pub async fn get_attachment(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    let attachment = state.db.attachment(account, id.into_inner()).await?;
    Ok(ok(state.views.attachment(&attachment)))
}

/// Download an attachment's bytes
///
/// `GET /v1/attachments/:id/content`: the bytes, with ranges (206) and the filename.
#[utoipa::path(
    get,
    path = "/v1/attachments/{id}/content",
    tag = "attachments",
    params(("id" = String, Path, description = "The object's id", example = "Nc6yKKMpcxiiFxp6"), ("Range" = Option<String>, Header, description = "bytes=START-END (one range; several get the whole file)"), ("If-Range" = Option<String>, Header, description = "An ETag or Last-Modified date: the range only if the bytes still match")),
    responses((status = 200, description = "The bytes, with the file's own Content-Type", content((Binary = "application/octet-stream"), (Binary = "*/*"))), (status = 206, description = "The requested range", content((Binary = "application/octet-stream"), (Binary = "*/*"))), (status = 416, description = "The range is outside the file", body = ErrorBody), (status = 503, description = "The attachment store (an S3 bucket) does not answer: retry after Retry-After", body = ErrorBody)),
)]
pub async fn get_attachment_content(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let stored = state.db.stored_file(account, id.clone()).await?;
    let validators = Validators::new(&id, stored.file_size, stored.created_at);
    let headers = req.headers();
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let conditions = Conditions {
        range: text(header::RANGE),
        if_range: text(header::IF_RANGE),
        if_none_match: text(header::IF_NONE_MATCH),
        if_modified_since: text(header::IF_MODIFIED_SINCE),
    };
    let size = stored.file_size;
    let answer = ranges::decide(size, &validators, &conditions);
    let mut response = match answer {
        Answer::Whole => HttpResponse::Ok(),
        Answer::Part { .. } => HttpResponse::PartialContent(),
        Answer::NotModified => HttpResponse::NotModified(),
        Answer::Unsatisfiable => {
            let error = Error::new(
                ErrorKind::RangeNotSatisfiable,
                "The Range header names no bytes of this file (e.g. Range: bytes=0-1023).",
            )
            .with_param("Range");
            let mut response = error.to_response(&state.settings.public_url);
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                header::HeaderValue::from_str(&format!("bytes */{size}"))
                    .map_err(Error::internal)?,
            );
            return Ok(response);
        }
    };
    response
        .insert_header((header::ETAG, validators.etag.as_str()))
        .insert_header((
            header::LAST_MODIFIED,
            ranges::http_date(validators.last_modified),
        ))
        .insert_header((header::ACCEPT_RANGES, "bytes"));
    if answer == Answer::NotModified {
        return Ok(response.finish());
    }
    let (start, len) = match answer {
        Answer::Part { start, len } => {
            let last = start + len - 1;
            response.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {start}-{last}/{size}"),
            ));
            (start, len)
        }
        _ => (0, size),
    };
    let bytes = state.files.read(&id, start, len).await?;
    let mime: mime_guess::Mime = stored
        .file_type
        .parse()
        .unwrap_or(mime_guess::mime::APPLICATION_OCTET_STREAM);
    let mut response = response
        .insert_header((
            header::CONTENT_DISPOSITION,
            disposition(&stored.filename, &mime),
        ))
        .content_type(mime.to_string())
        .body(SizedStream::new(len, bytes));
    contain(response.headers_mut());
    Ok(response)
}

/// Rename an attachment
///
/// `PUT /v1/attachments/:id`: `filename` only, by the uploader.
#[utoipa::path(
    put,
    path = "/v1/attachments/{id}",
    tag = "attachments",
    params(("id" = String, Path, description = "The object's id", example = "Nc6yKKMpcxiiFxp6")),
    request_body(content((UpdateAttachmentRequest = "application/json"), (UpdateAttachmentRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Renamed", body = Attachment), (status = 403, description = "Only the uploader may", body = ErrorBody)),
)]
pub async fn update_attachment(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
    Input(body): Input<UpdateAttachmentRequest>,
) -> Result<HttpResponse> {
    let attachment = match body.filename {
        Some(filename) => {
            state
                .db
                .rename_attachment(account, id.into_inner(), filename)
                .await?
        }
        None => state.db.attachment(account, id.into_inner()).await?,
    };
    Ok(ok(state.views.attachment(&attachment)))
}

/// Delete an attachment
///
/// `DELETE /v1/attachments/:id`: the record and the bytes, by the uploader.
#[utoipa::path(
    delete,
    path = "/v1/attachments/{id}",
    tag = "attachments",
    params(("id" = String, Path, description = "The object's id", example = "Nc6yKKMpcxiiFxp6")),
    responses((status = 204, description = "Deleted with its bytes"), (status = 403, description = "Only the uploader may", body = ErrorBody)),
)]
pub async fn delete_attachment(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
) -> Result<HttpResponse> {
    state.db.delete_attachment(account, id.into_inner()).await?;
    Ok(super::deleted(&state).await)
}

/// Image types a browser only decodes, never runs: the only ones shown `inline`.
const INLINE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Uploaded bytes never run at the server's origin: whatever the browser makes of them (an
/// uploader may declare `text/html`), it must not sniff another type, and a document it
/// renders anyway is sandboxed with nothing allowed.
fn contain(headers: &mut header::HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("sandbox; default-src 'none'"),
    );
}

/// `Content-Disposition: inline` for a safe raster image, `attachment` for anything else (HTML,
/// SVG, XML, scripts…), with `filename="ascii"; filename*=UTF-8''percent-encoded`.
fn disposition(filename: &str, mime: &mime_guess::Mime) -> ContentDisposition {
    let inline = INLINE_TYPES.contains(&mime.essence_str());
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '_'
            }
        })
        .collect();
    ContentDisposition {
        disposition: if inline {
            DispositionType::Inline
        } else {
            DispositionType::Attachment
        },
        parameters: vec![
            DispositionParam::Filename(ascii),
            DispositionParam::FilenameExt(ExtendedValue {
                charset: Charset::Ext("UTF-8".into()),
                language_tag: None,
                value: filename.as_bytes().to_vec(),
            }),
        ],
    }
}

/// The declared type, unless it says nothing (`application/octet-stream`); else a guess from
/// the name.
fn file_type(declared: Option<&str>, filename: &str) -> String {
    match declared {
        Some(t) if t != "application/octet-stream" && t.len() <= 255 => t.to_owned(),
        _ => mime_guess::from_path(filename)
            .first_or_octet_stream()
            .essence_str()
            .to_owned(),
    }
}

async fn text_field(mut field: Field, clock: &BodyClock) -> Result<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = clock.next(&mut field).await? {
        let chunk = chunk.map_err(unreadable)?;
        if bytes.len() + chunk.len() > MAX_TEXT_FIELD {
            return Err(Error::invalid("message_id", "message_id is too long."));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| Error::invalid("message_id", "message_id must be text."))
}

async fn drain(mut field: Field, clock: &BodyClock) -> Result<()> {
    let mut total = 0;
    while let Some(chunk) = clock.next(&mut field).await? {
        total += chunk.map_err(unreadable)?.len();
        if total > MAX_TEXT_FIELD {
            return Err(Error::bad_request(
                "Unknown parts of an upload must be small; send only file and message_id.",
            ));
        }
    }
    Ok(())
}

fn unreadable(e: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("The multipart body could not be read: {e}."))
}

/// `POST /v1/attachments` (`curl -F file=@PATH`).
#[derive(ToSchema)]
pub struct UploadRequest {
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// A message you sent, to attach the file to (empty: none).
    #[schema(nullable = false, pattern = r"^([A-Za-z0-9]{16})?$")]
    pub message_id: Option<String>,
}

/// `PUT /v1/attachments/:id`
#[derive(serde::Deserialize, ToSchema)]
#[schema(example = json!({"filename": "invoice.pdf"}))]
pub struct UpdateAttachmentRequest {
    #[schema(schema_with = super::schemas::filename)]
    pub filename: Option<String>,
}

impl Request for UpdateAttachmentRequest {
    fn validate(&self, _: &Settings) -> Result<()> {
        match &self.filename {
            Some(name) => check(rules::filename(name), "filename"),
            None => Ok(()),
        }
    }
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttachmentQuery {
    /// Only the attachments of this conversation's messages.
    /// (An empty value is no filter.)
    #[param(pattern = r"^([A-Za-z0-9]{16})?$")]
    pub conversation_id: Option<String>,
}

impl Filters for AttachmentQuery {
    fn from_query(query: &Query) -> Result<AttachmentQuery> {
        Ok(AttachmentQuery {
            conversation_id: query.filter("conversation_id")?,
        })
    }
}
