//! A raw HTTP client (ureq, no SDK code) and multipart builder for the emulator's tests.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

pub use decart::emulator::Emulator;

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn detail(&self) -> String {
        self.json()["detail"]
            .as_str()
            .unwrap_or_else(|| panic!("no detail in {:?}", String::from_utf8_lossy(&self.body)))
            .to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn answer(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut resp = resp.expect("request failed");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let mut body = Vec::new();
    resp.body_mut()
        .as_reader()
        .read_to_end(&mut body)
        .expect("read body");
    Answer {
        status,
        headers,
        body,
    }
}

pub fn get(emu: &Emulator, path: &str, key: Option<&str>) -> Answer {
    let mut req = agent().get(format!("{}{path}", emu.base_url()));
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    answer(req.call())
}

pub fn delete(emu: &Emulator, path: &str, key: Option<&str>) -> Answer {
    let mut req = agent().delete(format!("{}{path}", emu.base_url()));
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    answer(req.call())
}

pub fn post(
    emu: &Emulator,
    path: &str,
    key: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Answer {
    let mut req = agent()
        .post(format!("{}{path}", emu.base_url()))
        .header("content-type", content_type);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    answer(req.send(body))
}

pub fn post_json(emu: &Emulator, path: &str, key: Option<&str>, body: &Value) -> Answer {
    post(
        emu,
        path,
        key,
        "application/json",
        body.to_string().as_bytes(),
    )
}

/// Mints a client token with the emulator's permanent key.
pub fn mint(emu: &Emulator, options: &Value) -> Value {
    let a = post_json(emu, "/v1/client/tokens", Some(emu.api_key()), options);
    assert_eq!(a.status, 200, "{:?}", String::from_utf8_lossy(&a.body));
    a.json()
}

/// A multipart part.
pub enum Part<'a> {
    Text(&'a str, &'a str),
    File {
        name: &'a str,
        filename: &'a str,
        content_type: &'a str,
        data: &'a [u8],
    },
}

pub const BOUNDARY: &str = "emu-test-boundary-7d1f";

pub fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

pub fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match p {
            Part::Text(name, value) => {
                out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                );
                out.extend_from_slice(value.as_bytes());
            }
            Part::File {
                name,
                filename,
                content_type,
                data,
            } => {
                out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(data);
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

pub fn file<'a>(name: &'a str, data: &'a [u8]) -> Part<'a> {
    Part::File {
        name,
        filename: "input.png",
        content_type: "image/png",
        data,
    }
}

pub fn post_multipart(emu: &Emulator, path: &str, parts: &[Part<'_>]) -> Answer {
    post(
        emu,
        path,
        Some(emu.api_key()),
        &multipart_type(),
        &multipart(parts),
    )
}

/// Some bytes that look like nothing in particular.
pub fn sample(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Sends raw bytes on a fresh connection and reads until the server closes (or `timeout`).
pub fn raw(addr: SocketAddr, request: &[u8], timeout: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// The status of a raw answer (`HTTP/1.1 200 OK` → 200).
pub fn raw_status(answer: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(answer);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// base64url without padding.
pub fn b64url(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("base64url")
}

/// Verifies an EdDSA JWT against a JWKS by hand; returns (header, claims).
pub fn verify_jwt(token: &str, jwks: &Value) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "three segments");
    let header: Value = serde_json::from_slice(&b64url(parts[0])).unwrap();
    let claims: Value = serde_json::from_slice(&b64url(parts[1])).unwrap();
    let kid = header["kid"].as_str().expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("kid {kid} not in the JWKS"));
    let x: [u8; 32] = b64url(jwk["x"].as_str().unwrap()).try_into().unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
    let sig: [u8; 64] = b64url(parts[2]).try_into().unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(&sig);
    let signed = format!("{}.{}", parts[0], parts[1]);
    key.verify_strict(signed.as_bytes(), &sig)
        .expect("signature verifies");
    (header, claims)
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
