use crate::helpers::*;
use serde_json::json;
use std::path::PathBuf;

/// Every byte value, several times over.
fn binary_file() -> Vec<u8> {
    (0..=255u8).cycle().take(256 * 40 + 7).collect()
}

/// The attachment folder of a test app.
fn storage(app: &TestApp) -> PathBuf {
    app.dir.path().join("test.db-files")
}

/// Names of the stored files (not the temporary folder).
fn stored_files(app: &TestApp) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(storage(app))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|n| n != ".tmp")
        .collect();
    names.sort();
    names
}

fn temporary_files(app: &TestApp) -> usize {
    std::fs::read_dir(storage(app).join(".tmp"))
        .unwrap()
        .count()
}

#[actix_web::test]
async fn upload_and_download_round_trip_byte_for_byte() {
    let app = spawn_app().await;
    let bytes = binary_file();
    let attachment = app
        .upload(
            KEVIN.1,
            "file",
            "every byte.bin",
            Some("application/x-test"),
            &bytes,
            &[],
        )
        .await
        .expect(201)
        .body;
    let id = attachment["id"].as_str().unwrap();
    assert_eq!(attachment["filename"], "every byte.bin");
    assert_eq!(attachment["file_type"], "application/x-test");
    assert_eq!(attachment["file_size"], bytes.len());
    assert!(attachment["message_id"].is_null());
    assert_eq!(
        attachment["file_url"],
        format!("{}/v1/attachments/{id}/content", app.base)
    );
    assert_eq!(stored_files(&app), vec![id.to_owned()]);

    let content = app
        .get(&format!("/v1/attachments/{id}/content"), KEVIN.1)
        .await
        .expect(200);
    assert_eq!(content.raw, bytes);
    assert_eq!(content.header("content-type"), Some("application/x-test"));
    assert_eq!(
        content.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    assert_eq!(content.header("accept-ranges"), Some("bytes"));
    let disposition = content.header("content-disposition").unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename=\"every byte.bin\""),
        "{disposition}"
    );

    let record = app
        .get(&format!("/v1/attachments/{id}"), KEVIN.1)
        .await
        .expect(200);
    assert_eq!(record.body, attachment);
}

#[actix_web::test]
async fn range_requests_get_the_slice() {
    let app = spawn_app().await;
    let bytes = binary_file();
    let id = app
        .upload(KEVIN.1, "file", "r.bin", None, &bytes, &[])
        .await
        .expect(201)
        .id();
    let path = format!("/v1/attachments/{id}/content");
    let part = app
        .request(
            "GET",
            &path,
            Some(KEVIN.1),
            None,
            &[("Range", "bytes=100-355")],
        )
        .await
        .expect(206);
    assert_eq!(part.raw, bytes[100..=355]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 100-355/{}", bytes.len()).as_str())
    );
    let tail = app
        .request("GET", &path, Some(KEVIN.1), None, &[("Range", "bytes=-10")])
        .await
        .expect(206);
    assert_eq!(tail.raw, bytes[bytes.len() - 10..]);
    // From an offset to the end.
    let from = app
        .request(
            "GET",
            &path,
            Some(KEVIN.1),
            None,
            &[("Range", "bytes=10000-")],
        )
        .await
        .expect(206);
    assert_eq!(from.raw, bytes[10000..]);
    assert_eq!(
        from.header("content-range"),
        Some(format!("bytes 10000-{}/{}", bytes.len() - 1, bytes.len()).as_str())
    );
    assert_eq!(
        from.header("content-length"),
        Some((bytes.len() - 10000).to_string().as_str())
    );
    // An end past the file is cut at the file's end (RFC 9110 §14.1.2).
    let past = app
        .request(
            "GET",
            &path,
            Some(KEVIN.1),
            None,
            &[("Range", "bytes=10200-99999999")],
        )
        .await
        .expect(206);
    assert_eq!(past.raw, bytes[10200..]);
    assert_eq!(
        past.header("content-range"),
        Some(format!("bytes 10200-{}/{}", bytes.len() - 1, bytes.len()).as_str())
    );
    // A range that starts past the end: 416, saying how long the file is, with the error body.
    for outside in [
        "bytes=99999999-".to_owned(),
        format!("bytes={}-", bytes.len()),
        format!("bytes={}-{}", bytes.len(), bytes.len() + 10),
    ] {
        let refused = app
            .request("GET", &path, Some(KEVIN.1), None, &[("Range", &outside)])
            .await
            .expect_error(416, Some("Range"));
        assert_eq!(
            refused.header("content-range"),
            Some(format!("bytes */{}", bytes.len()).as_str()),
            "{outside}"
        );
    }
    // Not a byte range at all: ignored (RFC 9110), the whole file comes back.
    for malformed in ["", "bytes=", "items=0-5", "bytes=9-1"] {
        let whole = app
            .request("GET", &path, Some(KEVIN.1), None, &[("Range", malformed)])
            .await
            .expect(200);
        assert_eq!(whole.raw, bytes, "{malformed:?}");
    }
}

