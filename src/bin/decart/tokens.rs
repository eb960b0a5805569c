//! `decart tokens create|verify|decode`.

use std::io::Read;
use std::time::Duration;

use decart::CreateTokenOptions;
use decart::blocking::JwksVerifier;
use decart::jwt::{self, KeySet, VerifyOptions};
use serde_json::{Map, Value, json};

use crate::args::{Global, TokensCreateArgs, TokensDecodeArgs, TokensVerifyArgs};
use crate::exit::EXIT_JWKS_UNREACHABLE;
use crate::fail::Failure;
use crate::output::{self, Report};

/// The claims a verified and an untrusted token share, into a JSON map.
macro_rules! claims_fields {
    ($doc:ident, $t:expr) => {
        $doc.insert("organization_id".into(), json!($t.organization_id()));
        $doc.insert("api_key_id".into(), json!($t.api_key_id()));
        $doc.insert("api_key_name".into(), json!($t.api_key_name()));
        $doc.insert("service_tier".into(), json!($t.service_tier()));
        $doc.insert("pool".into(), json!($t.pool().as_str()));
        $doc.insert("allowed_models".into(), json!($t.allowed_models()));
        $doc.insert("allowed_origins".into(), json!($t.allowed_origins()));
        $doc.insert(
            "constraints".into(),
            json!($t.constraints().map(output::snake_keys)),
        );
        $doc.insert(
            "realtime_concurrent_session_limit".into(),
            json!($t.realtime_concurrent_session_limit()),
        );
        $doc.insert(
            "zero_data_retention".into(),
            json!($t.zero_data_retention()),
        );
        $doc.insert("attribution".into(), json!($t.attribution()));
    };
}

/// The claims a verified and an untrusted token share, into a report.
macro_rules! claims_report {
    ($r:ident, $t:expr) => {
        $r.opt("organization_id", $t.organization_id());
        $r.opt(
            "api_key",
            $t.api_key_name().map(|name| match $t.api_key_id() {
                Some(id) => format!("{name} (id {id})"),
                None => name.to_owned(),
            }),
        );
        $r.row(
            "service_tier",
            match $t.service_tier() {
                Some(tier) => format!("{tier} ({} pool)", $t.pool().as_str()),
                None => format!("none ({} pool)", $t.pool().as_str()),
            },
        );
        $r.row(
            "models",
            $t.allowed_models()
                .map_or("any".to_owned(), |m| output::list(m, "none")),
        );
        $r.row(
            "origins",
            $t.allowed_origins()
                .map_or("any".to_owned(), |o| output::list(o, "none")),
        );
        $r.opt("constraints", $t.constraints().map(Value::to_string));
        $r.opt(
            "session_limit",
            $t.realtime_concurrent_session_limit()
                .map(|n| n.to_string()),
        );
        if $t.zero_data_retention() {
            $r.row("zero_data_retention", "yes");
        }
        $r.opt(
            "attribution",
            $t.attribution().map(|a| json!(a).to_string()),
        );
    };
}

/// `decart tokens create`: mints a client token and prints it whole (that is the point).
pub fn create(global: &Global, a: TokensCreateArgs) -> Result<(), Failure> {
    let client = crate::client(global)?;
    let mut options = CreateTokenOptions::new();
    if let Some(s) = a.expires_in {
        options = options.expires_in(s);
    }
    if !a.allowed_models.is_empty() {
        options = options.allowed_models(a.allowed_models);
    }
    if !a.allowed_origins.is_empty() {
        options = options.allowed_origins(a.allowed_origins);
    }
    if let Some(m) = a.metadata {
        options = options.metadata(m);
    }
    if let Some(s) = a.max_session_duration {
        options = options.max_session_duration(s);
    }
    let token = client.tokens().create(&options)?;
    let permissions = token.permissions.as_ref();
    if global.json {
        output::json(&json!({
            "api_key": token.api_key.expose(),
            "token": token.token.as_ref().map(|t| t.expose()),
            "expires_at": token.expires_at,
            "permissions": permissions.map(|p| json!({"models": p.models, "origins": p.origins})),
            "constraints": token.constraints.as_ref().map(output::snake_keys),
        }))?;
        return Ok(());
    }
    let mut r = Report::new();
    r.row("api_key", token.api_key.expose());
    r.row(
        "token",
        token
            .token
            .as_ref()
            .map_or("(none: the server did not sign a JWT)", |t| t.expose()),
    );
    let expires = match token.expires_at_time() {
        Some(t) => format!("{} ({})", token.expires_at, output::relative(t)),
        None => token.expires_at.clone(),
    };
    r.row("expires_at", expires);
    r.opt(
        "models",
        permissions.and_then(|p| p.models.as_deref().map(|m| output::list(m, "none"))),
    );
    r.opt(
        "origins",
        permissions.and_then(|p| p.origins.as_deref().map(|o| output::list(o, "none"))),
    );
    r.opt(
        "constraints",
        token.constraints.as_ref().map(Value::to_string),
    );
    r.print()?;
    Ok(())
}

