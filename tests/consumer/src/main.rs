//! The async client in an async main, next to the blocking client used by build.rs.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut buf = vec![0u8; 4096];
        let mut seen = Vec::new();
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") || !seen.ends_with(b"{}") {
            let n = stream.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        let body = r#"{"apiKey":"ek_from_async_main","token":"eyJ.x.y","expiresAt":"2030-01-01T00:00:00Z"}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(answer.as_bytes()).await.expect("write");
    });
    let client = decart::nonblocking::Client::builder()
        .api_key("async-main-key")
        .base_url(url)
        .build()
        .expect("client");
    let token = client
        .tokens()
        .create(&decart::CreateTokenOptions::new())
        .await
        .expect("token from async main");
    server.await.unwrap();
    // The blocking client is there too, under the same crate, with its own name.
    let _blocking: fn(String) -> Result<decart::Client, decart::Error> = decart::Client::new;
    println!(
        "consumer ok: build.rs got {}…, async main got {}… (JWT: {})",
        env!("BUILD_RS_TOKEN_PREFIX"),
        token.api_key.prefix(),
        token.token.is_some()
    );
}