#[actix_web::test]
async fn an_upload_reads_file_and_message_id() {
    let app = spawn_app().await;
    // Unknown parts are ignored, like any unknown attribute; a big one is refused.
    app.upload(KEVIN.1, "file", "a.txt", None, b"a", &[("caption", "hi")])
        .await
        .expect(201);
    let big = "x".repeat(10_000);
    app.upload(KEVIN.1, "file", "a.txt", None, b"a", &[("caption", &big)])
        .await
        .expect_error(400, None);
    // An empty message_id is none.
    let upload = app
        .upload(KEVIN.1, "file", "a.txt", None, b"a", &[("message_id", "")])
        .await
        .expect(201);
    assert_eq!(upload.body["message_id"], serde_json::Value::Null);
    // A file part sent as text (curl -F file=PATH, without @) is not a file.
    let (content_type, body) = (
        "multipart/form-data; boundary=XyZ".to_owned(),
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n../a.pdf\r\n--XyZ--\r\n"
            .to_vec(),
    );
    app.request(
        "POST",
        "/v1/attachments",
        Some(KEVIN.1),
        Some((&content_type, body)),
        &[],
    )
    .await
    .expect_error(400, Some("file"));
}

#[actix_web::test]
async fn file_type_is_guessed_from_the_name_when_not_declared() {
    let app = spawn_app().await;
    let pdf = app
        .upload(KEVIN.1, "file", "report.pdf", None, b"%PDF-1.4", &[])
        .await
        .expect(201);
    assert_eq!(pdf.body["file_type"], "application/pdf");
    let unknown = app
        .upload(
            KEVIN.1,
            "file",
            "blob",
            Some("application/octet-stream"),
            b"x",
            &[],
        )
        .await
        .expect(201);
    assert_eq!(unknown.body["file_type"], "application/octet-stream");
}

#[actix_web::test]
async fn over_the_limit_is_413_and_leaves_nothing() {
    let app = spawn_app_with(|c| c.server.max_upload_bytes = 10_000).await;
    let exactly = vec![7u8; 10_000];
    app.upload(KEVIN.1, "file", "ok.bin", None, &exactly, &[])
        .await
        .expect(201);
    let before = stored_files(&app);

    let too_big = vec![7u8; 200_000];
    app.upload(KEVIN.1, "file", "big.bin", None, &too_big, &[])
        .await
        .expect_error(413, Some("file"));
    assert_eq!(stored_files(&app), before);
    assert_eq!(temporary_files(&app), 0);
    let list = app.get("/v1/attachments", KEVIN.1).await.expect(200);
    assert_eq!(list.ids().len(), 1);
}

