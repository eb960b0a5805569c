//! The emulator as a server: lifecycle, HTTP framing, bounds, bad input, the request log, and
//! streamed uploads.

#![cfg(feature = "emulator")]

mod emulator_common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use decart::emulator::{self, Credential};
use emulator_common::*;
use serde_json::json;

#[test]
fn drop_stops_the_server_and_frees_the_port() {
    let emu = Emulator::start().unwrap();
    let addr = emu.addr();
    assert!(addr.ip().is_loopback());
    assert_eq!(emu.base_url(), format!("http://127.0.0.1:{}", addr.port()));
    assert_eq!(emu.port(), addr.port());
    // An idle keep-alive connection, and one stuck in the middle of a request head.
    let agent = agent();
    let r = agent
        .get(format!("{}/api/auth/jwks", emu.base_url()))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(b"GET /api/auth/jwks HTTP/1.1\r\nhost:")
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    drop(emu);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // The port is free at once, and nothing answers any more.
    let l = TcpListener::bind(addr).expect("port free after drop");
    drop(l);
    let mut buf = [0u8; 16];
    half.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(matches!(half.read(&mut buf), Ok(0) | Err(_)));
}

#[test]
fn fixed_port_and_bind_errors() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let emu = Emulator::builder().port(port).start().unwrap();
    assert_eq!(emu.port(), port);
    let err = Emulator::builder().port(port).start().unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    let debug = format!("{emu:?}");
    assert!(!debug.contains(emu.api_key()), "{debug}");
}

#[test]
fn wait_returns_after_a_shutdown_handle_stops_it() {
    let emu = Emulator::start().unwrap();
    let handle = emu.shutdown_handle();
    let addr = emu.addr();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        handle.shutdown();
    });
    let t = Instant::now();
    emu.wait();
    assert!(t.elapsed() < Duration::from_secs(10));
    stopper.join().unwrap();
    assert!(TcpListener::bind(addr).is_ok());
}

#[test]
fn malformed_requests_get_a_status_and_a_close() {
    let emu = Emulator::start().unwrap();
    let many_headers: String = (0..70).map(|i| format!("x-h{i}: v\r\n")).collect();
    let long_header = format!("x-long: {}\r\n", "a".repeat(17 * 1024));
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"NOT HTTP AT ALL\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/1.1\r\nbad header line\r\n\r\n".to_vec(), 400),
        (
            format!("GET / HTTP/1.1\r\n{many_headers}\r\n").into_bytes(),
            431,
        ),
        (
            format!("GET / HTTP/1.1\r\n{long_header}\r\n").into_bytes(),
            431,
        ),
        (
            b"POST /v1/files HTTP/1.1\r\ncontent-length: abc\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"POST /v1/files HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n".to_vec(),
            400,
        ),
        (
            b"POST /v1/files HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 2\r\n\r\n"
                .to_vec(),
            400,
        ),
        (
            b"POST /v1/files HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n".to_vec(),
            501,
        ),
        (
            b"POST /v1/files HTTP/1.1\r\nexpect: 200-ok\r\ncontent-length: 1\r\n\r\nx".to_vec(),
            417,
        ),
    ];
    for (request, status) in cases {
        let a = raw(emu.addr(), &request, Duration::from_secs(10));
        assert_eq!(
            raw_status(&a),
            Some(status),
            "{:?} -> {:?}",
            String::from_utf8_lossy(&request[..request.len().min(60)]),
            String::from_utf8_lossy(&a)
        );
    }
    // Random bytes never hurt it.
    for seed in 0..40 {
        let junk = sample(1 + (seed as usize * 97) % 3000, seed);
        let _ = raw(emu.addr(), &junk, Duration::from_millis(300));
    }
    let mut chunk_junk = b"POST /v1/files HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    chunk_junk.extend_from_slice(&sample(500, 9));
    let a = raw(emu.addr(), &chunk_junk, Duration::from_secs(10));
    assert!(
        raw_status(&a).is_some_and(|s| s == 400 || s == 401),
        "{:?}",
        String::from_utf8_lossy(&a)
    );
    assert_eq!(get(&emu, "/api/auth/jwks", None).status, 200);
}

