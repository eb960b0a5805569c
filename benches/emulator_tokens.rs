//! Token-minting throughput of the emulator on loopback, one client thread (ureq, keep-alive),
//! with a baseline in the same run: bare `GET /api/auth/jwks` requests (routing, logging and
//! HTTP only, no signing).
//!
//! `cargo bench --bench emulator_tokens --features emulator,blocking`

use std::io::Read;
use std::time::{Duration, Instant};

use decart::emulator::Emulator;

const ROUNDS: usize = 7;
const ROUND_TIME: Duration = Duration::from_millis(400);

/// Runs `f` repeatedly for about `ROUND_TIME`; returns calls per second.
fn rate(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < ROUND_TIME {
        for _ in 0..20 {
            f();
        }
        n += 20;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // The log is bounded anyway; keep it small so the bench measures the endpoint.
    let emu = Emulator::builder().log_capacity(100).start().unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let tokens_url = format!("{}/v1/client/tokens", emu.base_url());
    let jwks_url = emu.jwks_url();
    let key = emu.api_key().to_owned();
    let body = r#"{"expiresIn":600,"allowedModels":["lucy-2.1"],"metadata":{"service_tier":1}}"#;
    let mut buf = Vec::with_capacity(4096);

    let mut mint = || {
        let mut resp = agent
            .post(&tokens_url)
            .header("x-api-key", &key)
            .header("content-type", "application/json")
            .send(body)
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        buf.clear();
        resp.body_mut().as_reader().read_to_end(&mut buf).unwrap();
        assert!(buf.starts_with(br#"{"apiKey":"ek_"#));
    };
    let jwks_agent = agent.clone();
    let mut jwks_buf = Vec::with_capacity(4096);
    let mut jwks = || {
        let mut resp = jwks_agent.get(&jwks_url).call().unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        jwks_buf.clear();
        resp.body_mut()
            .as_reader()
            .read_to_end(&mut jwks_buf)
            .unwrap();
    };

    // Warm up both paths (connection, allocator, caches).
    for _ in 0..200 {
        mint();
        jwks();
    }
    let (mut minted, mut fetched) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        minted.push(rate(&mut mint));
        fetched.push(rate(&mut jwks));
    }
    let (m, j) = (median(minted.clone()), median(fetched.clone()));
    println!(
        "emulator on loopback, one client thread (ureq keep-alive), median of {ROUNDS} rounds of {ROUND_TIME:?}:"
    );
    println!(
        "  POST /v1/client/tokens (mint ek_ key + EdDSA JWT): {m:>8.0} tokens/s  ({:.1} us each)",
        1e6 / m
    );
    println!(
        "  GET  /api/auth/jwks (baseline, no signing):        {j:>8.0} requests/s ({:.1} us each)",
        1e6 / j
    );
    println!(
        "  minting costs {:.1} us more than the baseline request",
        1e6 / m - 1e6 / j
    );
    println!(
        "  rounds: tokens/s {:?}; jwks/s {:?}",
        minted.iter().map(|x| x.round()).collect::<Vec<_>>(),
        fetched.iter().map(|x| x.round()).collect::<Vec<_>>()
    );
}