#[actix_web::test]
async fn a_missing_file_part_or_a_wrong_content_type_is_refused() {
    let app = spawn_app().await;
    app.upload(KEVIN.1, "document", "x.txt", None, b"hello", &[])
        .await
        .expect_error(400, Some("file"));
    app.post_form("/v1/attachments", KEVIN.1, "file=hello")
        .await
        .expect_error(415, None);
    let garbage = (
        "multipart/form-data; boundary=XYZ",
        b"--XYZ\r\nnot a header line".to_vec(),
    );
    let response = app
        .request("POST", "/v1/attachments", Some(KEVIN.1), Some(garbage), &[])
        .await;
    assert!(response.status == 400, "{response:?}");
    assert!(stored_files(&app).is_empty());
}

#[actix_web::test]
async fn hostile_filenames_are_stored_as_plain_names() {
    let app = spawn_app().await;
    let long = format!("{}.txt", "a".repeat(1000));
    for (given, stored) in [
        ("../../etc/passwd", "passwd".to_owned()),
        ("..\\..\\windows\\win.ini", "win.ini".to_owned()),
        ("..", "file".to_owned()),
        (long.as_str(), format!("{}.txt", "a".repeat(251))),
    ] {
        let attachment = app
            .upload(KEVIN.1, "file", given, None, b"data", &[])
            .await
            .expect(201)
            .body;
        assert_eq!(attachment["filename"], stored.as_str(), "{given:?}");
    }
    // A NUL byte cannot even travel in a multipart header: the part is refused.
    app.upload(KEVIN.1, "file", "nul\u{0}byte.txt", None, b"data", &[])
        .await
        .expect_error(400, None);
    // Every file is inside the storage folder, named by id.
    let names = stored_files(&app);
    assert_eq!(names.len(), 4);
    assert!(names.iter().all(|n| n.len() == 16));
    assert!(!app.dir.path().join("etc").exists());

    let id = &names[0];
    for bad in ["../x", "a/b", "a\\b", "", "x\u{0}y"] {
        app.put_json(
            &format!("/v1/attachments/{id}"),
            KEVIN.1,
            json!({"filename": bad}),
        )
        .await
        .expect_error(400, Some("filename"));
    }
    let renamed = app
        .put_form(
            &format!("/v1/attachments/{id}"),
            KEVIN.1,
            "filename=holiday.jpg",
        )
        .await
        .expect(200);
    assert_eq!(renamed.body["filename"], "holiday.jpg");
    let content = app
        .get(&format!("/v1/attachments/{id}/content"), KEVIN.1)
        .await;
    assert!(
        content
            .header("content-disposition")
            .unwrap()
            .contains("holiday.jpg")
    );
}

#[actix_web::test]
async fn non_ascii_filenames_are_quoted_safely() {
    let app = spawn_app().await;
    let id = app
        .upload(KEVIN.1, "file", "пример \"quoted\".txt", None, b"x", &[])
        .await
        .expect(201)
        .id();
    let content = app
        .get(&format!("/v1/attachments/{id}/content"), KEVIN.1)
        .await
        .expect(200);
    let disposition = content.header("content-disposition").unwrap();
    assert!(disposition.contains("filename*=UTF-8''"), "{disposition}");
    assert!(disposition.contains("\\\"quoted\\\""), "{disposition}");
}

#[actix_web::test]
async fn failing_sends_among_concurrent_ones_are_undone_alone() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let kates = app
        .upload(KATE.1, "file", "k.txt", None, b"k", &[])
        .await
        .expect(201)
        .id();
    // Sent at once, they share the writer's batches; those naming Kate's upload fail after
    // their message row was written, so their batch starts over with savepoints.
    let sends = (0..40).map(|i| {
        let form = if i % 2 == 0 {
            format!("conversation_id={conversation}&message=ok+{i}")
        } else {
            format!("conversation_id={conversation}&message=bad+{i}&attachments[]={kates}")
        };
        let app = &app;
        async move { app.post_form("/v1/messages", KEVIN.1, &form).await }
    });
    let responses = futures_util::future::join_all(sends).await;
    for (i, response) in responses.into_iter().enumerate() {
        if i % 2 == 0 {
            response.expect(201);
        } else {
            response.expect_error(404, Some("attachments"));
        }
    }
    let list = app
        .get(
            &format!("/v1/messages?conversation_id={conversation}&limit=100"),
            KEVIN.1,
        )
        .await
        .expect(200);
    let mut texts: Vec<String> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap().to_owned())
        .collect();
    texts.sort();
    let mut expected: Vec<String> = (0..40).step_by(2).map(|i| format!("ok {i}")).collect();
    expected.sort();
    assert_eq!(texts, expected);
}

