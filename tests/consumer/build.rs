//! The blocking client inside a build script: builds a client and creates a token against a
//! one-shot loopback server, with no tokio anywhere in the build-dependency graph.

use std::io::{Read, Write};
use std::net::TcpListener;

fn main() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 4096];
        let mut seen = Vec::new();
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") || !seen.ends_with(b"{}") {
            let n = stream.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        let body = r#"{"apiKey":"ek_from_build_rs","expiresAt":"2030-01-01T00:00:00Z"}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(answer.as_bytes()).expect("write");
    });
    let client = decart::Client::builder()
        .api_key("build-script-key")
        .base_url(url)
        .build()
        .expect("client");
    let token = client
        .tokens()
        .create(&decart::CreateTokenOptions::new())
        .expect("token from build.rs");
    server.join().unwrap();
    println!("cargo:rustc-env=BUILD_RS_TOKEN_PREFIX={}", token.api_key.prefix());
    println!("cargo:rerun-if-changed=build.rs");
}
