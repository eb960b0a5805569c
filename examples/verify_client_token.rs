//! Verifies a Decart client-token JWT the way a gateway does: offline, against the cached JWKS.
//! No API key is needed.
//!
//! ```sh
//! cargo run --example verify_client_token -- eyJhbGciOi...     # or: echo "$TOKEN" | ... -- -
//! ```
//!
//! Optional environment: `DECART_JWKS_URL` (default Decart's), `DECART_ISSUER` and
//! `DECART_AUDIENCE` (default `https://platform.decart.ai`), e.g. to point at a local emulator.
//! Exit codes: the `decart` command's (README, "Exit codes"): 0 valid, 1 other error, 2 usage,
//! 3 invalid token, 4 expired, 5 keys unreachable or unusable. This example includes the
//! command's own table, so the two cannot drift apart.

use std::io::Read;
use std::time::SystemTime;

use decart::blocking::JwksVerifier;
use decart::jwt::VerifyOptions;

#[path = "../src/bin/decart/exit.rs"]
mod exit;

fn main() {
    let token = match std::env::args().nth(1).as_deref() {
        None | Some("-") => {
            let mut s = String::new();
            if std::io::stdin().read_to_string(&mut s).is_err() {
                eprintln!("usage: verify_client_token TOKEN|-");
                std::process::exit(exit::EXIT_USAGE.into());
            }
            s.trim().to_owned()
        }
        Some(t) => t.to_owned(),
    };
    let mut options = VerifyOptions::new();
    if let Ok(issuer) = std::env::var("DECART_ISSUER") {
        options = options.issuer(issuer);
    }
    if let Ok(audience) = std::env::var("DECART_AUDIENCE") {
        options = options.audience(audience);
    }
    let mut builder = JwksVerifier::builder().options(options);
    if let Ok(url) = std::env::var("DECART_JWKS_URL") {
        builder = builder.jwks_url(url);
    }
    let verifier = match builder.build() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error [{}]: {e}", e.code());
            std::process::exit(exit::for_error(&e).into());
        }
    };
    match verifier.verify(&token) {
        Ok(t) => {
            let left = t
                .expires_at()
                .duration_since(SystemTime::now())
                .map(|d| format!("in {}s", d.as_secs()))
                .unwrap_or_else(|_| "now".into());
            println!("valid client token");
            println!("  user:    {}", t.user_id());
            let tier = t
                .service_tier()
                .map_or_else(|| "none".to_owned(), |tier| tier.to_string());
            println!("  tier:    {tier} (pool {})", t.pool().as_str());
            match t.allowed_models() {
                Some(models) => println!("  models:  {}", models.join(", ")),
                None => println!("  models:  any"),
            }
            println!("  expires: {left}");
        }
        Err(e) => {
            eprintln!("rejected [{}]: {}", e.code(), e.report());
            std::process::exit(exit::for_error(&e).into());
        }
    }
}