#[actix_web::test]
async fn messages_carry_attachments_and_linking_rules_hold() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let first = app
        .upload(KEVIN.1, "file", "a.txt", None, b"a", &[])
        .await
        .expect(201)
        .id();
    let second = app
        .upload(KEVIN.1, "file", "b.txt", None, b"b", &[])
        .await
        .expect(201)
        .id();
    let kates = app
        .upload(KATE.1, "file", "k.txt", None, b"k", &[])
        .await
        .expect(201)
        .id();

    // Someone else's upload is as good as absent: 404 naming attachments, and no message is
    // created.
    app.post_form(
        "/v1/messages",
        KEVIN.1,
        &format!("conversation_id={conversation}&message=x&attachments[]={kates}"),
    )
    .await
    .expect_error(404, Some("attachments"));
    let messages = app
        .get(
            &format!("/v1/messages?conversation_id={conversation}"),
            KEVIN.1,
        )
        .await;
    assert!(messages.ids().is_empty());

    // The docs' form: attachments[]=ID.
    let message = app
        .post_form(
            "/v1/messages",
            KEVIN.1,
            &format!("conversation_id={conversation}&message=files&attachments[]={first}"),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(message["attachments"][0]["id"], first.as_str());
    assert_eq!(message["attachments"][0]["message_id"], message["id"]);
    assert_eq!(message["attachments"][0]["filename"], "a.txt");
    let message_id = message["id"].as_str().unwrap();

    // Already on another message: 409.
    app.post_json(
        "/v1/messages",
        KEVIN.1,
        json!({"conversation_id": conversation, "message": "again", "attachments": [first]}),
    )
    .await
    .expect_error(409, Some("attachments"));

    // Kate sees it now, through the message.
    app.get(&format!("/v1/attachments/{first}/content"), KATE.1)
        .await
        .expect(200);
    // But not Kevin's unlinked upload.
    app.get(&format!("/v1/attachments/{second}"), KATE.1)
        .await
        .expect_error(404, None);

    // PUT replaces the list; only the sender may.
    app.put_json(
        &format!("/v1/messages/{message_id}"),
        KATE.1,
        json!({"attachments": [kates]}),
    )
    .await
    .expect_error(403, Some("attachments"));
    let updated = app
        .put_json(
            &format!("/v1/messages/{message_id}"),
            KEVIN.1,
            json!({"attachments": [second]}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(updated["attachments"].as_array().unwrap().len(), 1);
    assert_eq!(updated["attachments"][0]["id"], second.as_str());
    assert!(updated["updated_at"].is_i64());
    let unlinked = app
        .get(&format!("/v1/attachments/{first}"), KEVIN.1)
        .await
        .expect(200);
    assert!(unlinked.body["message_id"].is_null());
}

#[actix_web::test]
async fn upload_straight_onto_a_message_you_sent() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let mine = app.send(KEVIN.1, &conversation, "see file").await;
    let hers = app.send(KATE.1, &conversation, "mine").await;
    let mine_id = mine["id"].as_str().unwrap();
    let attachment = app
        .upload(
            KEVIN.1,
            "file",
            "x.txt",
            None,
            b"x",
            &[("message_id", mine_id)],
        )
        .await
        .expect(201)
        .body;
    assert_eq!(attachment["message_id"], mine_id);
    let message = app
        .get(&format!("/v1/messages/{mine_id}"), KATE.1)
        .await
        .expect(200);
    assert_eq!(message.body["attachments"][0]["id"], attachment["id"]);

    let hers_id = hers["id"].as_str().unwrap();
    app.upload(
        KEVIN.1,
        "file",
        "x.txt",
        None,
        b"x",
        &[("message_id", hers_id)],
    )
    .await
    .expect_error(403, Some("message_id"));
    app.upload(
        KEVIN.1,
        "file",
        "x.txt",
        None,
        b"x",
        &[("message_id", "nonexistent00000")],
    )
    .await
    .expect_error(404, Some("message_id"));
    // The refused uploads left no bytes behind.
    assert_eq!(stored_files(&app).len(), 1);
}

#[actix_web::test]
async fn others_see_nothing_of_what_they_cannot_see() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let id = app
        .upload(KEVIN.1, "file", "secret.txt", None, b"secret", &[])
        .await
        .expect(201)
        .id();
    app.send_with_attachments(KEVIN.1, &conversation, "s", &[&id])
        .await;
    for path in [
        format!("/v1/attachments/{id}"),
        format!("/v1/attachments/{id}/content"),
    ] {
        app.get(&path, PETER.1).await.expect_error(404, None);
    }
    app.put_form(&format!("/v1/attachments/{id}"), PETER.1, "filename=x")
        .await
        .expect_error(404, None);
    app.delete(&format!("/v1/attachments/{id}"), PETER.1)
        .await
        .expect_error(404, None);
    assert!(app.get("/v1/attachments", PETER.1).await.ids().is_empty());
    app.get(
        &format!("/v1/attachments?conversation_id={conversation}"),
        PETER.1,
    )
    .await
    .expect_error(404, Some("conversation_id"));
    // Kate sees it but may not change it.
    app.put_form(&format!("/v1/attachments/{id}"), KATE.1, "filename=x")
        .await
        .expect_error(403, None);
    app.delete(&format!("/v1/attachments/{id}"), KATE.1)
        .await
        .expect_error(403, None);
    let record = app
        .get(&format!("/v1/attachments/{id}"), KEVIN.1)
        .await
        .expect(200);
    assert_eq!(record.body["filename"], "secret.txt");
}

