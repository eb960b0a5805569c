//! Fault injection on the emulator, checked on the wire.

#![cfg(feature = "emulator")]

mod emulator_common;

use std::time::{Duration, Instant};

use decart::emulator::{Fault, GARBAGE_BODY, HTML_BODY};
use emulator_common::*;
use serde_json::json;

const JOB_BODY: &[Part<'static>] = &[
    Part::Text("prompt", "x"),
    Part::File {
        name: "data",
        filename: "in.mp4",
        content_type: "video/mp4",
        data: b"video bytes",
    },
];

#[test]
fn status_with_retry_after_for_the_next_n_matching() {
    let emu = Emulator::start().unwrap();
    emu.inject(
        Fault::status(503)
            .retry_after(1)
            .times(2)
            .on("POST", "/v1/jobs/"),
    );
    assert_eq!(emu.pending_faults(), 1);
    // Not matching: other method, other path.
    assert_eq!(get(&emu, "/v1/jobs/job_x", Some(emu.api_key())).status, 404);
    assert_eq!(get(&emu, "/api/auth/jwks", None).status, 200);
    for _ in 0..2 {
        let a = post_multipart(&emu, "/v1/jobs/lucy-2.1", JOB_BODY);
        assert_eq!(a.status, 503);
        assert_eq!(a.header("retry-after"), Some("1"));
        assert_eq!(a.detail(), "Injected fault: HTTP 503");
    }
    assert_eq!(emu.pending_faults(), 0);
    let a = post_multipart(&emu, "/v1/jobs/lucy-2.1", JOB_BODY);
    assert_eq!(a.status, 200);
    // The faulted submissions were not processed: one job exists.
    assert_eq!(emu.job_ids().len(), 1);
    assert_eq!(emu.count("POST", "/v1/jobs/"), 3);
    let faulted: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.fault.is_some())
        .collect();
    assert_eq!(faulted.len(), 2);
    assert_eq!(faulted[0].fault.as_deref(), Some("status 503"));
    assert_eq!(faulted[0].status, Some(503));
    // The faulted request's body was still read (and logged) whole.
    assert_eq!(faulted[0].body_size, multipart(JOB_BODY).len() as u64);
}

#[test]
fn custom_body_headers_and_http_date() {
    let emu = Emulator::start().unwrap();
    emu.inject(
        Fault::status(429)
            .retry_after_value("Wed, 21 Oct 2015 07:28:00 GMT")
            .header("X-Extra", "1\r\nInjected: no")
            .body("text/plain", "slow down"),
    );
    let a = get(&emu, "/api/auth/jwks", None);
    assert_eq!(a.status, 429);
    assert_eq!(
        a.header("retry-after"),
        Some("Wed, 21 Oct 2015 07:28:00 GMT")
    );
    assert_eq!(a.header("x-extra"), Some("1Injected: no"));
    assert_eq!(a.header("injected"), None);
    assert_eq!(a.header("content-type"), Some("text/plain"));
    assert_eq!(a.body, b"slow down");
}

#[test]
fn garbage_html_and_empty_bodies() {
    let emu = Emulator::start().unwrap();
    let path = "/v1/client/tokens";
    emu.inject(Fault::garbage().on("POST", path));
    emu.inject(Fault::html().with_status(502).on("POST", path));
    emu.inject(Fault::empty().on("POST", path));
    emu.inject(Fault::html().on("POST", path));

    let a = post_json(&emu, path, Some(emu.api_key()), &json!({}));
    assert_eq!(
        (a.status, a.header("content-type")),
        (200, Some("application/json"))
    );
    assert_eq!(a.body, GARBAGE_BODY);
    assert!(serde_json::from_slice::<serde_json::Value>(&a.body).is_err());

    let a = post_json(&emu, path, Some(emu.api_key()), &json!({}));
    assert_eq!(a.status, 502);
    assert!(a.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(a.body, HTML_BODY.as_bytes());

    let a = post_json(&emu, path, Some(emu.api_key()), &json!({}));
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-length"), Some("0"));
    assert!(a.body.is_empty());

    let a = post_json(&emu, path, Some(emu.api_key()), &json!({}));
    assert_eq!(a.status, 200);
    assert_eq!(a.body, HTML_BODY.as_bytes());

    // Faults fire in injection order; then normal service.
    assert_eq!(
        post_json(&emu, path, Some(emu.api_key()), &json!({})).status,
        200
    );
    let faults: Vec<_> = emu.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        vec![
            Some("garbage 200".to_owned()),
            Some("html 502".to_owned()),
            Some("empty 200".to_owned()),
            Some("html 200".to_owned()),
            None
        ]
    );
}

