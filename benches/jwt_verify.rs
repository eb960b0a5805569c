//! Throughput of offline client-token verification against bare Ed25519 `verify_strict`.
//!
//! Run with `cargo bench --no-default-features --features jwt --bench jwt_verify`.
//! Prints ops/s for (a) `ed25519_dalek::VerifyingKey::verify_strict` over the token's signing
//! input, (b) `KeySet::verify` with a key set already in memory, (c) the path a fetching layer
//! takes on a cache hit (`CompactJws::parse`, `KeyCache::peek`, `CompactJws::verify`), and the
//! ratios b/a and c/a. The goal is b/a ≥ 0.9: everything but the signature check is nearly free.
//! The three are measured in short interleaved blocks: ops/s is each one's best block, and the
//! ratios are the median of the per-block ratios, which damps noise on a shared machine.
//! Set `JWT_BENCH_ITERS` to change the iterations per round.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use decart::jwt::{CompactJws, KeyCache, KeySet, VerifyOptions};
use ed25519_dalek::{Signature, Signer as _, SigningKey};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn best_ops_per_sec(rounds: usize, iters: u32, mut f: impl FnMut()) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        best = best.min(start.elapsed());
    }
    f64::from(iters) / best.as_secs_f64()
}

fn main() {
    let iters: u32 = std::env::var("JWT_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000);
    let rounds = 5;

    // A realistic client token (the claims the platform issues).
    let sk = SigningKey::from_bytes(&[42u8; 32]);
    let vk = sk.verifying_key();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = r#"{"alg":"EdDSA","kid":"2025-06-key-1","typ":"JWT"}"#;
    let claims = serde_json::json!({
        "sub": "user_2yGx6b7t1Q8Zr5Lp3Vw9",
        "iss": "https://platform.decart.ai",
        "aud": "https://platform.decart.ai",
        "iat": now,
        "exp": now + 3600,
        "jti": "ek_7f3c2a9b4d5e6f708192a3b4c5d6e7f8",
        "organizationId": "org_5d1e9c0a7b",
        "parent_api_key_id": "key_0c1d2e3f4a5b6c7d",
        "api_key_name": "production gateway",
        "service_tier": 2,
        "models": ["lucy-2.1", "lucy-restyle-2"],
        "origins": ["https://app.example.com"],
        "constraints": {"realtime": {"maxSessionDuration": 600}},
        "realtimeConcurrentSessionLimit": 4,
        "zeroDataRetention": false,
        "attribution": {"team": "video", "env": "prod"}
    });
    let input = format!(
        "{}.{}",
        b64(header.as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig: Signature = sk.sign(input.as_bytes());
    let token = format!("{input}.{}", b64(&sig.to_bytes()));

    let jwks = serde_json::json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
        "kid": "2025-06-key-1", "x": b64(&vk.to_bytes())
    }]});
    let keys = KeySet::from_json(jwks.to_string().as_bytes()).unwrap();
    let options = VerifyOptions::new();
    assert!(keys.verify(&token, &options).is_ok());
    let mut cache = KeyCache::new();
    cache.record_success(keys.clone(), None, Instant::now());

    println!(
        "token: {} bytes; {} blocks of {} iterations per measurement, interleaved",
        token.len(),
        rounds * 10,
        (iters / 10).max(1)
    );

    // Warm-up.
    for _ in 0..iters / 10 {
        black_box(vk.verify_strict(black_box(input.as_bytes()), black_box(&sig))).unwrap();
        black_box(keys.verify(black_box(&token), &options)).unwrap();
    }

    // Interleave short blocks of (a), (b) and (c) so that drifting machine load hits all of
    // them alike; keep each one's best block for ops/s, and the median of the per-block ratios.
    let block = (iters / 10).max(1);
    let (mut a, mut b, mut c) = (0f64, 0f64, 0f64);
    let (mut ratios_b, mut ratios_c) = (Vec::new(), Vec::new());
    for _ in 0..rounds * 10 {
        let ra = best_ops_per_sec(1, block, || {
            black_box(vk.verify_strict(black_box(input.as_bytes()), black_box(&sig))).unwrap();
        });
        let rb = best_ops_per_sec(1, block, || {
            black_box(keys.verify(black_box(&token), &options)).unwrap();
        });
        let rc = best_ops_per_sec(1, block, || {
            let jws = CompactJws::parse(black_box(&token)).unwrap();
            let key = cache.peek(jws.kid(), Instant::now()).unwrap();
            black_box(jws.verify(&key, &options)).unwrap();
        });
        a = a.max(ra);
        b = b.max(rb);
        c = c.max(rc);
        ratios_b.push(rb / ra);
        ratios_c.push(rc / ra);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (ratio_b, ratio_c) = (median(&mut ratios_b), median(&mut ratios_c));
    let quartiles = |v: &[f64]| (v[v.len() / 4], v[v.len() * 3 / 4]);
    let (b25, b75) = quartiles(&ratios_b);

    // Breakdown of the non-signature work.
    let parse_only = best_ops_per_sec(rounds, iters * 10, || {
        black_box(CompactJws::parse(black_box(&token)).unwrap());
    });
    let decode_only = best_ops_per_sec(rounds, iters * 10, || {
        black_box(decart::jwt::decode_client_token(black_box(&token)).unwrap());
    });

    println!(
        "(a) bare verify_strict:             {a:>10.0} ops/s  ({:.2} µs/op)",
        1e6 / a
    );
    println!(
        "(b) KeySet::verify (cached keys):    {b:>10.0} ops/s  ({:.2} µs/op)",
        1e6 / b
    );
    println!(
        "(c) parse + KeyCache::peek + verify: {c:>10.0} ops/s  ({:.2} µs/op)",
        1e6 / c
    );
    println!(
        "    of which CompactJws::parse (split, base64url, header): {:.2} µs/op",
        1e6 / parse_only
    );
    println!(
        "    decode_client_token (all decoding and claim mapping, no signature): {:.2} µs/op",
        1e6 / decode_only
    );
    println!(
        "ratio b/a = {ratio_b:.3} (median of {} interleaved blocks; best-of ratio {:.3})",
        ratios_b.len(),
        b / a
    );
    println!("    per-block b/a ratios: p25 {b25:.3}, p75 {b75:.3}");
    println!(
        "ratio c/a = {ratio_c:.3} (median; best-of ratio {:.3})",
        c / a
    );
    println!(
        "overhead of everything but the signature: {:.2} µs/op",
        1e6 / b - 1e6 / a
    );
}
