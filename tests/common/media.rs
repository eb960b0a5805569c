//! Image edits, video jobs and files, written once for both flavours.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use decart::models;
use decart::{
    CancelHandle, Error, FileInput, FileTtl, ImageEditInput, JobState, Model, VideoEditInput,
    VideoRestyleInput, WaitOptions,
};
use decart::{CustomInput, ModelKind};
use mockito::Matcher;

use super::common::{KEY, fast_retries};
use super::{Client, assert_mock, create, maybe_async, server};

fn client(url: &str) -> Client {
    Client::builder()
        .api_key(KEY)
        .base_url(url)
        .retry_policy(fast_retries())
        .build()
        .unwrap()
}

fn fast_wait() -> WaitOptions {
    WaitOptions::new()
        .first_poll(Duration::from_millis(1))
        .interval(Duration::from_millis(1))
}

fn multipart() -> Matcher {
    Matcher::Regex("^multipart/form-data; boundary=decart-[A-Za-z0-9]{24}$".into())
}

fn part(name: &str, value: &str) -> Matcher {
    Matcher::Regex(format!(
        "Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
    ))
}

fn file_part(name: &str, filename: &str, content_type: &str, content: &str) -> Matcher {
    Matcher::Regex(format!(
        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n{content}\r\n"
    ))
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "decart-test-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[maybe_async]
pub async fn image_edit_sends_multipart_and_returns_bytes() {
    let mut server = server().await;
    let mock = create(
        server
            .mock("POST", "/v1/generate/lucy-image-2")
            .match_header("x-api-key", KEY)
            .match_header("accept", "*/*")
            .match_header("content-type", multipart())
            .match_body(Matcher::AllOf(vec![
                part("prompt", "make it blue"),
                part("seed", "7"),
                part("enhance_prompt", "false"),
                file_part("data", "in.png", "image/png", "PNGDATA"),
            ]))
            .with_status(200)
            .with_header("content-type", "image/png")
            .with_body("RESULT")
            .expect(1),
    )
    .await;
    let model = models::image("lucy-image-2").unwrap();
    let input = ImageEditInput::new(
        "make it blue",
        FileInput::bytes(b"PNGDATA".to_vec()).with_filename("in.png"),
    )
    .seed(7)
    .enhance_prompt(false);
    let bytes = client(&server.url()).process().image(&model, input).await;
    assert_eq!(bytes.unwrap(), b"RESULT");
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn image_edit_streams_a_path_into_a_path() {
    let dir = temp_dir("img");
    let input_path = dir.join("photo.jpg");
    std::fs::write(&input_path, b"JPEGBYTES").unwrap();
    let out = dir.join("out.png");
    let mut server = server().await;
    let mock = create(
        server
            .mock("POST", "/v1/generate/lucy-image-2")
            .match_body(file_part("data", "photo.jpg", "image/jpeg", "JPEGBYTES"))
            .with_status(200)
            .with_body(vec![7u8; 300_000])
            .expect(1),
    )
    .await;
    let model = models::image("lucy-image-2").unwrap();
    let written = client(&server.url())
        .process()
        .image_to_path(&model, ImageEditInput::new("x", input_path.as_path()), &out)
        .await
        .unwrap();
    assert_eq!(written, 300_000);
    assert_eq!(std::fs::read(&out).unwrap(), vec![7u8; 300_000]);
    // No temporary file is left beside the result.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    assert_mock(&mock).await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[maybe_async]
pub async fn custom_model_sends_fields_as_given() {
    let mut server = server().await;
    let mock = create(
        server
            .mock("POST", "/v1/generate/my-model")
            .match_body(Matcher::AllOf(vec![
                part("anything", "goes"),
                part("flag", "true"),
                part("n", "-3"),
                part("obj", r#"\{"k":\[1,2\]\}"#),
            ]))
            .with_status(200)
            .with_body("ok")
            .expect(1),
    )
    .await;
    let model = Model::custom(ModelKind::Image, "my-model", "/v1/generate/my-model").unwrap();
    let input = CustomInput::new()
        .text("anything", "goes")
        .bool("flag", true)
        .int("n", -3)
        .json("obj", serde_json::json!({"k": [1, 2]}));
    let result = client(&server.url()).process().image(&model, input).await;
    assert_eq!(result.unwrap(), b"ok");
    assert_mock(&mock).await;
}

#[maybe_async]
async fn expect_rejected(model: Model, input: decart::Input, field: &str) {
    let mut server = server().await;
    let mock = create(server.mock("POST", Matcher::Any).expect(0)).await;
    let c = client(&server.url());
    let result = if model.kind() == ModelKind::Image {
        c.process().image(&model, input).await.map(|_| ())
    } else {
        c.queue().submit(&model, input).await.map(|_| ())
    };
    match result.unwrap_err() {
        Error::InvalidInput {
            field: f, message, ..
        } => {
            assert_eq!(f, field, "{message}");
            assert!(message.contains(model.name()) || f == "model", "{message}");
        }
        other => panic!("expected invalid input, got {other:?}"),
    }
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn invalid_inputs_are_rejected_before_sending() {
    let image = models::image("lucy-image-2").unwrap();
    let video = models::video("lucy-2.1").unwrap();
    let restyle = models::video("lucy-restyle-2").unwrap();
    let data = || FileInput::bytes(b"x".to_vec());
    expect_rejected(
        image.clone(),
        ImageEditInput::new("", data()).into(),
        "prompt",
    )
    .await;
    expect_rejected(
        image.clone(),
        ImageEditInput::new("a".repeat(1001), data()).into(),
        "prompt",
    )
    .await;
    expect_rejected(
        restyle.clone(),
        VideoRestyleInput::new(data())
            .prompt("p")
            .reference_image(data())
            .into(),
        "reference_image",
    )
    .await;
    expect_rejected(restyle, VideoRestyleInput::new(data()).into(), "prompt").await;
    expect_rejected(
        video.clone(),
        VideoEditInput::new("a".repeat(1001), data()).into(),
        "prompt",
    )
    .await;
    // An image input for a video model, and a video model for an image edit.
    expect_rejected(
        video.clone(),
        ImageEditInput::new("p", data()).into(),
        "input",
    )
    .await;
    let c = client("http://127.0.0.1:9");
    let err = c
        .process()
        .image(&video, ImageEditInput::new("p", data()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
}

#[maybe_async]
pub async fn empty_prompt_with_reference_image_is_fine_for_lucy_2_1() {
    let mut server = server().await;
    let mock = create(
        server
            .mock("POST", "/v1/jobs/lucy-2.1")
            .match_header("accept", "application/json")
            .match_body(Matcher::AllOf(vec![
                part("prompt", ""),
                file_part("reference_image", "ref.png", "image/png", "REF"),
            ]))
            .with_status(200)
            .with_body(r#"{"job_id":"job_1","status":"pending"}"#)
            .expect(1),
    )
    .await;
    let model = models::video("lucy-2.1").unwrap();
    let input = VideoEditInput::new("", FileInput::bytes(b"VID".to_vec()).with_filename("v.mp4"))
        .reference_image(FileInput::bytes(b"REF".to_vec()).with_filename("ref.png"));
    let job = client(&server.url())
        .queue()
        .submit(&model, input)
        .await
        .unwrap();
    assert_eq!(job.job_id, "job_1");
    assert_eq!(job.state, JobState::Pending);
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn image_edit_500_is_not_retried() {
    let mut server = server().await;
    let mock = create(
        server
            .mock("POST", "/v1/generate/lucy-image-2")
            .with_status(500)
            .with_body(r#"{"detail":"GPU on fire"}"#)
            .expect(1),
    )
    .await;
    let model = models::image("lucy-image-2").unwrap();
    let err = client(&server.url())
        .process()
        .image(
            &model,
            ImageEditInput::new("p", FileInput::bytes(b"x".to_vec())),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PROCESSING_ERROR");
    assert_eq!(err.status(), Some(500));
    assert!(err.to_string().contains("GPU on fire"));
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn job_submit_500_is_sent_once() {
    let mut server = server().await;
    let mock = create(
        server
            .mock("POST", "/v1/jobs/lucy-2.1")
            .with_status(500)
            .expect(1),
    )
    .await;
    let model = models::video("lucy-2.1").unwrap();
    let err = client(&server.url())
        .queue()
        .submit(
            &model,
            VideoEditInput::new("p", FileInput::bytes(b"x".to_vec())),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "QUEUE_SUBMIT_ERROR");
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn job_submit_429_is_retried() {
    let mut server = server().await;
    let busy = create(
        server
            .mock("POST", "/v1/jobs/lucy-2.1")
            .with_status(429)
            .expect(1),
    )
    .await;
    let ok = create(
        server
            .mock("POST", "/v1/jobs/lucy-2.1")
            .match_body(file_part("data", "v.mp4", "video/mp4", "VIDEO"))
            .with_status(200)
            .with_body(r#"{"job_id":"job_2","status":"pending"}"#)
            .expect(1),
    )
    .await;
    let model = models::video("lucy-2.1").unwrap();
    let input = VideoEditInput::new(
        "p",
        FileInput::bytes(b"VIDEO".to_vec()).with_filename("v.mp4"),
    );
    let job = client(&server.url())
        .queue()
        .submit(&model, input)
        .await
        .unwrap();
    assert_eq!(job.job_id, "job_2");
    assert_mock(&busy).await;
    assert_mock(&ok).await;
}

#[maybe_async]
pub async fn one_shot_reader_is_not_resent_after_429() {
    let mut server = server().await;
    let busy = create(
        server
            .mock("POST", "/v1/jobs/lucy-2.1")
            .with_status(429)
            .expect(1),
    )
    .await;
    let model = models::video("lucy-2.1").unwrap();
    let reader = FileInput::reader(std::io::Cursor::new(b"ONCE".to_vec())).with_filename("v.mp4");
    let err = client(&server.url())
        .queue()
        .submit(&model, VideoEditInput::new("p", reader))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_mock(&busy).await;
}

fn status_mock(server: &mut mockito::Server, id: &str, body: &str) -> mockito::Mock {
    server
        .mock("GET", format!("/v1/jobs/{id}").as_str())
        .match_header("x-api-key", KEY)
        .with_status(200)
        .with_body(body)
        .expect(1)
}

#[maybe_async]
pub async fn job_goes_pending_processing_completed() {
    let mut server = server().await;
    let submit = create(
        server
            .mock("POST", "/v1/jobs/lucy-2.1")
            .with_status(200)
            .with_body(r#"{"job_id":"job_3","status":"pending"}"#)
            .expect(1),
    )
    .await;
    let s1 = create(status_mock(
        &mut server,
        "job_3",
        r#"{"job_id":"job_3","status":"pending"}"#,
    ))
    .await;
    let s2 = create(status_mock(
        &mut server,
        "job_3",
        r#"{"job_id":"job_3","status":"processing"}"#,
    ))
    .await;
    let s3 = create(status_mock(
        &mut server,
        "job_3",
        r#"{"job_id":"job_3","status":"completed"}"#,
    ))
    .await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let options = fast_wait().on_status(move |s| log.lock().unwrap().push(s.state.to_string()));
    let model = models::video("lucy-2.1").unwrap();
    let job = client(&server.url())
        .queue()
        .submit_and_wait(
            &model,
            VideoEditInput::new("p", FileInput::bytes(b"v".to_vec())),
            options,
        )
        .await
        .unwrap();
    assert_eq!(job.job_id, "job_3");
    assert_eq!(job.polls, 3);
    assert_eq!(
        *seen.lock().unwrap(),
        ["pending", "pending", "processing", "completed"]
    );
    for m in [&submit, &s1, &s2, &s3] {
        assert_mock(m).await;
    }
}

#[maybe_async]
pub async fn failed_job_carries_the_reason() {
    let mut server = server().await;
    let s = create(status_mock(
        &mut server,
        "job_4",
        r#"{"job_id":"job_4","status":"failed","error":"content policy"}"#,
    ))
    .await;
    let err = client(&server.url())
        .queue()
        .wait("job_4", fast_wait())
        .await
        .unwrap_err();
    match &err {
        Error::JobFailed { job_id, reason, .. } => {
            assert_eq!(job_id, "job_4");
            assert_eq!(reason, "content policy");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.code(), "QUEUE_JOB_FAILED");
    assert_mock(&s).await;
}

#[maybe_async]
pub async fn failed_job_without_reason_gets_a_default() {
    let mut server = server().await;
    let _s = create(status_mock(
        &mut server,
        "job_5",
        r#"{"job_id":"job_5","status":"failed"}"#,
    ))
    .await;
    let err = client(&server.url())
        .queue()
        .wait("job_5", fast_wait())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("without a reason"), "{err}");
}

#[maybe_async]
pub async fn unknown_status_ends_at_the_deadline() {
    let mut server = server().await;
    let _s = create(
        server
            .mock("GET", "/v1/jobs/job_6")
            .with_status(200)
            .with_body(r#"{"job_id":"job_6","status":"thinking"}"#)
            .expect_at_least(1),
    )
    .await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let options = WaitOptions::new()
        .first_poll(Duration::from_millis(5))
        .interval(Duration::from_millis(20))
        .deadline(Some(Duration::from_millis(150)))
        .on_status(move |s| log.lock().unwrap().push(s.state.clone()));
    let err = client(&server.url())
        .queue()
        .wait("job_6", options)
        .await
        .unwrap_err();
    match &err {
        Error::JobTimeout {
            job_id,
            last_status,
            ..
        } => {
            assert_eq!(job_id, "job_6");
            assert_eq!(last_status, "thinking");
        }
        other => panic!("{other:?}"),
    }
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|s| *s == JobState::Unknown("thinking".into()))
    );
}

#[maybe_async]
pub async fn cancellation_mid_wait() {
    let mut server = server().await;
    let _s = create(
        server
            .mock("GET", "/v1/jobs/job_7")
            .with_status(200)
            .with_body(r#"{"job_id":"job_7","status":"processing"}"#)
            .expect_at_least(1),
    )
    .await;
    let cancel = CancelHandle::new();
    let remote = cancel.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        remote.cancel();
    });
    let options = WaitOptions::new()
        .first_poll(Duration::from_millis(1))
        .interval(Duration::from_secs(30))
        .cancel_handle(cancel);
    let started = std::time::Instant::now();
    let err = client(&server.url())
        .queue()
        .wait("job_7", options)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Cancelled { job_id, .. } if job_id == "job_7"),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    canceller.join().unwrap();
}

#[maybe_async]
pub async fn a_hanging_status_poll_still_ends_at_the_deadline() {
    use super::common::raw::{Behaviour, RawServer};
    let raw = RawServer::start(Behaviour::Hang(Duration::from_secs(10)));
    // The request timeout (60 s by default) is far longer than the wait's deadline.
    let c = client(&raw.url);
    let options = WaitOptions::new()
        .first_poll(Duration::from_millis(1))
        .deadline(Some(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    let err = c.queue().wait("job_hang", options).await.unwrap_err();
    assert!(
        matches!(&err, Error::JobTimeout { job_id, .. } if job_id == "job_hang"),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[maybe_async]
pub async fn absurd_deadline_and_interval_do_not_overflow() {
    let mut server = server().await;
    let _s = create(status_mock(
        &mut server,
        "job_max",
        r#"{"job_id":"job_max","status":"completed"}"#,
    ))
    .await;
    let options = WaitOptions::new()
        .first_poll(Duration::from_millis(1))
        .interval(Duration::MAX)
        .deadline(Some(Duration::MAX))
        .cancel_handle(CancelHandle::new());
    let job = client(&server.url()).queue().wait("job_max", options).await;
    assert_eq!(job.unwrap().polls, 1);
}

#[maybe_async]
pub async fn status_503_during_polling_is_retried() {
    let mut server = server().await;
    let down = create(
        server
            .mock("GET", "/v1/jobs/job_8")
            .with_status(503)
            .expect(1),
    )
    .await;
    let done = create(status_mock(
        &mut server,
        "job_8",
        r#"{"job_id":"job_8","status":"completed"}"#,
    ))
    .await;
    let job = client(&server.url())
        .queue()
        .wait("job_8", fast_wait())
        .await
        .unwrap();
    assert_eq!(job.polls, 1);
    assert_mock(&down).await;
    assert_mock(&done).await;
}

#[maybe_async]
pub async fn large_result_streams_to_a_file() {
    let size = 12 * 1024 * 1024 + 17;
    let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut server = server().await;
    let mock = create(
        server
            .mock("GET", "/v1/jobs/job_9/content")
            .match_header("x-api-key", KEY)
            .with_status(200)
            .with_header("content-type", "video/mp4")
            .with_body(body.clone())
            .expect(2),
    )
    .await;
    let dir = temp_dir("result");
    let out = dir.join("out.mp4");
    let c = client(&server.url());
    let written = c.queue().result_to_path("job_9", &out).await.unwrap();
    assert_eq!(written, size as u64);
    assert!(std::fs::read(&out).unwrap() == body);
    let bytes = c.queue().result("job_9").await.unwrap();
    assert_eq!(bytes.len(), size);
    assert_mock(&mock).await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[maybe_async]
pub async fn failed_download_leaves_no_file() {
    let mut server = server().await;
    let _m = create(
        server
            .mock("GET", "/v1/jobs/job_10/content")
            .with_status(404)
            .expect(1),
    )
    .await;
    let dir = temp_dir("nofile");
    let out = dir.join("out.mp4");
    let err = client(&server.url())
        .queue()
        .result_to_path("job_10", &out)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "QUEUE_RESULT_ERROR");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[maybe_async]
pub async fn job_ids_are_percent_encoded() {
    let mut server = server().await;
    let mock = create(
        server
            .mock("GET", "/v1/jobs/a%2Fb%20c%3F")
            .with_status(200)
            .with_body(r#"{"job_id":"a/b c?","status":"processing"}"#)
            .expect(1),
    )
    .await;
    let status = client(&server.url())
        .queue()
        .status("a/b c?")
        .await
        .unwrap();
    assert_eq!(status.state, JobState::Processing);
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn missing_input_file_fails_before_sending() {
    let mut server = server().await;
    let mock = create(server.mock("POST", Matcher::Any).expect(0)).await;
    let model = models::video("lucy-2.1").unwrap();
    let missing = std::path::Path::new("/definitely/not/here.mp4");
    let err = client(&server.url())
        .queue()
        .submit(&model, VideoEditInput::new("p", missing))
        .await
        .unwrap_err();
    match &err {
        Error::Io { path, .. } => assert_eq!(path.as_deref(), Some(missing)),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.code(), "QUEUE_SUBMIT_ERROR");
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn unreachable_url_input_fails_before_sending() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = server().await;
    let mock = create(server.mock("POST", Matcher::Any).expect(0)).await;
    let model = models::video("lucy-2.1").unwrap();
    let url = FileInput::url(&format!("http://127.0.0.1:{port}/in.mp4")).unwrap();
    let err = client(&server.url())
        .queue()
        .submit(&model, VideoEditInput::new("p", url))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INPUT_FETCH_ERROR", "{err:?}");
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn url_input_is_fetched_without_the_key_and_streamed() {
    let mut server = server().await;
    let source = create(
        server
            .mock("GET", "/media/in.mp4")
            .match_header("x-api-key", Matcher::Missing)
            .with_status(200)
            .with_body("FETCHEDVIDEO")
            .expect(1),
    )
    .await;
    let job = create(
        server
            .mock("POST", "/v1/jobs/lucy-2.1")
            .match_body(file_part("data", "in.mp4", "video/mp4", "FETCHEDVIDEO"))
            .with_status(200)
            .with_body(r#"{"job_id":"job_11","status":"pending"}"#)
            .expect(1),
    )
    .await;
    let model = models::video("lucy-2.1").unwrap();
    let url = FileInput::url(&format!("{}/media/in.mp4", server.url())).unwrap();
    let submitted = client(&server.url())
        .queue()
        .submit(&model, VideoEditInput::new("p", url))
        .await
        .unwrap();
    assert_eq!(submitted.job_id, "job_11");
    assert_mock(&source).await;
    assert_mock(&job).await;
}

#[maybe_async]
pub async fn url_input_follows_redirects() {
    let mut server = server().await;
    let moved = create(
        server
            .mock("GET", "/short/abc")
            .with_status(302)
            .with_header("location", "/media/real.mp4")
            .expect(1),
    )
    .await;
    let source = create(
        server
            .mock("GET", "/media/real.mp4")
            .match_header("x-api-key", Matcher::Missing)
            .with_status(200)
            .with_body("REDIRECTEDVIDEO")
            .expect(1),
    )
    .await;
    let job = create(
        server
            .mock("POST", "/v1/jobs/lucy-2.1")
            .match_body(file_part(
                "data",
                "abc",
                "application/octet-stream",
                "REDIRECTEDVIDEO",
            ))
            .with_status(200)
            .with_body(r#"{"job_id":"job_12","status":"pending"}"#)
            .expect(1),
    )
    .await;
    let model = models::video("lucy-2.1").unwrap();
    let url = FileInput::url(&format!("{}/short/abc", server.url())).unwrap();
    let submitted = client(&server.url())
        .queue()
        .submit(&model, VideoEditInput::new("p", url))
        .await;
    assert_eq!(submitted.unwrap().job_id, "job_12");
    for m in [&moved, &source, &job] {
        assert_mock(m).await;
    }
}

#[maybe_async]
pub async fn url_input_404_is_an_input_fetch_error() {
    let mut server = server().await;
    let _source = create(server.mock("GET", "/gone.png").with_status(404).expect(1)).await;
    let model = models::image("lucy-image-2").unwrap();
    let url = FileInput::url(&format!("{}/gone.png", server.url())).unwrap();
    let err = client(&server.url())
        .process()
        .image(&model, ImageEditInput::new("p", url))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INPUT_FETCH_ERROR");
    assert_eq!(err.status(), Some(404));
}

const FILE_REF: &str = r#"{"id":"file_abc","filename":"a.png","mime_type":"image/png","size_bytes":4,"created_at":"2026-01-01T00:00:00Z","expires_at":null}"#;

#[maybe_async]
pub async fn file_upload_get_delete() {
    let dir = temp_dir("upload");
    let path = dir.join("a.png");
    std::fs::write(&path, b"PNG!").unwrap();
    let mut server = server().await;
    let upload = create(
        server
            .mock("POST", "/v1/files")
            .match_header("content-type", multipart())
            .match_body(Matcher::AllOf(vec![
                file_part("file", "a.png", "image/png", "PNG!"),
                part("ttl_seconds", "persistent"),
            ]))
            .with_status(200)
            .with_body(FILE_REF)
            .expect(1),
    )
    .await;
    let get = create(
        server
            .mock("GET", "/v1/files/file_abc")
            .with_status(200)
            .with_body(FILE_REF)
            .expect(1),
    )
    .await;
    let delete = create(
        server
            .mock("DELETE", "/v1/files/file_abc")
            .with_status(204)
            .expect(1),
    )
    .await;
    let c = client(&server.url());
    let file = c
        .files()
        .upload(path.as_path(), Some(FileTtl::Persistent))
        .await
        .unwrap();
    assert_eq!(file.id, "file_abc");
    assert_eq!(file.expires_at, None);
    let again = c.files().get("file_abc").await.unwrap();
    assert_eq!(again, file);
    c.files().delete("file_abc").await.unwrap();
    for m in [&upload, &get, &delete] {
        assert_mock(m).await;
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[maybe_async]
pub async fn file_ttl_is_validated() {
    let mut server = server().await;
    let mock = create(server.mock("POST", "/v1/files").expect(0)).await;
    let c = client(&server.url());
    for ttl in [0, 59, 2_592_001] {
        let err = c
            .files()
            .upload(FileInput::bytes(b"x".to_vec()), Some(FileTtl::Seconds(ttl)))
            .await
            .unwrap_err();
        assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "ttl_seconds"));
    }
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn file_errors_carry_codes() {
    let mut server = server().await;
    let _g = create(
        server
            .mock("GET", "/v1/files/file_x")
            .with_status(404)
            .with_body(r#"{"detail":"not found"}"#),
    )
    .await;
    let _d = create(server.mock("DELETE", "/v1/files/file_x").with_status(404)).await;
    let _u = create(
        server
            .mock("POST", "/v1/files")
            .with_status(200)
            .with_body("<html>"),
    )
    .await;
    let c = client(&server.url());
    let get = c.files().get("file_x").await;
    assert_eq!(get.unwrap_err().code(), "FILES_GET_ERROR");
    let delete = c.files().delete("file_x").await;
    assert_eq!(delete.unwrap_err().code(), "FILES_DELETE_ERROR");
    let err = c
        .files()
        .upload(FileInput::bytes(b"x".to_vec()), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode { .. }));
    assert_eq!(err.code(), "FILES_UPLOAD_ERROR");
}

#[macro_export]
macro_rules! media_tests {
    ($async_test:ident) => {
        $async_test!(media:
            image_edit_sends_multipart_and_returns_bytes,
            image_edit_streams_a_path_into_a_path,
            custom_model_sends_fields_as_given,
            invalid_inputs_are_rejected_before_sending,
            empty_prompt_with_reference_image_is_fine_for_lucy_2_1,
            image_edit_500_is_not_retried,
            job_submit_500_is_sent_once,
            job_submit_429_is_retried,
            one_shot_reader_is_not_resent_after_429,
            job_goes_pending_processing_completed,
            failed_job_carries_the_reason,
            failed_job_without_reason_gets_a_default,
            unknown_status_ends_at_the_deadline,
            cancellation_mid_wait,
            a_hanging_status_poll_still_ends_at_the_deadline,
            absurd_deadline_and_interval_do_not_overflow,
            status_503_during_polling_is_retried,
            large_result_streams_to_a_file,
            failed_download_leaves_no_file,
            job_ids_are_percent_encoded,
            missing_input_file_fails_before_sending,
            unreachable_url_input_fails_before_sending,
            url_input_is_fetched_without_the_key_and_streamed,
            url_input_follows_redirects,
            url_input_404_is_an_input_fetch_error,
            file_upload_get_delete,
            file_ttl_is_validated,
            file_errors_carry_codes
        );
    };
}
