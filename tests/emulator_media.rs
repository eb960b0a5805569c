//! Image edits, video jobs and files on the emulator, over raw HTTP.

#![cfg(feature = "emulator")]

mod emulator_common;

use std::io::Read;

use decart::emulator::{self, JOB_FAIL_MARKER};
use emulator_common::*;
use serde_json::json;

#[test]
fn image_edit_round_trip() {
    let emu = Emulator::start().unwrap();
    let input = sample(70_000, 1);
    let a = post_multipart(
        &emu,
        "/v1/generate/lucy-image-2",
        &[
            Part::Text("prompt", "make it blue"),
            Part::File {
                name: "data",
                filename: "cat.jpg",
                content_type: "image/jpeg",
                data: &input,
            },
            Part::Text("seed", "42"),
            Part::Text("resolution", "720p"),
            Part::Text("enhance_prompt", "false"),
        ],
    );
    assert_eq!(a.status, 200, "{:?}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.header("content-type"), Some("image/jpeg"));
    assert_eq!(a.body, emulator::expected_image_result(&input));
    assert!(a.body.starts_with(b"DECART-EMU-IMAGE\nlen=70000 sha256="));

    // A non-image content type on `data` gives image/png; aliases work.
    let a = post_multipart(
        &emu,
        "/v1/generate/lucy-pro-i2i",
        &[
            Part::Text("prompt", "x"),
            Part::File {
                name: "data",
                filename: "blob",
                content_type: "application/octet-stream",
                data: b"tiny",
            },
        ],
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("image/png"));
    assert_eq!(a.body, emulator::expected_image_result(b"tiny"));

    // The log shows the fields as received.
    let r = &emu.requests()[0];
    assert_eq!(
        r.field_names(),
        vec!["prompt", "data", "seed", "resolution", "enhance_prompt"]
    );
    let data = r.part("data").unwrap();
    assert_eq!(data.filename.as_deref(), Some("cat.jpg"));
    assert_eq!(data.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(data.size, 70_000);
    assert_eq!(data.value, None);
    assert_eq!(
        r.part("prompt").unwrap().value.as_deref(),
        Some("make it blue")
    );
    assert_eq!(r.part("seed").unwrap().value.as_deref(), Some("42"));
}

#[test]
fn image_schema_is_enforced() {
    let emu = Emulator::start().unwrap();
    let img = file("data", b"png");
    let long = "é".repeat(1001);
    let exactly = "é".repeat(1000);
    let cases: Vec<(Vec<Part<'_>>, &str)> = vec![
        (vec![Part::Text("prompt", "x")], "data"),
        (vec![file("data", b"png")], "prompt"),
        (
            vec![Part::Text("prompt", ""), file("data", b"png")],
            "prompt",
        ),
        (
            vec![Part::Text("prompt", &long), file("data", b"png")],
            "1000",
        ),
        (
            vec![
                Part::Text("prompt", "x"),
                file("data", b"png"),
                Part::Text("seed", "four"),
            ],
            "seed",
        ),
        (
            vec![
                Part::Text("prompt", "x"),
                file("data", b"png"),
                Part::Text("enhance_prompt", "maybe"),
            ],
            "enhance_prompt",
        ),
        (
            vec![
                Part::Text("prompt", "x"),
                file("data", b"a"),
                file("data", b"b"),
            ],
            "more than once",
        ),
    ];
    for (parts, needle) in &cases {
        let a = post_multipart(&emu, "/v1/generate/lucy-image-2", parts);
        assert_eq!(a.status, 422, "{needle}");
        assert!(a.detail().contains(needle), "{needle}: {}", a.detail());
    }
    let ok = post_multipart(
        &emu,
        "/v1/generate/lucy-image-2",
        &[Part::Text("prompt", &exactly), img],
    );
    assert_eq!(ok.status, 200, "1000 characters (2000 bytes) is allowed");

    // Unknown model, or a video model on the image endpoint.
    for model in ["nope", "lucy-2.1"] {
        let a = post_multipart(
            &emu,
            &format!("/v1/generate/{model}"),
            &[Part::Text("prompt", "x"), file("data", b"png")],
        );
        assert_eq!(a.status, 404);
        assert_eq!(a.detail(), format!("Model {model} not found"));
    }
    // Not multipart.
    let a = post_json(
        &emu,
        "/v1/generate/lucy-image-2",
        Some(emu.api_key()),
        &json!({"prompt": "x"}),
    );
    assert_eq!(a.status, 415);
    assert!(a.detail().contains("multipart/form-data"));
    let a = post(
        &emu,
        "/v1/generate/lucy-image-2",
        Some(emu.api_key()),
        "multipart/form-data",
        b"x",
    );
    assert_eq!(a.status, 400, "no boundary");
    // Malformed multipart.
    let a = post(
        &emu,
        "/v1/generate/lucy-image-2",
        Some(emu.api_key()),
        &multipart_type(),
        b"--emu-test-boundary-7d1f\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nno end",
    );
    assert_eq!(a.status, 400);
    assert!(a.detail().contains("malformed multipart"), "{}", a.detail());
}

#[test]
fn video_schemas_are_enforced() {
    let emu = Emulator::start().unwrap();
    let video = || file("data", b"mp4");
    let reference = || file("reference_image", b"png");
    let long = "a".repeat(1001);
    // Video edit: prompt required, may be empty, reference optional alongside.
    for (parts, status) in [
        (vec![Part::Text("prompt", ""), video()], 200),
        (vec![Part::Text("prompt", "x"), video(), reference()], 200),
        (vec![video()], 422),
        (vec![Part::Text("prompt", &long), video()], 422),
        (vec![Part::Text("prompt", "x")], 422),
    ] {
        let a = post_multipart(&emu, "/v1/jobs/lucy-2.1", &parts);
        assert_eq!(a.status, status, "{:?}", String::from_utf8_lossy(&a.body));
    }
    // Restyle: exactly one of prompt / reference_image; enhance_prompt only with a prompt.
    for (parts, status) in [
        (vec![Part::Text("prompt", "anime"), video()], 200),
        (vec![reference(), video()], 200),
        (
            vec![
                Part::Text("prompt", "anime"),
                Part::Text("enhance_prompt", "true"),
                video(),
            ],
            200,
        ),
        (vec![video()], 422),
        (
            vec![Part::Text("prompt", "anime"), reference(), video()],
            422,
        ),
        (vec![Part::Text("prompt", ""), video()], 422),
        (
            vec![reference(), Part::Text("enhance_prompt", "true"), video()],
            422,
        ),
    ] {
        let a = post_multipart(&emu, "/v1/jobs/lucy-restyle-2", &parts);
        assert_eq!(a.status, status, "{:?}", String::from_utf8_lossy(&a.body));
        if status == 422 {
            assert!(!a.detail().is_empty());
        }
    }
    let a = post_multipart(
        &emu,
        "/v1/jobs/lucy-image-2",
        &[Part::Text("prompt", "x"), video()],
    );
    assert_eq!(a.status, 404);
    assert_eq!(a.detail(), "Model lucy-image-2 not found");
    assert_eq!(emu.job_ids().len(), 5);
}

fn submit(emu: &Emulator, prompt: &str, data: &[u8]) -> String {
    let a = post_multipart(
        emu,
        "/v1/jobs/lucy-2.1",
        &[Part::Text("prompt", prompt), file("data", data)],
    );
    assert_eq!(a.status, 200, "{:?}", String::from_utf8_lossy(&a.body));
    let j = a.json();
    assert_eq!(j["status"], "pending");
    let id = j["job_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("job_"), "{id}");
    id
}

fn status(emu: &Emulator, id: &str) -> serde_json::Value {
    let a = get(emu, &format!("/v1/jobs/{id}"), Some(emu.api_key()));
    assert_eq!(a.status, 200);
    a.json()
}

#[test]
fn job_moves_through_its_states() {
    let emu = Emulator::builder()
        .polls_before_completion(3)
        .start()
        .unwrap();
    let input = sample(5000, 2);
    let id = submit(&emu, "make it rain", &input);
    let content = |emu: &Emulator| get(emu, &format!("/v1/jobs/{id}/content"), Some(emu.api_key()));
    let early = content(&emu);
    assert_eq!(early.status, 409);
    assert!(early.detail().contains("pending"), "{}", early.detail());
    let seen: Vec<String> = (0..5)
        .map(|_| status(&emu, &id)["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        seen,
        [
            "pending",
            "processing",
            "processing",
            "completed",
            "completed"
        ]
    );
    assert_eq!(status(&emu, &id)["job_id"], id.as_str());
    let done = content(&emu);
    assert_eq!(done.status, 200);
    assert_eq!(done.header("content-type"), Some("video/mp4"));
    assert_eq!(done.body, emulator::expected_video_result(&input, None));
    assert!(done.body.starts_with(b"DECART-EMU-VIDEO\nlen=5000 sha256="));

    let a = get(&emu, "/v1/jobs/job_nope", Some(emu.api_key()));
    assert_eq!(a.status, 404);
    assert_eq!(a.detail(), "Job job_nope not found");
    assert_eq!(
        get(&emu, "/v1/jobs/job_nope/content", Some(emu.api_key())).status,
        404
    );
    // Percent-encoded ids are decoded.
    let a = get(&emu, "/v1/jobs/a%2Fb%20c", Some(emu.api_key()));
    assert_eq!(a.detail(), "Job a/b c not found");
    let encoded = id.replace("job_", "job%5F");
    assert_eq!(status(&emu, &encoded)["status"], "completed");
}

#[test]
fn zero_polls_complete_at_once() {
    let emu = Emulator::builder()
        .polls_before_completion(0)
        .start()
        .unwrap();
    let id = submit(&emu, "x", b"abc");
    assert_eq!(status(&emu, &id)["status"], "completed");
}

#[test]
fn jobs_fail_with_a_reason_on_request() {
    let emu = Emulator::start().unwrap();
    let final_state = |id: &str| {
        let mut last = status(&emu, id);
        for _ in 0..3 {
            last = status(&emu, id);
        }
        last
    };
    emu.fail_next_job("GPU on fire");
    let failed = submit(&emu, "x", b"abc");
    let ok = submit(&emu, "x", b"abc");
    assert_eq!(
        final_state(&failed),
        json!({"job_id": failed, "status": "failed", "error": "GPU on fire"})
    );
    assert_eq!(final_state(&ok)["status"], "completed");
    let a = get(
        &emu,
        &format!("/v1/jobs/{failed}/content"),
        Some(emu.api_key()),
    );
    assert_eq!(a.status, 409);
    assert!(a.detail().contains("GPU on fire"));

    let marked = submit(&emu, &format!("a dog {JOB_FAIL_MARKER}"), b"abc");
    let s = final_state(&marked);
    assert_eq!(s["status"], "failed");
    assert!(s["error"].as_str().unwrap().contains(JOB_FAIL_MARKER));

    let always = Emulator::builder()
        .fail_jobs("no capacity")
        .start()
        .unwrap();
    let id = submit(&always, "x", b"abc");
    for _ in 0..3 {
        status(&always, &id);
    }
    assert_eq!(status(&always, &id)["error"], "no capacity");
}

#[test]
fn large_results_are_streamed() {
    const SIZE: u64 = 200 * 1024 * 1024;
    let emu = Emulator::builder()
        .polls_before_completion(0)
        .video_result_size(SIZE)
        .start()
        .unwrap();
    let input = sample(3000, 3);
    let id = submit(&emu, "x", &input);
    assert_eq!(status(&emu, &id)["status"], "completed");
    let mut resp = agent()
        .get(format!("{}/v1/jobs/{id}/content", emu.base_url()))
        .header("x-api-key", emu.api_key())
        .call()
        .unwrap();
    assert_eq!(
        resp.headers()["content-length"].to_str().unwrap(),
        SIZE.to_string()
    );
    let mut got = resp.body_mut().as_reader();
    let mut want = emulator::video_result_reader(&input, Some(SIZE));
    assert_eq!(want.len(), SIZE);
    let (mut a, mut b) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    let mut total = 0u64;
    loop {
        let n = got.read(&mut a).unwrap();
        if n == 0 {
            break;
        }
        want.read_exact(&mut b[..n]).unwrap();
        assert!(a[..n] == b[..n], "bytes differ near offset {total}");
        total += n as u64;
    }
    assert_eq!(total, SIZE);
    assert_eq!(want.read(&mut b).unwrap(), 0);

    // The size can change at run time, for jobs submitted afterwards (and be tiny).
    emu.set_video_result_size(Some(10));
    let id = submit(&emu, "x", &input);
    status(&emu, &id);
    let a = get(&emu, &format!("/v1/jobs/{id}/content"), Some(emu.api_key()));
    assert_eq!(a.body, b"DECART-EMU");
}

#[test]
fn files_with_ttl_rules() {
    let emu = Emulator::start().unwrap();
    let upload = |extra: &[Part<'_>]| {
        let mut parts = vec![Part::File {
            name: "file",
            filename: "photo.png",
            content_type: "image/png",
            data: b"0123456789",
        }];
        parts.extend(extra.iter().map(|p| match p {
            Part::Text(n, v) => Part::Text(n, v),
            Part::File { .. } => unreachable!(),
        }));
        post_multipart(&emu, "/v1/files", &parts)
    };
    let t0 = now();
    let a = upload(&[]);
    assert_eq!(a.status, 200, "{:?}", String::from_utf8_lossy(&a.body));
    let r = a.json();
    let id = r["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("file_"));
    assert_eq!(r["filename"], "photo.png");
    assert_eq!(r["mime_type"], "image/png");
    assert_eq!(r["size_bytes"], 10);
    let created = r["created_at"].as_str().unwrap();
    let expires = r["expires_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && expires.ends_with('Z'));
    assert_ne!(created, expires, "24 h later");
    let _ = t0;

    for ttl in ["60", "2592000", " 3600 "] {
        let a = upload(&[Part::Text("ttl_seconds", ttl)]);
        assert_eq!(a.status, 200, "{ttl}");
        assert!(a.json()["expires_at"].is_string());
    }
    let a = upload(&[Part::Text("ttl_seconds", "persistent")]);
    assert_eq!(a.status, 200);
    assert!(a.json()["expires_at"].is_null());
    for bad in ["59", "2592001", "-60", "1.5", "forever", ""] {
        let a = upload(&[Part::Text("ttl_seconds", bad)]);
        assert_eq!(a.status, 400, "{bad:?}");
        assert!(a.detail().contains("ttl_seconds"));
    }
    // Missing file part.
    let a = post_multipart(&emu, "/v1/files", &[Part::Text("ttl_seconds", "60")]);
    assert_eq!(a.status, 422);

    // Get, delete, get again; ids percent-decoded.
    let got = get(&emu, &format!("/v1/files/{id}"), Some(emu.api_key()));
    assert_eq!(got.status, 200);
    assert_eq!(got.json(), r);
    let encoded = id.replace("file_", "file%5f");
    assert_eq!(
        get(&emu, &format!("/v1/files/{encoded}"), Some(emu.api_key())).status,
        200
    );
    let d = delete(&emu, &format!("/v1/files/{id}"), Some(emu.api_key()));
    assert_eq!(d.status, 204);
    assert!(d.body.is_empty());
    let a = get(&emu, &format!("/v1/files/{id}"), Some(emu.api_key()));
    assert_eq!(a.status, 404);
    assert_eq!(a.detail(), format!("File {id} not found"));
    assert_eq!(
        delete(&emu, &format!("/v1/files/{id}"), Some(emu.api_key())).status,
        404
    );
    assert!(!emu.file_ids().contains(&id));

    // Expiry: a 60 s file is gone once the clock moves past it; a persistent one stays.
    let short = upload(&[Part::Text("ttl_seconds", "60")]).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kept = upload(&[Part::Text("ttl_seconds", "persistent")]).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    emu.set_clock_offset(61);
    assert_eq!(
        get(&emu, &format!("/v1/files/{short}"), Some(emu.api_key())).status,
        404
    );
    assert_eq!(
        get(&emu, &format!("/v1/files/{kept}"), Some(emu.api_key())).status,
        200
    );

    // No filename, no content type.
    let body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nraw\r\n--{BOUNDARY}--\r\n"
    );
    let a = post(
        &emu,
        "/v1/files",
        Some(emu.api_key()),
        &multipart_type(),
        body.as_bytes(),
    );
    assert_eq!(a.status, 200);
    let r = a.json();
    assert!(r["filename"].is_null());
    assert_eq!(r["mime_type"], "application/octet-stream");
    assert_eq!(r["size_bytes"], 3);
}

#[test]
fn a_client_key_can_upload() {
    let emu = Emulator::start().unwrap();
    let ek = mint(&emu, &json!({}))["apiKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = post(
        &emu,
        "/v1/files",
        Some(&ek),
        &multipart_type(),
        &multipart(&[file("file", b"abc")]),
    );
    assert_eq!(a.status, 200);
}
