//! Per-request overhead of `tokens().create` against a keep-alive loopback server, as a ratio
//! to a bare ureq / reqwest request of the same shape (same method, path, headers, body and
//! timeouts; answer read whole).
//!
//! `cargo bench --bench token_overhead --all-features`
//!
//! Each measurement runs in its own child process with its own server (a loopback round trip on
//! a shared 2-core machine is bimodal from process to process), bare and SDK alternating; the
//! figure per kind is the best of the runs, and the ratio compares those.

mod support;

use std::time::{Duration, Instant};

use decart::CreateTokenOptions;

const BODY: &str = r#"{"apiKey":"ek_bench_0123456789","token":"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2ln","expiresAt":"2030-01-01T00:00:00Z","permissions":{"models":["lucy-2.1"],"origins":null},"constraints":null}"#;
const WIRE: &str = r#"{"expiresIn":600,"allowedModels":["lucy-2.1"]}"#;
const REQUESTS: u32 = 3000;
const PROCESSES: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        let per_request = child(&args[pos + 1]);
        println!("{}", per_request.as_nanos());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut kinds = vec!["ureq-bare", "ureq-untimed", "blocking-sdk"];
    if cfg!(feature = "async") {
        kinds.extend(["reqwest-bare", "async-sdk"]);
    }
    let mut best = std::collections::HashMap::new();
    for _ in 0..PROCESSES {
        for kind in &kinds {
            let out = std::process::Command::new(&exe)
                .args(["--child", kind])
                .output()
                .unwrap();
            let ns: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
            let entry = best.entry(*kind).or_insert(u64::MAX);
            *entry = (*entry).min(ns);
        }
    }
    let us = |k: &str| best[k] as f64 / 1000.0;
    let report = |name: &str, bare: &str, sdk: &str| {
        println!(
            "{name}: bare {:.1} µs/request, tokens().create {:.1} µs/request, ratio {:.3}x",
            us(bare),
            us(sdk),
            us(sdk) / us(bare)
        );
    };
    report(
        "blocking vs bare ureq with the same timeouts",
        "ureq-bare",
        "blocking-sdk",
    );
    report(
        "blocking vs bare ureq without timeouts",
        "ureq-untimed",
        "blocking-sdk",
    );
    if cfg!(feature = "async") {
        report(
            "async vs bare reqwest, same timeouts",
            "reqwest-bare",
            "async-sdk",
        );
    }
}

/// Median time per request of one kind, in this process.
fn child(kind: &str) -> Duration {
    let url = support::serve(BODY);
    let endpoint = format!("{url}/v1/client/tokens");
    let ua = format!("decart-rust-sdk/{} lang/rust", env!("CARGO_PKG_VERSION"));
    let options = CreateTokenOptions::new()
        .expires_in(600)
        .allowed_models(["lucy-2.1"]);
    let mut run: Box<dyn FnMut()> = match kind {
        "ureq-bare" | "ureq-untimed" => {
            let mut config = ureq::Agent::config_builder().http_status_as_error(false);
            if kind == "ureq-bare" {
                config = config
                    .timeout_connect(Some(Duration::from_secs(10)))
                    .timeout_global(Some(Duration::from_secs(60)))
                    .max_redirects(0);
            }
            let agent: ureq::Agent = config.build().into();
            Box::new(move || {
                let mut resp = agent
                    .post(&endpoint)
                    .header("x-api-key", "bench-key")
                    .header("user-agent", &ua)
                    .header("accept", "application/json")
                    .header("content-type", "application/json")
                    .send(WIRE)
                    .unwrap();
                let body = resp.body_mut().read_to_vec().unwrap();
                assert_eq!(body.len(), BODY.len());
            })
        }
        "blocking-sdk" => {
            let client = decart::blocking::Client::builder()
                .api_key("bench-key")
                .base_url(url.as_str())
                .build()
                .unwrap();
            Box::new(move || {
                let token = client.tokens().create(&options).unwrap();
                assert!(token.token.is_some());
            })
        }
        #[cfg(feature = "async")]
        "reqwest-bare" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            // The SDK enables reqwest's `rustls-no-provider`: a bare client needs a provider.
            #[cfg(feature = "rustls")]
            let _ = rustls::crypto::ring::default_provider().install_default();
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(60))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            Box::new(move || {
                rt.block_on(async {
                    let resp = client
                        .post(&endpoint)
                        .header("x-api-key", "bench-key")
                        .header("user-agent", &ua)
                        .header("accept", "application/json")
                        .header("content-type", "application/json")
                        .body(WIRE.as_bytes().to_vec())
                        .timeout(Duration::from_secs(60))
                        .send()
                        .await
                        .unwrap();
                    let body = resp.bytes().await.unwrap();
                    assert_eq!(body.len(), BODY.len());
                })
            })
        }
        #[cfg(feature = "async")]
        "async-sdk" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let client = decart::nonblocking::Client::builder()
                .api_key("bench-key")
                .base_url(url.as_str())
                .build()
                .unwrap();
            Box::new(move || {
                rt.block_on(async {
                    let token = client.tokens().create(&options).await.unwrap();
                    assert!(token.token.is_some());
                })
            })
        }
        other => panic!("unknown kind {other}"),
    };
    for _ in 0..200 {
        run();
    }
    let mut samples = Vec::with_capacity(15);
    for _ in 0..15 {
        let started = Instant::now();
        for _ in 0..REQUESTS / 15 {
            run();
        }
        samples.push(started.elapsed() / (REQUESTS / 15));
    }
    samples.sort();
    samples[samples.len() / 2]
}
