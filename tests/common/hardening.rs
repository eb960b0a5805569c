//! The hardening pass, written once for both flavours: stalled transfers end at the configured
//! idle timeout, signed input URLs never show in errors, `Content-Length` whenever the length is
//! known, no redirect is followed with the key, error texts say each thing once, and the
//! environment is read as a pair.

use std::time::{Duration, Instant};

use decart::{Error, FileInput, RetryPolicy, TransportErrorKind};

use super::common::raw::{Behaviour, RawServer};
use super::common::{KEY, with_env};
use super::{Client, assert_mock, create, following_client, maybe_async, plain_client, server};

const FILE_REF: &str = r#"{"id":"f1","filename":"a.png","mime_type":"image/png","size_bytes":3,"created_at":"2026-01-01T00:00:00Z","expires_at":null}"#;

fn client(url: &str, timeout: Duration) -> Client {
    Client::builder()
        .api_key(KEY)
        .base_url(url)
        .request_timeout(timeout)
        .retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap()
}

/// A download whose server sends the head and a few bytes, then stalls, fails after the
/// configured request timeout (the idle bound of a streamed answer), in both flavours.
#[maybe_async]
pub async fn a_stalled_download_ends_at_the_request_timeout() {
    let head = b"HTTP/1.1 200 OK\r\ncontent-type: video/mp4\r\ncontent-length: 100000\r\n\r\nabc";
    let raw = RawServer::start(Behaviour::Stall(head.to_vec(), Duration::from_secs(20)));
    let c = client(&raw.url, Duration::from_secs(1));
    let started = Instant::now();
    let err = c.queue().result("job_stall").await.unwrap_err();
    let took = started.elapsed();
    eprintln!("stalled download failed after {took:?}");
    match &err {
        Error::Transport { source, .. } => assert_eq!(source.kind(), TransportErrorKind::Timeout),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.code(), "QUEUE_RESULT_ERROR");
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// The same through a caller's own HTTP client (with no timeouts of its own): the SDK's idle
/// bound still applies.
#[maybe_async]
pub async fn a_stalled_download_through_a_callers_client_ends_too() {
    let head = b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\nabc";
    let raw = RawServer::start(Behaviour::Stall(head.to_vec(), Duration::from_secs(20)));
    let c = Client::builder()
        .api_key(KEY)
        .base_url(&raw.url)
        .request_timeout(Duration::from_secs(1))
        .retry_policy(RetryPolicy::disabled())
        .http_client(plain_client())
        .build()
        .unwrap();
    let started = Instant::now();
    let err = c.queue().result("job_stall").await.unwrap_err();
    let took = started.elapsed();
    eprintln!("stalled download through a caller's client failed after {took:?}");
    assert!(matches!(&err, Error::Transport { .. }), "{err:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// A server that answers an upload at once (a 413 before the body) while the input URL stalls:
/// the input's connection is closed within the idle bound, not left open in the background.
#[maybe_async]
pub async fn an_early_answer_leaves_no_stalled_input_behind() {
    let head = b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\nabc";
    let input = RawServer::start(Behaviour::StallWatched(head.to_vec()));
    let early = b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n";
    let api = RawServer::start(Behaviour::AnswerEarly(early.to_vec()));
    let c = client(&api.url, Duration::from_secs(1));
    let started = Instant::now();
    let url = format!("{}/in.bin", input.url);
    let result = c.files().upload(FileInput::url(&url).unwrap(), None).await;
    assert!(result.is_err(), "{result:?}");
    let mut closed = input.closed();
    while closed.is_empty() && started.elapsed() < Duration::from_secs(6) {
        std::thread::sleep(Duration::from_millis(50));
        closed = input.closed();
    }
    let after = closed.first().map(|t| t.duration_since(started));
    eprintln!("early answer: {result:?}; input closed after {after:?}");
    assert!(
        after.is_some_and(|t| t < Duration::from_secs(4)),
        "{after:?}"
    );
}

/// A streamed answer whose head never comes (an image edit) also ends at the idle bound.
#[maybe_async]
pub async fn a_stalled_image_edit_ends_at_the_request_timeout() {
    let raw = RawServer::start(Behaviour::Hang(Duration::from_secs(20)));
    let c = client(&raw.url, Duration::from_secs(1));
    let model = decart::models::image("lucy-image-2").unwrap();
    let input = decart::ImageEditInput::new("blue", FileInput::bytes(b"png".to_vec()));
    let started = Instant::now();
    let err = c.process().image(&model, input).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(&err, Error::Transport { .. }), "{err:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// A JSON call longer than any fixed backend limit but within the request timeout succeeds:
/// the only limits are the configured ones.
#[maybe_async]
pub async fn a_slow_answer_within_the_request_timeout_succeeds() {
    let mut server = server().await;
    let body = FILE_REF;
    let slow = create(
        server
            .mock("GET", "/v1/files/f1")
            .with_status(200)
            .with_chunked_body(move |w| {
                std::thread::sleep(Duration::from_millis(1500));
                w.write_all(body.as_bytes())
            }),
    )
    .await;
    let c = client(&server.url(), Duration::from_secs(4));
    let file = c.files().get("f1").await;
    assert!(file.is_ok(), "{file:?}");
    assert_mock(&slow).await;
}

/// A signed input URL's query (its signature) and credentials never show in an error's
/// `Display`, report or `Debug`, whatever failed.
#[maybe_async]
pub async fn a_signed_input_url_never_shows_in_errors() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = server().await;
    let _denied = create(server.mock("GET", "/denied.mp4").with_status(403)).await;
    let urls = [
        format!("http://user:pw@127.0.0.1:{closed}/in.mp4?X-Amz-Signature=SECRETSIG"),
        format!("{}/denied.mp4?X-Amz-Signature=SECRETSIG", server.url()),
    ];
    let c = client(&server.url(), Duration::from_secs(5));
    for url in urls {
        let err = c
            .files()
            .upload(FileInput::url(&url).unwrap(), None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "INPUT_FETCH_ERROR", "{err:?}");
        for shown in [
            err.to_string(),
            err.report().to_string(),
            format!("{err:?}"),
            format!("{err:#?}"),
        ] {
            assert!(!shown.contains("SECRETSIG"), "{shown}");
            assert!(!shown.contains("X-Amz"), "{shown}");
            assert!(!shown.contains("pw@"), "{shown}");
        }
    }
}

/// The exact length of an upload of `data_len` bytes without a filename (the boundary is
/// random but always 31 characters).
fn upload_len(data_len: usize, filename: &str, content_type: &str) -> usize {
    let boundary = "b".repeat(31);
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
    );
    head.len() + data_len + "\r\n".len() + format!("--{boundary}--\r\n").len()
}

fn upload_mock(server: &mut mockito::Server, length: Option<usize>) -> mockito::Mock {
    let (content_length, chunked) = match length {
        Some(len) => (
            mockito::Matcher::Exact(len.to_string()),
            mockito::Matcher::Missing,
        ),
        None => (
            mockito::Matcher::Missing,
            mockito::Matcher::Exact("chunked".into()),
        ),
    };
    server
        .mock("POST", "/v1/files")
        .match_header("content-length", content_length)
        .match_header("transfer-encoding", chunked)
        .with_status(200)
        .with_body(FILE_REF)
        .expect(1)
}

/// `Content-Length` goes out whenever the whole length is known (bytes, a file, a reader given
/// its length); chunked only for a reader of unknown length.
#[maybe_async]
pub async fn uploads_send_a_length_whenever_it_is_known() {
    let data = vec![7u8; 100_000];
    let dir = std::env::temp_dir().join(format!("decart-len-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("in.bin");
    std::fs::write(&path, &data).unwrap();
    let octet = "application/octet-stream";
    let cases: Vec<(FileInput, Option<usize>)> = vec![
        (
            FileInput::bytes(data.clone()).with_filename("a.bin"),
            Some(upload_len(data.len(), "a.bin", octet)),
        ),
        (
            FileInput::path(&path),
            Some(upload_len(data.len(), "in.bin", octet)),
        ),
        (
            FileInput::reader(std::io::Cursor::new(data.clone()))
                .with_len(data.len() as u64)
                .with_filename("r.bin"),
            Some(upload_len(data.len(), "r.bin", octet)),
        ),
        (
            FileInput::reader(std::io::Cursor::new(data.clone())).with_filename("r.bin"),
            None,
        ),
    ];
    for (input, length) in cases {
        let mut server = server().await;
        let mock = create(upload_mock(&mut server, length)).await;
        let c = client(&server.url(), Duration::from_secs(5));
        let uploaded = c.files().upload(input, None).await;
        assert!(uploaded.is_ok(), "{length:?}: {uploaded:?}");
        assert_mock(&mock).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reader whose declared length is wrong fails the upload (a typed error) instead of
/// sending a truncated or overlong body.
#[maybe_async]
pub async fn a_reader_with_a_wrong_length_fails_the_upload() {
    for declared in [10u64, 1000] {
        let mut server = server().await;
        let _any = create(server.mock("POST", "/v1/files").with_status(200)).await;
        let c = client(&server.url(), Duration::from_secs(5));
        let input = FileInput::reader(std::io::Cursor::new(vec![1u8; 100])).with_len(declared);
        let err = c.files().upload(input, None).await.unwrap_err();
        assert_eq!(err.code(), "FILES_UPLOAD_ERROR", "{declared}: {err:?}");
    }
}

/// A redirect from the API to another origin is never followed with the key, even through a
/// caller's own HTTP client that follows redirects: the blocking flavour overrides the
/// agent's policy per request; the async one refuses such a `reqwest::Client` at build.
#[maybe_async]
pub async fn a_redirect_is_never_followed_with_the_key() {
    let mut other = server().await;
    let stolen = create(other.mock("GET", mockito::Matcher::Any).expect(0)).await;
    let mut api = server().await;
    let redirect = create(
        api.mock("GET", "/v1/files/f1")
            .with_status(302)
            .with_header("location", &format!("{}/v1/files/f1", other.url()))
            .expect_at_most(1),
    )
    .await;
    let built = Client::builder()
        .api_key(KEY)
        .base_url(api.url())
        .http_client(following_client())
        .retry_policy(RetryPolicy::disabled())
        .build();
    match built {
        Ok(c) => {
            let err = c.files().get("f1").await.unwrap_err();
            assert_eq!(err.status(), Some(302), "{err:?}");
            assert_mock(&redirect).await;
        }
        Err(err) => {
            assert_eq!(err.code(), "INVALID_INPUT", "{err:?}");
            assert!(err.to_string().contains("Policy::none()"), "{err}");
        }
    }
    assert_mock(&stolen).await;
}

/// The JWKS through a caller's client that follows redirects: the key set must come from its
/// own URL, so a redirected answer is refused (no key travels with a JWKS fetch).
#[cfg(feature = "jwt")]
#[maybe_async]
pub async fn a_redirected_jwks_is_refused_whatever_the_client() {
    use decart::jwt::VerifyError;
    let mut other = server().await;
    let _keys = create(
        other
            .mock("GET", "/jwks")
            .with_status(200)
            .with_body(r#"{"keys":[]}"#),
    )
    .await;
    let mut origin = server().await;
    let _redirect = create(
        origin
            .mock("GET", "/jwks")
            .with_status(302)
            .with_header("location", &format!("{}/jwks", other.url())),
    )
    .await;
    let verifier = super::JwksVerifier::builder()
        .jwks_url(format!("{}/jwks", origin.url()))
        .http_client(following_client())
        .build()
        .unwrap();
    let err = verifier.refresh().await.unwrap_err();
    assert!(
        matches!(err, Error::Token(VerifyError::JwksUnreachable { .. })),
        "{err:?}"
    );
}

/// `Display` says what failed once; the report adds each cause once; `Debug` is readable.
#[maybe_async]
pub async fn error_texts_say_each_thing_once() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = client(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2));
    let err = c.files().get("f1").await.unwrap_err();
    assert_eq!(err.to_string(), "get file failed");
    let report = err.report().to_string();
    assert!(
        report.starts_with("get file failed: could not connect"),
        "{report}"
    );
    // Before: "get file failed: could not connect: io: Connection refused" → "could not
    // connect: io: …" → "io: …", the same words three times down the chain.
    assert_eq!(report.matches("Connection refused").count(), 1, "{report}");
    assert_eq!(report.matches("could not connect").count(), 1, "{report}");
    let mut chain = Vec::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(c) = cause {
        chain.push(c.to_string());
        cause = c.source();
    }
    let said: usize = chain
        .iter()
        .map(|text| text.matches("Connection refused").count())
        .sum();
    assert!(said <= 2, "{chain:?}");
    let debug = format!("{err:?}");
    assert!(
        debug.starts_with("get file failed [FILES_GET_ERROR]"),
        "{debug}"
    );
    assert!(debug.contains("Caused by:"), "{debug}");

    // A local file error names the path itself, not `Some("…")`.
    let missing = std::env::temp_dir().join("decart-no-such-input.png");
    let err = c
        .files()
        .upload(FileInput::path(&missing), None)
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains(&missing.display().to_string()), "{shown}");
    assert!(!shown.contains("Some("), "{shown}");
    assert!(err.report().to_string().contains("No such file"), "{err:?}");
}

/// Ids that URL normalisation would resolve (`.`, `..`) are refused before anything is sent,
/// in both flavours: they would name another endpoint (`DELETE /v1/files/..` → `DELETE /v1/`).
#[maybe_async]
pub async fn dot_ids_are_refused_before_sending() {
    let mut server = server().await;
    let no_get = create(server.mock("GET", mockito::Matcher::Any).expect(0)).await;
    let no_delete = create(server.mock("DELETE", mockito::Matcher::Any).expect(0)).await;
    let c = client(&server.url(), Duration::from_secs(5));
    for id in [".", ".."] {
        let err = c.files().delete(id).await.unwrap_err();
        assert_eq!(err.code(), "INVALID_INPUT", "{id}: {err:?}");
        let err = c.queue().result(id).await.unwrap_err();
        assert_eq!(err.code(), "INVALID_INPUT", "{id}: {err:?}");
        let err = c.queue().status(id).await.unwrap_err();
        assert_eq!(err.code(), "INVALID_INPUT", "{id}: {err:?}");
        let err = c.files().get(id).await.unwrap_err();
        assert_eq!(err.code(), "INVALID_INPUT", "{id}: {err:?}");
    }
    assert_mock(&no_get).await;
    assert_mock(&no_delete).await;
}

/// A broken token answer still carries a client key: the decode error keeps no part of it.
#[maybe_async]
pub async fn a_broken_token_answer_keeps_no_credentials() {
    let mut server = server().await;
    let _half = create(
        server
            .mock("POST", "/v1/client/tokens")
            .with_status(200)
            .with_body(r#"{"apiKey":"ek_SECRETKEY123","token":"eyJSECRETJWT"}"#),
    )
    .await;
    let c = client(&server.url(), Duration::from_secs(5));
    let err = c
        .tokens()
        .create(&decart::CreateTokenOptions::new())
        .await
        .unwrap_err();
    match &err {
        Error::Decode { body_snippet, .. } => assert!(!body_snippet.contains("SECRET")),
        other => panic!("{other:?}"),
    }
    for shown in [
        err.to_string(),
        format!("{err:?}"),
        err.report().to_string(),
    ] {
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}

/// The key and the base URL come from the environment together, or neither does.
pub fn key_and_base_url_come_from_the_environment_together() {
    let emulator = "http://127.0.0.1:9";
    with_env(
        &[
            ("DECART_API_KEY", Some("env-key")),
            ("DECART_BASE_URL", Some(emulator)),
        ],
        || {
            assert_eq!(Client::builder().build().unwrap().base_url(), emulator);
            assert_eq!(Client::from_env().unwrap().base_url(), emulator);
            // A key given in code never goes to the environment's base URL.
            let explicit = Client::builder().api_key("code-key").build().unwrap();
            assert_eq!(explicit.base_url(), "https://api.decart.ai");
            // An explicit base URL still wins over the environment's.
            let both = Client::builder()
                .base_url("http://127.0.0.1:10")
                .build()
                .unwrap();
            assert_eq!(both.base_url(), "http://127.0.0.1:10");
        },
    );
}

#[macro_export]
macro_rules! hardening_tests {
    ($async_test:ident, $sync_test:ident) => {
        $async_test!(hardening:
            a_stalled_download_ends_at_the_request_timeout,
            a_stalled_download_through_a_callers_client_ends_too,
            an_early_answer_leaves_no_stalled_input_behind,
            a_stalled_image_edit_ends_at_the_request_timeout,
            a_slow_answer_within_the_request_timeout_succeeds,
            a_signed_input_url_never_shows_in_errors,
            uploads_send_a_length_whenever_it_is_known,
            a_reader_with_a_wrong_length_fails_the_upload,
            a_redirect_is_never_followed_with_the_key,
            error_texts_say_each_thing_once,
            dot_ids_are_refused_before_sending,
            a_broken_token_answer_keeps_no_credentials
        );
        $sync_test!(hardening: key_and_base_url_come_from_the_environment_together);
    };
}
