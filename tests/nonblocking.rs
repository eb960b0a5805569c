//! The shared test bodies of `tests/common`, run against the async client.
#![cfg(feature = "async")]

use maybe_async::must_be_async as maybe_async;

pub use decart::nonblocking::Client;
#[cfg(feature = "realtime")]
pub use decart::nonblocking::RealtimeSession;
#[cfg(feature = "jwt")]
pub use decart::nonblocking::{JwksVerifier, JwksVerifierBuilder};

#[macro_use]
mod common;
#[cfg(feature = "emulator")]
#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/hardening.rs"]
mod hardening;
#[cfg(feature = "jwt")]
#[path = "common/jwks.rs"]
mod jwks;
#[path = "common/media.rs"]
mod media;
#[cfg(all(feature = "realtime", feature = "emulator"))]
#[path = "common/realtime.rs"]
mod realtime;
#[path = "common/tokens.rs"]
mod tokens;

pub async fn server() -> mockito::ServerGuard {
    mockito::Server::new_async().await
}

pub async fn create(mock: mockito::Mock) -> mockito::Mock {
    mock.create_async().await
}

pub async fn assert_mock(mock: &mockito::Mock) {
    mock.assert_async().await;
}

macro_rules! async_tests {
    ($module:ident: $($name:ident),* $(,)?) => {
        $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
           async fn $name() { $module::$name().await } )*
    };
}

macro_rules! sync_tests {
    ($module:ident: $($name:ident),* $(,)?) => {
        $( #[test] fn $name() { $module::$name() } )*
    };
}

token_tests!(async_tests, sync_tests);
media_tests!(async_tests);

/// Runs `n` verifications of `token` at once, as `n` tasks.
#[cfg(feature = "jwt")]
pub async fn concurrent_verify(verifier: &JwksVerifier, token: &str, n: usize) -> Vec<bool> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (v, t, b) = (verifier.clone(), token.to_owned(), barrier.clone());
            tokio::spawn(async move {
                b.wait().await;
                v.verify(&t).await.is_ok()
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[cfg(feature = "jwt")]
jwks_tests!(async_tests, sync_tests);

#[cfg(feature = "emulator")]
e2e_tests!(async_tests);

/// Async only, by nature: a verification future dropped while it fetches the JWKS (a caller's
/// timeout) gives its fetch claim back, so the next verification fetches at once instead of
/// failing as "JWKS unreachable" until the claim expires.
#[cfg(all(feature = "emulator", feature = "jwt"))]
#[tokio::test]
async fn dropped_cold_verification_gives_the_fetch_back() {
    use std::time::Duration;

    use decart::emulator::{Emulator, Fault};
    use decart::jwt::VerifyOptions;

    let emu = Emulator::start().unwrap();
    let client = Client::builder()
        .api_key(emu.api_key())
        .base_url(emu.base_url())
        .build()
        .unwrap();
    let minted = client
        .tokens()
        .create(&decart::CreateTokenOptions::new())
        .await
        .unwrap();
    let jwt = minted.token.unwrap();
    emu.inject(Fault::delay(Duration::from_secs(3)).on("GET", "/api/auth/jwks"));
    let verifier = JwksVerifier::builder()
        .jwks_url(emu.jwks_url())
        .options(
            VerifyOptions::new()
                .issuer(emu.issuer())
                .audience(emu.audience()),
        )
        .build()
        .unwrap();
    let dropped =
        tokio::time::timeout(Duration::from_millis(200), verifier.verify(jwt.expose())).await;
    assert!(
        dropped.is_err(),
        "the first verification should have timed out"
    );
    let verified = verifier.verify(jwt.expose()).await;
    assert!(verified.is_ok(), "{verified:?}");
    assert_eq!(verifier.fetch_count(), 2);
}

/// A caller's own client with reqwest's defaults: it follows redirects.
pub fn following_client() -> decart::nonblocking::HttpClient {
    // This crate builds reqwest without a default crypto provider; a caller brings one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A caller's own client with no timeouts of its own, following no redirects as required.
pub fn plain_client() -> decart::nonblocking::HttpClient {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

hardening_tests!(async_tests, sync_tests);
#[cfg(feature = "jwt")]
async_tests!(hardening: a_redirected_jwks_is_refused_whatever_the_client);

/// Async only, by nature: calls through two resource handles run at once in one `join!`.
/// The handles are `Copy` and their futures borrow only the client, so temporaries work.
#[tokio::test]
async fn resource_handles_can_be_joined() {
    let mut server = server().await;
    let status = create(
        server
            .mock("GET", "/v1/jobs/a")
            .with_status(200)
            .with_body(r#"{"job_id":"a","status":"processing"}"#),
    )
    .await;
    let file = create(server.mock("GET", "/v1/files/b").with_status(200).with_body(
        r#"{"id":"b","filename":"a.png","mime_type":"image/png","size_bytes":4,"created_at":"2026-01-01T00:00:00Z","expires_at":null}"#,
    ))
    .await;
    let c = Client::builder()
        .api_key(common::KEY)
        .base_url(server.url())
        .build()
        .unwrap();
    let (job, f) = tokio::join!(c.queue().status("a"), c.files().get("b"));
    assert_eq!(job.unwrap().job_id, "a");
    assert_eq!(f.unwrap().id, "b");
    assert_mock(&status).await;
    assert_mock(&file).await;
}

#[cfg(all(feature = "realtime", feature = "emulator"))]
realtime_tests!(async_tests);

/// Async only, by nature: a download to a path whose future is dropped mid-way (a caller's
/// timeout) leaves no partial file behind.
#[tokio::test]
async fn a_dropped_download_leaves_no_partial_file() {
    use common::raw::{Behaviour, RawServer};
    let head = b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\nabc";
    let raw = RawServer::start(Behaviour::Stall(
        head.to_vec(),
        std::time::Duration::from_secs(10),
    ));
    let dir = std::env::temp_dir().join(format!("decart-dropped-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = Client::builder()
        .api_key(common::KEY)
        .base_url(&raw.url)
        .build()
        .unwrap();
    let download = c.queue().result_to_path("job_1", dir.join("out.mp4"));
    let cut = tokio::time::timeout(std::time::Duration::from_millis(300), download).await;
    assert!(cut.is_err(), "the download was expected to be cut: {cut:?}");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