/// `decart tokens verify`: checks a JWT offline against a JWKS (fetched, or from a file).
pub fn verify(global: &Global, a: TokensVerifyArgs) -> Result<(), Failure> {
    let token = read_token(&a.token)?;
    let mut options = VerifyOptions::new();
    if let Some(iss) = a.issuer {
        options = options.issuer(iss);
    }
    if let Some(aud) = a.audience {
        options = options.audience(aud);
    }
    if let Some(s) = a.leeway {
        options = options.leeway(Duration::from_secs(s));
    }
    let (verified, source) = match &a.jwks_file {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                Failure::new(
                    "TOKEN_VERIFY_ERROR",
                    format!("cannot read the JWKS file {}: {e}", path.display()),
                )
                .with_exit(EXIT_JWKS_UNREACHABLE)
            })?;
            let keys = KeySet::from_json(&bytes)?;
            (keys.verify(&token, &options)?, path.display().to_string())
        }
        None => {
            let mut builder = JwksVerifier::builder().options(options);
            if let Some(url) = &a.jwks_url {
                builder = builder.jwks_url(url.clone());
            }
            let verifier = builder.build()?;
            let verified = verifier.verify(&token)?;
            (verified, verifier.jwks_url().to_owned())
        }
    };
    let t = &verified;
    if global.json {
        let mut doc = Map::new();
        doc.insert("valid".into(), Value::Bool(true));
        doc.insert("kid".into(), json!(t.kid()));
        doc.insert("user_id".into(), json!(t.user_id()));
        claims_fields!(doc, t);
        doc.insert("expires_at".into(), json!(output::rfc3339(t.expires_at())));
        doc.insert(
            "issued_at".into(),
            json!(t.issued_at().map(output::rfc3339)),
        );
        doc.insert("claims".into(), Value::Object(t.claims().clone()));
        output::json(&Value::Object(doc))?;
        return Ok(());
    }
    let mut r = Report::new();
    r.row(
        "valid",
        format!(
            "signature and claims verified (key {}, from {source})",
            t.kid()
        ),
    );
    r.row("user_id", t.user_id());
    claims_report!(r, t);
    r.row(
        "expires_at",
        format!(
            "{} ({})",
            output::rfc3339(t.expires_at()),
            output::relative(t.expires_at())
        ),
    );
    r.opt("issued_at", t.issued_at().map(output::rfc3339));
    r.print()?;
    Ok(())
}

/// `decart tokens decode`: reads the claims WITHOUT any check, and says so.
pub fn decode(global: &Global, a: TokensDecodeArgs) -> Result<(), Failure> {
    const WARNING: &str = "decoded without checking the signature or the claims: anyone can \
                           forge this; run `decart tokens verify` before trusting it";
    let token = read_token(&a.token)?;
    let t = jwt::decode_client_token(&token)?;
    let t = &t;
    if global.json {
        let mut doc = Map::new();
        doc.insert("verified".into(), Value::Bool(false));
        doc.insert("warning".into(), json!(format!("UNVERIFIED: {WARNING}")));
        doc.insert("alg".into(), json!(t.alg()));
        doc.insert("kid".into(), json!(t.kid()));
        doc.insert("user_id".into(), json!(t.user_id()));
        claims_fields!(doc, t);
        doc.insert(
            "expires_at".into(),
            json!(t.expires_at().map(output::rfc3339)),
        );
        doc.insert(
            "issued_at".into(),
            json!(t.issued_at().map(output::rfc3339)),
        );
        doc.insert("claims".into(), Value::Object(t.claims().clone()));
        output::json(&Value::Object(doc))?;
        return Ok(());
    }
    let mut r = Report::new();
    r.row("UNVERIFIED", WARNING);
    r.opt("alg", t.alg());
    r.opt("kid", t.kid());
    r.opt("user_id", t.user_id());
    claims_report!(r, t);
    r.opt(
        "expires_at",
        t.expires_at()
            .map(|e| format!("{} ({})", output::rfc3339(e), output::relative(e))),
    );
    r.opt("issued_at", t.issued_at().map(output::rfc3339));
    r.row("claims", Value::Object(t.claims().clone()).to_string());
    r.print()?;
    Ok(())
}

/// The token argument, or stdin for `-` (trimmed either way).
fn read_token(arg: &str) -> Result<String, Failure> {
    if arg != "-" {
        return Ok(arg.trim().to_owned());
    }
    let mut s = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut s)
        .map_err(|e| {
            Failure::new(
                "INVALID_INPUT",
                format!("cannot read the token from stdin: {e}"),
            )
        })?;
    Ok(s.trim().to_owned())
}