#[actix_web::test]
async fn deleting_removes_the_bytes_on_every_path() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let upload = |name: &'static str| {
        let app = &app;
        async move {
            app.upload(KEVIN.1, "file", name, None, b"bytes", &[])
                .await
                .expect(201)
                .id()
        }
    };

    // 1. The attachment itself.
    let direct = upload("direct").await;
    app.delete(&format!("/v1/attachments/{direct}"), KEVIN.1)
        .await
        .expect(204);
    assert!(!storage(&app).join(&direct).exists());
    app.get(&format!("/v1/attachments/{direct}"), KEVIN.1)
        .await
        .expect_error(404, None);

    // 2. With its message.
    let with_message = upload("m").await;
    let message = app
        .send_with_attachments(KEVIN.1, &conversation, "m", &[&with_message])
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.delete(&format!("/v1/messages/{message}"), KEVIN.1)
        .await
        .expect(204);
    assert!(!storage(&app).join(&with_message).exists());

    // 3. With a conversation nobody keeps.
    let in_conversation = upload("c").await;
    app.send_with_attachments(KEVIN.1, &conversation, "c", &[&in_conversation])
        .await;
    app.delete(&format!("/v1/conversations/{conversation}"), KEVIN.1)
        .await
        .expect(204);
    assert!(
        storage(&app).join(&in_conversation).exists(),
        "Kate still keeps it"
    );
    app.delete(&format!("/v1/conversations/{conversation}"), KATE.1)
        .await
        .expect(204);
    assert!(!storage(&app).join(&in_conversation).exists());

    // 4. With a group.
    let group = app
        .post_form("/v1/groups", KEVIN.1, "name=Family")
        .await
        .expect(201)
        .body;
    let in_group = upload("g").await;
    let group_conversation = group["conversation_id"].as_str().unwrap();
    app.send_with_attachments(KEVIN.1, group_conversation, "g", &[&in_group])
        .await;
    app.delete(
        &format!("/v1/groups/{}", group["id"].as_str().unwrap()),
        KEVIN.1,
    )
    .await
    .expect(204);
    assert!(!storage(&app).join(&in_group).exists());
    assert!(stored_files(&app).is_empty());
}

