//! A bounded random smoke run of the fuzz targets' bodies (`fuzz/fuzz_targets/common.rs`), so
//! their invariants are checked on stable Rust in every `cargo test`, without libFuzzer.
//!
//! Inputs: the seed tokens, random mutations of them (bit flips, inserted `.`, `=`, `+`, `/`,
//! whitespace, deletions, truncations, segment swaps, splices), random bytes, and tokens whose
//! JSON was mutated and then properly signed (so the claims layer is reached). The run stops
//! after `JWT_FUZZ_SMOKE_ITERS` inputs (default 3000) or 20 s, whichever comes first.
#![cfg(feature = "jwt")]

#[path = "../fuzz/fuzz_targets/common.rs"]
mod common;

use std::time::{Duration, Instant};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u8] = b".=+/ \t\nA-_{}[]\":,0\\\xff\x00e";

fn mutate(rng: &mut Rng, input: &[u8], seeds: &[String]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(3) {
        let len = out.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                out.insert(i, INTERESTING[rng.below(INTERESTING.len())]);
            }
            3 if len > 0 => {
                out.remove(rng.below(len));
            }
            4 => out.truncate(rng.below(len + 1)),
            5 => {
                // Swap two segments.
                let text = String::from_utf8_lossy(&out).into_owned();
                let mut parts: Vec<&str> = text.split('.').collect();
                if parts.len() > 1 {
                    let (a, b) = (rng.below(parts.len()), rng.below(parts.len()));
                    parts.swap(a, b);
                }
                out = parts.join(".").into_bytes();
            }
            6 => {
                // Splice with another seed.
                let other = seeds[rng.below(seeds.len())].as_bytes();
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            _ => {
                // Duplicate a chunk.
                if len > 0 {
                    let start = rng.below(len);
                    let end = (start + rng.below(16)).min(len);
                    let chunk = out[start..end].to_vec();
                    let at = rng.below(out.len() + 1);
                    out.splice(at..at, chunk);
                }
            }
        }
    }
    out
}

/// A mutated JSON text (header or claims), to be signed properly.
fn mutate_json(rng: &mut Rng, json: &str) -> String {
    let mut out = json.as_bytes().to_vec();
    let len = out.len();
    match rng.below(4) {
        0 if len > 0 => {
            let i = rng.below(len);
            out[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        1 if len > 0 => {
            out.remove(rng.below(len));
        }
        2 => {
            // Repeat a member.
            out = json.replacen('{', "{\"sub\":\"dup\",", 1).into_bytes();
        }
        _ => {
            let i = rng.below(len + 1);
            out.insert(i, INTERESTING[rng.below(INTERESTING.len())]);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn fuzz_bodies_smoke() {
    let iters: usize = std::env::var("JWT_FUZZ_SMOKE_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let budget = Duration::from_secs(20);
    let seeds = common::seed_tokens();
    let jwks = common::jwks_json();
    let header = r#"{"alg":"EdDSA","kid":"k1","typ":"JWT"}"#;
    let claims = format!(
        r#"{{"sub":"u","iss":"https://platform.decart.ai","aud":["https://platform.decart.ai"],"exp":{},"service_tier":"1","models":["m"],"attribution":{{"a":"b"}},"nested":{{"x":[1,2,{{"y":null}}]}}}}"#,
        common::NOW + 60
    );

    // Every seed once, through every target.
    for seed in &seeds {
        common::verify(seed.as_bytes());
        common::decode(seed.as_bytes());
        common::jwks(seed.as_bytes());
    }
    common::jwks(jwks.as_bytes());
    assert!(decart::jwt::KeySet::from_json(jwks.as_bytes()).is_ok());
    // The first seed is a valid token.
    assert!(common::KEYS.verify(&seeds[0], &common::OPTIONS).is_ok());

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let start = Instant::now();
    let mut done = 0;
    while done < iters && start.elapsed() < budget {
        let input: Vec<u8> = match rng.below(10) {
            0 => (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
            1 => {
                // Properly signed, with mutated JSON.
                if rng.below(2) == 0 {
                    common::sign(header, &mutate_json(&mut rng, &claims)).into_bytes()
                } else {
                    common::sign(&mutate_json(&mut rng, header), &claims).into_bytes()
                }
            }
            2 => mutate(&mut rng, jwks.as_bytes(), &seeds),
            _ => {
                let seed = seeds[rng.below(seeds.len())].clone();
                mutate(&mut rng, seed.as_bytes(), &seeds)
            }
        };
        common::verify(&input);
        common::decode(&input);
        common::jwks(&input);
        done += 1;
    }
    eprintln!(
        "fuzz smoke: {done} inputs through verify, decode and jwks in {:.1?}",
        start.elapsed()
    );
    assert!(done >= 100, "too few inputs ran: {done}");
}

/// Writes the seed inputs as files, for `cargo fuzz run <target> <corpus> <seeds>`:
/// `JWT_FUZZ_WRITE_SEEDS=fuzz/seeds cargo test --no-default-features --features jwt
/// --test jwt_fuzz_smoke -- --ignored write_seeds`.
#[test]
#[ignore = "writes files; run on demand"]
fn write_seeds() {
    let Ok(dir) = std::env::var("JWT_FUZZ_WRITE_SEEDS") else {
        return;
    };
    let dir = std::path::Path::new(&dir);
    for target in ["verify", "decode"] {
        std::fs::create_dir_all(dir.join(target)).unwrap();
        for (i, seed) in common::seed_tokens().iter().enumerate() {
            std::fs::write(dir.join(target).join(format!("seed-{i:02}")), seed).unwrap();
        }
    }
    std::fs::create_dir_all(dir.join("jwks")).unwrap();
    std::fs::write(dir.join("jwks").join("seed-00"), common::jwks_json()).unwrap();
}