#[test]
fn http_1_0_keep_alive_and_expect_continue() {
    let emu = Emulator::start().unwrap();
    // HTTP/1.0: answered, then closed.
    let a = raw(
        emu.addr(),
        b"GET /api/auth/jwks HTTP/1.0\r\n\r\n",
        Duration::from_secs(10),
    );
    assert_eq!(raw_status(&a), Some(200));
    assert!(String::from_utf8_lossy(&a).contains("connection: close"));
    // Two requests on one connection, pipelined.
    let a = raw(
        emu.addr(),
        b"GET /api/auth/jwks HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\nconnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    let text = String::from_utf8_lossy(&a);
    assert_eq!(text.matches("HTTP/1.1 ").count(), 2, "{text}");
    assert!(text.contains("HTTP/1.1 404"));
    // HEAD: no route answers it, and the answer has no body (the next request still works).
    let a = raw(
        emu.addr(),
        b"HEAD /api/auth/jwks HTTP/1.1\r\n\r\nGET /api/auth/jwks HTTP/1.1\r\nconnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    let text = String::from_utf8_lossy(&a);
    assert!(text.starts_with("HTTP/1.1 405"), "{text}");
    assert!(text.contains("content-length: 0\r\n"), "{text}");
    let (_, after_head) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        after_head.starts_with("HTTP/1.1 200 OK"),
        "no body after HEAD: {text}"
    );
    // Expect: 100-continue.
    let body = multipart(&[file("file", b"abc")]);
    let mut s = TcpStream::connect(emu.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /v1/files HTTP/1.1\r\nx-api-key: {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n",
        emu.api_key(),
        multipart_type(),
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut first = [0u8; 25];
    s.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(&body).unwrap();
    let mut rest = String::new();
    s.read_to_string(&mut rest).unwrap();
    assert!(rest.starts_with("HTTP/1.1 200 OK"), "{rest}");
}

#[test]
fn chunked_uploads_with_trailers() {
    let emu = Emulator::start().unwrap();
    let body = multipart(&[file("file", &sample(10_000, 4))]);
    let mut chunked = Vec::new();
    for piece in body.chunks(777) {
        chunked.extend_from_slice(format!("{:x};ext=1\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\nx-trailer: yes\r\n\r\n");
    let head = format!(
        "POST /v1/files HTTP/1.1\r\nx-api-key: {}\r\ncontent-type: {}\r\ntransfer-encoding: chunked\r\n\r\n",
        emu.api_key(),
        multipart_type()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(&chunked);
    // Then a second request on the same connection, to check the framing ended in place.
    request.extend_from_slice(b"GET /api/auth/jwks HTTP/1.1\r\nconnection: close\r\n\r\n");
    let a = raw(emu.addr(), &request, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&a);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("\"size_bytes\":10000"), "{text}");
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    let r = &emu.requests()[0];
    assert_eq!(r.body_size, body.len() as u64);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
}

#[test]
fn slow_clients_time_out() {
    let emu = Emulator::builder()
        .read_timeout(Duration::from_millis(300))
        .start()
        .unwrap();
    // Half a head: 408, then close.
    let a = raw(
        emu.addr(),
        b"GET /api/auth/jwks HTTP/1.1\r\nhost",
        Duration::from_secs(10),
    );
    assert_eq!(raw_status(&a), Some(408));
    // Idle keep-alive connection: closed without a word.
    let mut s = TcpStream::connect(emu.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 64];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    assert!(t.elapsed() < Duration::from_secs(5));
    // A body that stops coming: 408, nothing logged as a success.
    let mut s = TcpStream::connect(emu.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /v1/files HTTP/1.1\r\nx-api-key: {}\r\ncontent-type: {}\r\ncontent-length: 1000\r\n\r\n--{BOUNDARY}\r\n",
        emu.api_key(),
        multipart_type()
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    assert_eq!(
        raw_status(&answer),
        Some(408),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(emu.requests().last().unwrap().status, Some(408));
}

#[test]
fn connection_limit() {
    let emu = Emulator::builder().max_connections(2).start().unwrap();
    let a = TcpStream::connect(emu.addr()).unwrap();
    let b = TcpStream::connect(emu.addr()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let third = raw(
        emu.addr(),
        b"GET /api/auth/jwks HTTP/1.1\r\n\r\n",
        Duration::from_secs(10),
    );
    assert_eq!(raw_status(&third), Some(503));
    drop((a, b));
    // Once they are gone, service resumes.
    let t = Instant::now();
    loop {
        let a = raw(
            emu.addr(),
            b"GET /api/auth/jwks HTTP/1.1\r\nconnection: close\r\n\r\n",
            Duration::from_secs(10),
        );
        if raw_status(&a) == Some(200) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn request_log() {
    let emu = Emulator::builder().log_capacity(3).start().unwrap();
    let r = agent()
        .get(format!("{}/v1/files/f1?x=1&y=2", emu.base_url()))
        .header("x-api-key", emu.api_key())
        .header("user-agent", "decart-rust-sdk/0.1.0 lang/rust")
        .header("authorization", "Bearer secret-bearer")
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let log = emu.requests();
    let e = &log[0];
    assert_eq!(e.method, "GET");
    assert_eq!(e.path, "/v1/files/f1");
    assert_eq!(e.query.as_deref(), Some("x=1&y=2"));
    assert!(e.has_api_key());
    assert_eq!(e.credential, Some(Credential::Permanent));
    assert_eq!(e.header("X-Api-Key"), Some("<redacted>"));
    assert_eq!(e.header("authorization"), Some("<redacted>"));
    assert_eq!(
        e.header("user-agent"),
        Some("decart-rust-sdk/0.1.0 lang/rust")
    );
    assert_eq!(e.status, Some(404));
    assert_eq!(e.body_size, 0);
    let debug = format!("{log:?}");
    assert!(
        !debug.contains(emu.api_key()) && !debug.contains("secret-bearer"),
        "{debug}"
    );

    assert_eq!(get(&emu, "/api/auth/jwks", None).status, 200);
    assert!(!emu.requests()[1].has_api_key());
    post_multipart(&emu, "/v1/files", &[file("file", b"abc")]);
    post_json(
        &emu,
        "/v1/client/tokens",
        Some(emu.api_key()),
        &json!({"expiresIn": 5}),
    );
    // Bounded: the oldest is gone.
    let log = emu.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].path, "/api/auth/jwks");
    assert_eq!(emu.count("*", "/v1/"), 2);
    assert_eq!(emu.count("post", "/v1/files"), 1);
    assert_eq!(emu.count("GET", "/v1/"), 0);
    let upload = &log[1];
    assert_eq!(upload.field_names(), vec!["file"]);
    assert_eq!(
        upload.part("file").unwrap().sha256,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert!(
        upload
            .content_type
            .as_deref()
            .unwrap()
            .starts_with("multipart/form-data")
    );
    assert_eq!(log[2].json(), Some(json!({"expiresIn": 5})));
    emu.clear_requests();
    assert!(emu.requests().is_empty());
}

#[test]
fn a_large_image_with_content_length() {
    let emu = Emulator::start().unwrap();
    let input = sample(12 * 1024 * 1024, 5);
    let a = post_multipart(
        &emu,
        "/v1/generate/lucy-image-latest",
        &[Part::Text("prompt", "x"), file("data", &input)],
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.body, emulator::expected_image_result(&input));
}