#[actix_web::test]
async fn list_by_conversation_with_cursors() {
    let app = spawn_app().await;
    let conversation = app.kevin_and_kate().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = app
            .upload(KEVIN.1, "file", &format!("{i}.txt"), None, b"x", &[])
            .await
            .expect(201)
            .id();
        app.send_with_attachments(KEVIN.1, &conversation, "x", &[&id])
            .await;
        ids.push(id);
    }
    // One more, unlinked: Kevin's list has it, the conversation's does not.
    let loose = app
        .upload(KEVIN.1, "file", "loose.txt", None, b"x", &[])
        .await
        .expect(201)
        .id();
    ids.reverse();
    let path = format!("/v1/attachments?conversation_id={conversation}&limit=2");
    let first = app.get(&path, KATE.1).await.expect(200);
    assert_eq!(first.ids(), ids[0..2]);
    assert!(first.has_more());
    let second = app
        .get(&format!("{path}&starting_after={}", ids[1]), KATE.1)
        .await
        .expect(200);
    assert_eq!(second.ids(), ids[2..4]);
    let back = app
        .get(&format!("{path}&ending_before={}", ids[2]), KATE.1)
        .await
        .expect(200);
    assert_eq!(back.ids(), ids[0..2]);
    assert!(!back.has_more());
    app.get(&format!("{path}&starting_after={loose}"), KATE.1)
        .await
        .expect_error(400, Some("starting_after"));

    let all_kevin = app
        .get("/v1/attachments?limit=100", KEVIN.1)
        .await
        .expect(200);
    assert_eq!(all_kevin.ids()[0], loose);
    assert_eq!(all_kevin.ids().len(), 6);
    let all_kate = app
        .get("/v1/attachments?limit=100", KATE.1)
        .await
        .expect(200);
    assert_eq!(all_kate.ids(), ids);
}

#[actix_web::test]
async fn a_crash_leftover_is_swept_at_start_up() {
    // A file without a record (a crash between storing and committing) and an unfinished
    // upload are removed when a server starts on that folder.
    let app = spawn_app().await;
    let orphan = storage(&app).join("AAAAAAAAAAAAAAAA");
    let partial = storage(&app).join(".tmp").join("BBBBBBBBBBBBBBBB");
    // The sweep touches only files older than its process: dated in the future, these are safe
    // from this server's sweep, then dated a minute back for the next server's.
    let date = |files: &[&PathBuf], when: std::time::SystemTime| {
        for file in files {
            std::fs::File::options()
                .write(true)
                .open(file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
                .set_modified(when)
                .unwrap();
        }
    };
    let now = std::time::SystemTime::now();
    std::fs::write(&orphan, b"left over").unwrap();
    std::fs::write(&partial, b"half").unwrap();
    date(
        &[&orphan, &partial],
        now + std::time::Duration::from_secs(3600),
    );
    let kept = app
        .upload(KEVIN.1, "file", "kept.txt", None, b"keep", &[])
        .await
        .expect(201)
        .id();
    app.stop().await;
    let kept_file = storage(&app).join(&kept);
    date(
        &[&orphan, &partial, &kept_file],
        now - std::time::Duration::from_secs(60),
    );

    let again = app.restarted().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while orphan.exists() || partial.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep did not remove the leftovers"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(storage(&app).join(&kept).exists());
    again
        .get(&format!("/v1/attachments/{kept}/content"), KEVIN.1)
        .await
        .expect(200);
}
