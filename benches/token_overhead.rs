//! Per-request overhead of `tokens().create` against a keep-alive loopback server, as a ratio
//! to a bare ureq / reqwest request of the same shape (same method, path, headers and body,
//! answer read whole), measured in alternating batches in the same run.
//!
//! `cargo bench --bench token_overhead --all-features`

mod support;

use decart::CreateTokenOptions;

const BODY: &str = r#"{"apiKey":"ek_bench_0123456789","token":"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2ln","expiresAt":"2030-01-01T00:00:00Z","permissions":{"models":["lucy-2.1"],"origins":null},"constraints":null}"#;
const ROUNDS: usize = 15;
const PER_ROUND: usize = 200;

fn main() {
    let url = support::serve(BODY);
    let options = CreateTokenOptions::new()
        .expires_in(600)
        .allowed_models(["lucy-2.1"]);
    let wire = r#"{"expiresIn":600,"allowedModels":["lucy-2.1"]}"#;
    let ua = format!("decart-rust-sdk/{} lang/rust", env!("CARGO_PKG_VERSION"));

    #[cfg(feature = "blocking")]
    {
        // The same timeouts the SDK sets by default. ureq applies them with a setsockopt per
        // read and write, which is costly on some kernels (sandboxes): a bare agent without
        // timeouts is also measured, for comparison.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(std::time::Duration::from_secs(10)))
            .timeout_global(Some(std::time::Duration::from_secs(60)))
            .max_redirects(0)
            .build()
            .into();
        let untimed: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let endpoint = format!("{url}/v1/client/tokens");
        let client = decart::blocking::Client::builder()
            .api_key("bench-key")
            .base_url(url.as_str())
            .build()
            .unwrap();
        let (bare, sdk) = support::compare(
            ROUNDS,
            PER_ROUND,
            || {
                let mut resp = agent
                    .post(&endpoint)
                    .header("x-api-key", "bench-key")
                    .header("user-agent", &ua)
                    .header("accept", "application/json")
                    .header("content-type", "application/json")
                    .send(wire)
                    .unwrap();
                let body = resp.body_mut().read_to_vec().unwrap();
                assert_eq!(body.len(), BODY.len());
            },
            || {
                let token = client.tokens().create(&options).unwrap();
                assert!(token.token.is_some());
            },
        );
        report("blocking (ureq, same timeouts)", bare, sdk);
        let (untimed_bare, sdk) = support::compare(
            ROUNDS,
            PER_ROUND,
            || {
                let mut resp = untimed
                    .post(&endpoint)
                    .header("x-api-key", "bench-key")
                    .send(wire)
                    .unwrap();
                let body = resp.body_mut().read_to_vec().unwrap();
                assert_eq!(body.len(), BODY.len());
            },
            || {
                client.tokens().create(&options).unwrap();
            },
        );
        report(
            "blocking (ureq, bare agent without timeouts)",
            untimed_bare,
            sdk,
        );
    }

    #[cfg(feature = "async")]
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // The SDK enables reqwest's `rustls-no-provider`: a bare client needs a provider.
        #[cfg(feature = "rustls")]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bare_client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let endpoint = format!("{url}/v1/client/tokens");
        let client = decart::nonblocking::Client::builder()
            .api_key("bench-key")
            .base_url(url.as_str())
            .build()
            .unwrap();
        let (bare, sdk) = support::compare(
            ROUNDS,
            PER_ROUND,
            || {
                rt.block_on(async {
                    let resp = bare_client
                        .post(&endpoint)
                        .header("x-api-key", "bench-key")
                        .header("user-agent", &ua)
                        .header("accept", "application/json")
                        .header("content-type", "application/json")
                        .body(wire)
                        .timeout(std::time::Duration::from_secs(60))
                        .send()
                        .await
                        .unwrap();
                    let body = resp.bytes().await.unwrap();
                    assert_eq!(body.len(), BODY.len());
                })
            },
            || {
                rt.block_on(async {
                    let token = client.tokens().create(&options).await.unwrap();
                    assert!(token.token.is_some());
                })
            },
        );
        report("async (reqwest)", bare, sdk);
    }
}

fn report(flavour: &str, bare: std::time::Duration, sdk: std::time::Duration) {
    println!(
        "{flavour}: bare {:.1} µs/request, tokens().create {:.1} µs/request, ratio {:.3}x",
        bare.as_secs_f64() * 1e6,
        sdk.as_secs_f64() * 1e6,
        sdk.as_secs_f64() / bare.as_secs_f64()
    );
}