#[test]
fn truncated_body_then_close() {
    let emu = Emulator::start().unwrap();
    emu.inject(Fault::truncated().on("GET", "/api/auth/jwks"));
    let full = raw(
        emu.addr(),
        b"GET /api/auth/jwks HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    let text = String::from_utf8_lossy(&full);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let declared: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(body.len() < declared, "{} < {declared}", body.len());
    assert_eq!(body.len(), declared / 2);
    // The next answer is whole again, and ureq reports the truncation as an error.
    emu.inject(Fault::truncated());
    let mut resp = agent()
        .get(format!("{}/api/auth/jwks", emu.base_url()))
        .call()
        .unwrap();
    assert!(resp.body_mut().read_to_vec().is_err());
    assert_eq!(get(&emu, "/api/auth/jwks", None).status, 200);
    // Truncation processes the request: the job exists.
    emu.inject(Fault::truncated().on("POST", "/v1/jobs/"));
    let r = agent()
        .post(format!("{}/v1/jobs/lucy-2.1", emu.base_url()))
        .header("x-api-key", emu.api_key())
        .header("content-type", &multipart_type())
        .send(&multipart(JOB_BODY)[..]);
    assert!(r.is_err() || r.unwrap().body_mut().read_to_vec().is_err());
    assert_eq!(emu.job_ids().len(), 1);
}

#[test]
fn empty_answer_truncated_declares_one_byte() {
    let emu = Emulator::start().unwrap();
    let id = post_multipart(&emu, "/v1/files", &[file("file", b"x")]).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    emu.inject(Fault::truncated().on("DELETE", "/v1/files/"));
    let req = format!(
        "DELETE /v1/files/{id} HTTP/1.1\r\nhost: x\r\nx-api-key: {}\r\n\r\n",
        emu.api_key()
    );
    let a = raw(emu.addr(), req.as_bytes(), Duration::from_secs(10));
    let text = String::from_utf8_lossy(&a);
    assert!(text.starts_with("HTTP/1.1 204"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "{text}");
}

#[test]
fn dropped_connection() {
    let emu = Emulator::start().unwrap();
    emu.inject(Fault::drop_connection().on("POST", "/v1/jobs/"));
    let r = agent()
        .post(format!("{}/v1/jobs/lucy-2.1", emu.base_url()))
        .header("x-api-key", emu.api_key())
        .header("content-type", &multipart_type())
        .send(&multipart(JOB_BODY)[..]);
    assert!(r.is_err(), "no answer: {r:?}");
    assert_eq!(emu.job_ids().len(), 0, "not processed");
    // On the wire: nothing at all comes back.
    emu.inject(Fault::drop_connection());
    let a = raw(
        emu.addr(),
        b"GET /api/auth/jwks HTTP/1.1\r\nhost: x\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(a.is_empty(), "{:?}", String::from_utf8_lossy(&a));
    let last = emu.requests().pop().unwrap();
    assert_eq!(last.status, None);
    assert_eq!(last.fault.as_deref(), Some("drop"));

    // After processing: the job is created, the answer lost.
    emu.inject(
        Fault::drop_connection()
            .after_processing()
            .on("POST", "/v1/jobs/"),
    );
    let r = agent()
        .post(format!("{}/v1/jobs/lucy-2.1", emu.base_url()))
        .header("x-api-key", emu.api_key())
        .header("content-type", &multipart_type())
        .send(&multipart(JOB_BODY)[..]);
    assert!(r.is_err());
    assert_eq!(emu.job_ids().len(), 1, "processed");
    assert_eq!(emu.count("POST", "/v1/jobs/"), 2);
}

#[test]
fn status_after_processing() {
    let emu = Emulator::start().unwrap();
    emu.inject(
        Fault::status(500)
            .after_processing()
            .on("POST", "/v1/client/tokens"),
    );
    let a = post_json(&emu, "/v1/client/tokens", Some(emu.api_key()), &json!({}));
    assert_eq!(a.status, 500);
    // The token was minted: the log has its request body, the fault, and the status sent.
    let r = emu.requests().pop().unwrap();
    assert_eq!(r.fault.as_deref(), Some("status 500 (after processing)"));
    assert_eq!(r.json(), Some(json!({})));
}

#[test]
fn delays() {
    let emu = Emulator::start().unwrap();
    emu.inject(Fault::delay(Duration::from_millis(300)).on("GET", "/api/auth/jwks"));
    let t = Instant::now();
    assert_eq!(get(&emu, "/api/auth/jwks", None).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    // A delay before another fault.
    emu.inject(
        Fault::status(504)
            .delayed(Duration::from_millis(200))
            .always()
            .on_path("/v1/files"),
    );
    for _ in 0..2 {
        let t = Instant::now();
        assert_eq!(get(&emu, "/v1/files/x", Some(emu.api_key())).status, 504);
        assert!(t.elapsed() >= Duration::from_millis(200));
    }
    assert_eq!(emu.pending_faults(), 1, "always stays");
    emu.clear_faults();
    assert_eq!(emu.pending_faults(), 0);
    emu.inject(Fault::status(500).times(0));
    assert_eq!(emu.pending_faults(), 0, "times(0) never fires");
    assert_eq!(get(&emu, "/v1/files/x", Some(emu.api_key())).status, 404);
}

#[test]
fn a_delayed_answer_does_not_block_others_nor_drop() {
    let emu = Emulator::start().unwrap();
    emu.inject(Fault::delay(Duration::from_secs(60)).on("GET", "/slow"));
    let base = emu.base_url().to_owned();
    let slow = std::thread::spawn(move || {
        agent()
            .get(format!("{base}/slow"))
            .call()
            .map(|r| r.status().as_u16())
    });
    // Wait until the slow request is in.
    let t = Instant::now();
    while emu.pending_faults() > 0 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(get(&emu, "/api/auth/jwks", None).status, 200);
    // Dropping the emulator interrupts the delay: the drop is quick, the slow client gets an
    // answer or an error, and its thread ends.
    let t = Instant::now();
    drop(emu);
    assert!(t.elapsed() < Duration::from_secs(10));
    let _ = slow.join().unwrap();
}
