//! Attachments: streamed multipart upload, the bytes with ranges, and the records.

use super::schemas::Binary;
use super::{check, created, ok};
use crate::auth::Account;
use crate::db::attachments::Attachment;
use crate::db::{self, attachments::NewAttachment, ids::new_id};
use crate::error::ErrorBody;
use crate::error::{Error, ErrorKind, Result};
use crate::extract::Query;
use crate::input::{Input, Request};
use crate::pagination::{Filters, List, Listing, PageQuery};
use crate::{AppState, Settings, rules};
use actix_files::NamedFile;
use actix_multipart::{Field, Multipart};
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
    let base = state.settings.public_url.clone();
    let list = state
        .db
        .read(move |c| db::attachments::list(c, &account.id, conversation.as_deref(), &page, &base))
        .await?;
    Ok(ok(list))
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
    responses((status = 201, description = "Stored", body = Attachment), (status = 403, description = "message_id names a message that is not yours", body = ErrorBody)),
)]
pub async fn create_attachment(
    state: web::Data<AppState>,
    account: Account,
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

    let mut form = Multipart::new(req.headers(), payload);
    let mut upload = None;
    let mut message_id = None;
    while let Some(field) = crate::error::next_chunk(&mut form).await? {
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
                let received = state.files.receive(field, limit).await?;
                upload = Some((received, filename, declared_type));
            }
            Some("file") => return Err(Error::invalid("file", "Send one file per upload.")),
            Some("message_id") => message_id = Some(text_field(field).await?),
            // Unknown attributes are ignored (contract §1); a large one is refused, not stored.
            _ => drain(field).await?,
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
    state.files.keep(received, &new.id)?;
    let base = state.settings.public_url.clone();
    let id = new.id.clone();
    let result = state
        .db
        .write(move |tx| db::attachments::create(tx, &account.id, &new, db::now(), &base))
        .await;
    match result {
        Ok(attachment) => Ok(created(attachment)),
        Err(error) => {
            state.files.remove(&id);
            Err(error)
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
    let base = state.settings.public_url.clone();
    let attachment = state
        .db
        .read(move |c| db::attachments::get(c, &account.id, &id, &base))
        .await?;
    Ok(ok(attachment))
}

/// Download an attachment's bytes
///
/// `GET /v1/attachments/:id/content`: the bytes, with ranges (206) and the filename.
#[utoipa::path(
    get,
    path = "/v1/attachments/{id}/content",
    tag = "attachments",
    params(("id" = String, Path, description = "The object's id", example = "Nc6yKKMpcxiiFxp6"), ("Range" = Option<String>, Header, description = "bytes=START-END")),
    responses((status = 200, description = "The bytes, with the file's own Content-Type", content((Binary = "application/octet-stream"), (Binary = "*/*"))), (status = 206, description = "The requested range", content((Binary = "application/octet-stream"), (Binary = "*/*"))), (status = 416, description = "The range is outside the file", body = ErrorBody)),
)]
pub async fn get_attachment_content(
    state: web::Data<AppState>,
    account: Account,
    id: Id,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let id = id.into_inner();
    let lookup = id.clone();
    let stored = state
        .db
        .read(move |c| db::attachments::stored_file(c, &account.id, &lookup))
        .await?;
    let path = state
        .files
        .path(&id)
        .ok_or_else(|| Error::not_found("attachment", &id))?;
    let file = NamedFile::open_async(&path)
        .await
        .map_err(|e| Error::internal(format!("open {}: {e}", path.display())))?;
    let mime = stored
        .file_type
        .parse()
        .unwrap_or(mime_guess::mime::APPLICATION_OCTET_STREAM);
    let response = file
        .set_content_type(mime)
        .use_etag(true)
        .set_content_disposition(disposition(&stored.filename))
        .into_response(&req);
    if response.status() == actix_web::http::StatusCode::RANGE_NOT_SATISFIABLE {
        return Err(Error::new(
            ErrorKind::RangeNotSatisfiable,
            "The Range header names no bytes of this file (e.g. Range: bytes=0-1023).",
        )
        .with_param("Range"));
    }
    Ok(response)
}

/// A `Range` header that is not a valid `bytes=` range set is ignored (RFC 9110 §14.2), so the
/// whole file comes back with 200; a valid one that names no byte of the file still gets 416.
pub async fn ignore_malformed_range(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> std::result::Result<
    actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
    actix_web::Error,
> {
    let malformed = req
        .headers()
        .get(header::RANGE)
        .is_some_and(|value| !value.to_str().is_ok_and(is_byte_range_set));
    if malformed {
        req.headers_mut().remove(header::RANGE);
    }
    next.call(req).await
}

/// `bytes=0-499`, `bytes=500-`, `bytes=-500`, `bytes=0-1, 5-9`.
fn is_byte_range_set(value: &str) -> bool {
    let Some(set) = value.trim().strip_prefix("bytes=") else {
        return false;
    };
    let number = |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
    set.split(',')
        .all(|spec| match spec.trim().split_once('-') {
            Some(("", last)) => number(last),
            Some((first, "")) => number(first),
            Some((first, last)) => {
                number(first)
                    && number(last)
                    && first.parse::<u64>().ok() <= last.parse::<u64>().ok()
            }
            None => false,
        })
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
    let base = state.settings.public_url.clone();
    let attachment = match body.filename {
        Some(filename) => {
            state
                .db
                .write(move |tx| db::attachments::rename(tx, &account.id, &id, &filename, &base))
                .await?
        }
        None => {
            state
                .db
                .read(move |c| db::attachments::get(c, &account.id, &id, &base))
                .await?
        }
    };
    Ok(ok(attachment))
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
    let base = state.settings.public_url.clone();
    state
        .db
        .write(move |tx| db::attachments::delete(tx, &account.id, &id, &base))
        .await?;
    Ok(super::deleted(&state).await)
}

/// `Content-Disposition: attachment; filename="ascii"; filename*=UTF-8''percent-encoded`.
fn disposition(filename: &str) -> ContentDisposition {
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
        disposition: DispositionType::Attachment,
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

async fn text_field(mut field: Field) -> Result<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = crate::error::next_chunk(&mut field).await? {
        let chunk = chunk.map_err(unreadable)?;
        if bytes.len() + chunk.len() > MAX_TEXT_FIELD {
            return Err(Error::invalid("message_id", "message_id is too long."));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| Error::invalid("message_id", "message_id must be text."))
}

async fn drain(mut field: Field) -> Result<()> {
    let mut total = 0;
    while let Some(chunk) = crate::error::next_chunk(&mut field).await? {
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

#[cfg(test)]
mod tests {
    use super::is_byte_range_set;

    #[test]
    fn byte_range_sets() {
        for ok in [
            "bytes=0-499",
            "bytes=500-",
            "bytes=-500",
            "bytes=0-1, 5-9",
            "bytes=9-9",
        ] {
            assert!(is_byte_range_set(ok), "{ok}");
        }
        for bad in [
            "",
            "bytes=",
            "items=0-5",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=-",
            "bytes=0-1,",
        ] {
            assert!(!is_byte_range_set(bad), "{bad}");
        }
    }
}
