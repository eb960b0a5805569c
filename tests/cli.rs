//! The `decart` command, run as a built binary against an in-process emulator: outputs, files
//! written, exit codes, and every failure exit code.

#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use decart::emulator::{self, Emulator, Fault};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_decart");

/// The outcome of one run of the command.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }

    #[track_caller]
    fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }

    /// Asserts the exit code and the one-line error `error [CODE]: …`; returns the line.
    #[track_caller]
    fn fails(&self, exit: i32, code: &str) -> String {
        assert_eq!(self.code, exit, "{self:?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one error line expected: {self:?}");
        let prefix = format!("error [{code}]: ");
        assert!(lines[0].starts_with(&prefix), "{self:?}");
        assert!(self.stdout.is_empty(), "{self:?}");
        lines[0].to_owned()
    }

    /// Asserts clap's usage error: exit 2, the usage on stderr, nothing on stdout.
    #[track_caller]
    fn usage_error(&self) {
        assert_eq!(self.code, 2, "{self:?}");
        assert!(
            self.stderr.starts_with("error: ") || self.stderr.contains("Usage: decart"),
            "{self:?}"
        );
        assert!(
            !self.stderr.lines().any(|l| l.starts_with("error [")),
            "{self:?}"
        );
        assert!(self.stdout.is_empty(), "{self:?}");
    }
}

/// The command with a clean environment: no key and no base URL unless given.
fn command(emu: Option<&Emulator>, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("DECART_API_KEY")
        .env_remove("DECART_BASE_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(emu) = emu {
        cmd.env("DECART_BASE_URL", emu.base_url())
            .env("DECART_API_KEY", emu.api_key());
    }
    cmd
}

fn finish(child: Child) -> Run {
    let out = child.wait_with_output().expect("wait for decart");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs `decart ARGS` against the emulator (its URL and key in the environment).
fn decart(emu: &Emulator, args: &[&str]) -> Run {
    finish(command(Some(emu), args).spawn().expect("spawn decart"))
}

/// Runs `decart ARGS` without any environment.
fn decart_bare(args: &[&str]) -> Run {
    finish(command(None, args).spawn().expect("spawn decart"))
}

/// Runs `decart ARGS` with `input` on stdin.
fn decart_stdin(emu: &Emulator, args: &[&str], input: &str) -> Run {
    use std::io::Write;
    let mut child = command(Some(emu), args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn decart");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    finish(child)
}

/// A directory removed at the end of the test.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("decart-cli-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        s(&p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// A child process killed if the test fails before it ends.
struct Running(Option<Child>);

impl Running {
    fn pid(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    fn finish(mut self) -> Run {
        finish(self.0.take().unwrap())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(unix)]
fn interrupt(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

#[track_caller]
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn emu() -> Emulator {
    Emulator::builder()
        .polls_before_completion(0)
        .start()
        .unwrap()
}

fn jwks_args(emu: &Emulator) -> Vec<String> {
    vec![
        "--jwks-url".into(),
        emu.jwks_url(),
        "--issuer".into(),
        emu.issuer().into(),
        "--audience".into(),
        emu.audience().into(),
    ]
}

fn mint(emu: &Emulator, extra: &[&str]) -> Value {
    let mut args = vec!["tokens", "create", "--json"];
    args.extend_from_slice(extra);
    decart(emu, &args).ok().json()
}

fn verify(emu: &Emulator, token: &str, extra: &[&str]) -> Run {
    let jwks = jwks_args(emu);
    let mut args = vec!["tokens", "verify", token];
    args.extend(jwks.iter().map(String::as_str));
    args.extend_from_slice(extra);
    decart(emu, &args)
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really an image, but the emulator does not mind";

// ---------------------------------------------------------------------------------------
// Help, arguments, keys

#[test]
fn help_lists_the_commands_and_the_exit_codes() {
    let run = decart_bare(&["--help"]);
    run.ok();
    for word in [
        "tokens",
        "image",
        "video",
        "realtime",
        "jobs",
        "files",
        "models",
        "emulator",
        "demo",
        "--api-key",
        "--base-url",
        "--json",
        "Exit codes:",
        "130",
    ] {
        assert!(run.stdout.contains(word), "{word}: {}", run.stdout);
    }
    let run = decart_bare(&["tokens", "verify", "--help"]);
    run.ok();
    for word in [
        "--jwks-url",
        "--jwks-file",
        "--issuer",
        "--audience",
        "--leeway",
        "3    tokens verify/decode: invalid token",
        "4    tokens verify: token expired",
        "5    tokens verify: JWKS unreachable",
    ] {
        assert!(run.stdout.contains(word), "{word}: {}", run.stdout);
    }
    let version = decart_bare(&["--version"]);
    assert_eq!(
        version.ok().stdout.trim(),
        format!("decart {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["tokens"],
        &["tokens", "create", "--expires-in", "soon"],
        &["tokens", "create", "--metadata", "[1]"],
        &["tokens", "create", "--metadata", "{"],
        &["tokens", "verify"],
        &[
            "tokens",
            "verify",
            "x",
            "--jwks-url",
            "https://a/j",
            "--jwks-file",
            "f",
        ],
        &["image", "lucy-image-2", "-p", "x", "-i", "in.png"],
        &["video", "lucy-2.1", "-p", "x", "-i", "in.mp4"],
        &[
            "video",
            "lucy-2.1",
            "-i",
            "in.mp4",
            "-o",
            "o.mp4",
            "--no-wait",
        ],
        &[
            "video",
            "lucy-2.1",
            "-i",
            "in.mp4",
            "-o",
            "o.mp4",
            "--timeout",
            "0",
        ],
        &["jobs", "result", "job_1"],
        &["files", "upload", "f", "--ttl", "forever"],
        &["models", "--kind", "audio"],
        &["emulator", "--port", "http"],
        &["realtime", "lucy-2.1", "-p", "x", "-i", "in.h264"],
        &["realtime", "lucy-2.1", "-i", "in.h264", "-o", "o.h264"],
        &[
            "realtime", "lucy-2.1", "-p", "x", "-i", "in.h264", "-o", "o.h264", "--fps", "0",
        ],
        &[
            "realtime", "lucy-2.1", "-p", "x", "-i", "in.h264", "-o", "o.h264", "--fps", "1000",
        ],
        &[
            "realtime",
            "lucy-2.1",
            "-p",
            "x",
            "-i",
            "in.h264",
            "-o",
            "o.h264",
            "--retries",
            "21",
        ],
        &[
            "realtime",
            "lucy-2.1",
            "-p",
            "x",
            "-i",
            "in.h264",
            "-o",
            "o.h264",
            "--duration",
            "0",
        ],
    ] {
        decart_bare(args).usage_error();
    }
}

#[test]
fn a_missing_key_is_one_clear_line_and_sends_nothing() {
    let emu = emu();
    let run = decart_bare(&["--base-url", emu.base_url(), "files", "get", "file_1"]);
    let line = run.fails(1, "INVALID_API_KEY");
    assert_eq!(
        line,
        "error [INVALID_API_KEY]: missing API key: pass --api-key KEY or set DECART_API_KEY"
    );
    let blank = decart_bare(&[
        "--api-key",
        "  ",
        "--base-url",
        emu.base_url(),
        "tokens",
        "create",
    ]);
    blank.fails(1, "INVALID_API_KEY");
    assert_eq!(emu.count("*", "/"), 0);
}

#[test]
fn the_api_key_flag_wins_and_is_never_printed() {
    let emu = emu();
    let secret = "sk-live-very-secret-0123456789";
    let run = decart(&emu, &["--api-key", secret, "files", "get", "file_1"]);
    let line = run.fails(1, "FILES_GET_ERROR");
    assert!(line.contains("401"), "{line}");
    assert!(!run.stderr.contains(secret));
    let logged = emu.requests();
    assert_eq!(logged.len(), 1);
    assert!(logged[0].has_api_key());
    assert_eq!(logged[0].status, Some(401));
    let ua = logged[0].header("user-agent").unwrap();
    assert!(
        ua.ends_with(&format!("decart-cli/{}", env!("CARGO_PKG_VERSION"))),
        "{ua}"
    );
}

#[test]
fn an_unreachable_api_is_one_line_exit_1() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let run = decart_bare(&[
        "--api-key",
        "k",
        "--base-url",
        &base,
        "jobs",
        "status",
        "job_1",
    ]);
    let line = run.fails(1, "QUEUE_STATUS_ERROR");
    assert!(line.contains("could not connect"), "{line}");
    let bad = decart_bare(&[
        "--api-key",
        "k",
        "--base-url",
        "ftp://x",
        "jobs",
        "status",
        "j",
    ]);
    bad.fails(1, "INVALID_BASE_URL");
}

// ---------------------------------------------------------------------------------------
// tokens

#[test]
fn tokens_create_prints_the_token_whole() {
    let emu = emu();
    let doc = mint(
        &emu,
        &[
            "--expires-in",
            "600",
            "--allowed-model",
            "lucy-2.1",
            "--allowed-model",
            "lucy-image-2",
            "--allowed-origin",
            "https://example.com",
            "--metadata",
            r#"{"service_tier": 2, "attribution": {"team": "cli"}}"#,
            "--max-session-duration",
            "120",
        ],
    );
    assert!(doc["api_key"].as_str().unwrap().starts_with("ek_"));
    assert!(doc["token"].as_str().unwrap().starts_with("eyJ"));
    assert!(doc["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        doc["permissions"]["models"],
        serde_json::json!(["lucy-2.1", "lucy-image-2"])
    );
    assert_eq!(
        doc["permissions"]["origins"],
        serde_json::json!(["https://example.com"])
    );
    assert_eq!(
        doc["constraints"],
        serde_json::json!({"realtime": {"max_session_duration": 120}})
    );
    let sent = emu.requests()[0].json().unwrap();
    assert_eq!(sent["expiresIn"], 600);
    assert_eq!(sent["metadata"]["service_tier"], 2);

    let human = decart(&emu, &["tokens", "create"]);
    human.ok();
    let rows: Vec<&str> = human.stdout.lines().collect();
    assert!(
        rows[0].starts_with("api_key") && rows[0].contains("ek_"),
        "{rows:?}"
    );
    assert!(
        rows[1].starts_with("token") && rows[1].contains("eyJ"),
        "{rows:?}"
    );
    assert!(rows[2].starts_with("expires_at"), "{rows:?}");
    assert!(human.stderr.is_empty());
}

#[test]
fn tokens_create_rejects_bad_options_before_sending() {
    let emu = emu();
    let line =
        decart(&emu, &["tokens", "create", "--expires-in", "7200"]).fails(1, "INVALID_INPUT");
    assert!(line.contains("expires_in"), "{line}");
    let line = decart(
        &emu,
        &["tokens", "create", "--allowed-origin", "example.com"],
    )
    .fails(1, "INVALID_INPUT");
    assert!(line.contains("allowed_origins[0]"), "{line}");
    assert_eq!(emu.count("*", "/"), 0);
    // A client key cannot mint tokens: the server's 403, one line.
    let key = mint(&emu, &[])["api_key"].as_str().unwrap().to_owned();
    let run = decart(&emu, &["--api-key", &key, "tokens", "create"]);
    let line = run.fails(1, "TOKEN_CREATE_ERROR");
    assert!(line.contains("403"), "{line}");
    assert!(!line.contains(&key));
}

#[test]
fn tokens_verify_checks_a_minted_jwt_offline() {
    let emu = emu();
    let doc = mint(
        &emu,
        &[
            "--allowed-model",
            "lucy-2.1",
            "--metadata",
            r#"{"service_tier": 0}"#,
        ],
    );
    let jwt = doc["token"].as_str().unwrap();
    // From stdin, with --json.
    let jwks = jwks_args(&emu);
    let mut args = vec!["--json", "tokens", "verify", "-"];
    args.extend(jwks.iter().map(String::as_str));
    let v = decart_stdin(&emu, &args, &format!("{jwt}\n")).ok().json();
    assert_eq!(v["valid"], true);
    assert_eq!(v["user_id"], "emulator-user");
    assert_eq!(v["kid"], emu.current_kid().as_str());
    assert_eq!(v["service_tier"], 0);
    assert_eq!(v["pool"], "free");
    assert_eq!(v["allowed_models"], serde_json::json!(["lucy-2.1"]));
    assert_eq!(v["allowed_origins"], Value::Null);
    assert_eq!(v["claims"]["iss"], emu.issuer());
    // Readable.
    let run = verify(&emu, jwt, &[]);
    run.ok();
    assert!(run.stdout.starts_with("valid "), "{}", run.stdout);
    assert!(run.stdout.contains("emulator-user"));
    assert!(run.stdout.contains("0 (free pool)"));
    assert_eq!(emu.count("GET", "/api/auth/jwks"), 2);
    // No API call was made to verify.
    assert_eq!(emu.count("*", "/v1/"), 1);
}

#[test]
fn tokens_verify_against_a_jwks_file() {
    let emu = emu();
    let jwt = mint(&emu, &[])["token"].as_str().unwrap().to_owned();
    let dir = TempDir::new();
    let jwks = ureq::get(emu.jwks_url())
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    let file = dir.write("jwks.json", &jwks);
    let run = decart(
        &emu,
        &[
            "--json",
            "tokens",
            "verify",
            &jwt,
            "--jwks-file",
            &file,
            "--issuer",
            emu.issuer(),
            "--audience",
            emu.audience(),
        ],
    );
    assert_eq!(run.ok().json()["valid"], true);
    // A key set without the token's key: invalid (unknown kid).
    emu.rotate_keys();
    emu.drop_old_keys();
    let rotated = ureq::get(emu.jwks_url())
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    let file2 = dir.write("rotated.json", &rotated);
    let run = decart(&emu, &["tokens", "verify", &jwt, "--jwks-file", &file2]);
    let line = run.fails(3, "TOKEN_INVALID");
    assert!(line.contains("kid"), "{line}");
}

#[test]
fn tokens_verify_invalid_tokens_exit_3() {
    let emu = emu();
    let jwt = mint(&emu, &[])["token"].as_str().unwrap().to_owned();
    // Malformed.
    verify(&emu, "not-a-jwt", &[]).fails(3, "TOKEN_INVALID");
    // A tampered signature.
    let mut tampered = jwt.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'Q' } else { 'A' });
    let line = verify(&emu, &tampered, &[]).fails(3, "TOKEN_INVALID");
    assert!(
        !line.contains(&jwt[..40]),
        "the token is never echoed: {line}"
    );
    // A tampered payload.
    let parts: Vec<&str> = jwt.split('.').collect();
    let forged = format!(
        "{}.{}x.{}",
        parts[0],
        &parts[1][..parts[1].len() - 1],
        parts[2]
    );
    verify(&emu, &forged, &[]).fails(3, "TOKEN_INVALID");
    // The wrong issuer: Decart's default, not the emulator's.
    let run = decart(
        &emu,
        &["tokens", "verify", &jwt, "--jwks-url", &emu.jwks_url()],
    );
    let line = run.fails(3, "TOKEN_INVALID");
    assert!(line.contains("issuer"), "{line}");
}

#[test]
fn tokens_verify_expired_token_exits_4() {
    let emu = emu();
    emu.set_clock_offset(-7200);
    let jwt = mint(&emu, &["--expires-in", "60"])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    emu.set_clock_offset(0);
    let line = verify(&emu, &jwt, &[]).fails(4, "TOKEN_EXPIRED");
    assert!(line.contains("expired"), "{line}");
    // A leeway longer than its age makes it valid again.
    verify(&emu, &jwt, &["--leeway", "7200"]).ok();
}

#[test]
fn tokens_verify_unreachable_jwks_exits_5() {
    let emu = emu();
    let jwt = mint(&emu, &[])["token"].as_str().unwrap().to_owned();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!(
            "http://127.0.0.1:{}/api/auth/jwks",
            l.local_addr().unwrap().port()
        )
    };
    let run = decart(&emu, &["tokens", "verify", &jwt, "--jwks-url", &closed]);
    let line = run.fails(5, "TOKEN_VERIFY_ERROR");
    assert!(line.contains("JWKS unreachable"), "{line}");
    // The JWKS answers 503.
    emu.inject(Fault::status(503).always().on("GET", "/api/auth/jwks"));
    verify(&emu, &jwt, &[]).fails(5, "TOKEN_VERIFY_ERROR");
    emu.clear_faults();
    // A JWKS file that is missing, or not a JWKS.
    let dir = TempDir::new();
    let missing = s(&dir.path("none.json"));
    decart(&emu, &["tokens", "verify", &jwt, "--jwks-file", &missing])
        .fails(5, "TOKEN_VERIFY_ERROR");
    let junk = dir.write("junk.json", b"<html>");
    decart(&emu, &["tokens", "verify", &jwt, "--jwks-file", &junk]).fails(5, "TOKEN_VERIFY_ERROR");
}

#[test]
fn tokens_decode_is_marked_unverified() {
    let emu = emu();
    let jwt = mint(&emu, &["--allowed-model", "lucy-2.1"])["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = decart_bare(&["tokens", "decode", &jwt]);
    run.ok();
    assert!(run.stdout.starts_with("UNVERIFIED "), "{}", run.stdout);
    assert!(run.stdout.contains("lucy-2.1"));
    let doc = decart_bare(&["--json", "tokens", "decode", &jwt])
        .ok()
        .json();
    assert_eq!(doc["verified"], false);
    assert!(doc["warning"].as_str().unwrap().starts_with("UNVERIFIED"));
    assert_eq!(doc["alg"], "EdDSA");
    assert_eq!(doc["user_id"], "emulator-user");
    assert_eq!(doc["claims"]["models"], serde_json::json!(["lucy-2.1"]));
    decart_bare(&["tokens", "decode", "a.b"]).fails(3, "TOKEN_DECODE_ERROR");
}

// ---------------------------------------------------------------------------------------
// image, video, jobs

#[test]
fn image_edits_write_the_result() {
    let emu = emu();
    let dir = TempDir::new();
    let input = dir.write("in.png", PNG);
    let out = dir.path("out.png");
    let run = decart(
        &emu,
        &[
            "--json",
            "image",
            "lucy-image-2",
            "--prompt",
            "a watercolor",
            "--input",
            &input,
            "--seed",
            "42",
            "--resolution",
            "720p",
            "--enhance-prompt",
            "-o",
            &s(&out),
        ],
    );
    let doc = run.ok().json();
    assert_eq!(doc["model"], "lucy-image-2");
    let expected = emulator::expected_image_result(PNG);
    assert_eq!(doc["bytes"], expected.len());
    assert_eq!(std::fs::read(&out).unwrap(), expected);
    let req = &emu.requests()[0];
    assert_eq!(req.path, "/v1/generate/lucy-image-2");
    let mut fields = req.field_names();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["data", "enhance_prompt", "prompt", "resolution", "seed"]
    );
    assert_eq!(req.part("seed").unwrap().value.as_deref(), Some("42"));
    assert_eq!(
        req.part("enhance_prompt").unwrap().value.as_deref(),
        Some("true")
    );

    let human = decart(
        &emu,
        &[
            "image",
            "lucy-image-2",
            "-p",
            "x",
            "-i",
            &input,
            "-o",
            &s(&out),
        ],
    );
    human.ok();
    assert!(human.stdout.contains("out.png"), "{}", human.stdout);
    assert!(human.stderr.is_empty(), "{}", human.stderr);
}

#[test]
fn image_input_problems_fail_before_sending() {
    let emu = emu();
    let dir = TempDir::new();
    let out = s(&dir.path("out.png"));
    let missing = s(&dir.path("missing.png"));
    let line = decart(
        &emu,
        &[
            "image",
            "lucy-image-2",
            "-p",
            "x",
            "-i",
            &missing,
            "-o",
            &out,
        ],
    )
    .fails(1, "INVALID_INPUT");
    assert!(
        line.contains("--input") && line.contains("missing.png"),
        "{line}"
    );
    let input = dir.write("in.png", PNG);
    let line = decart(
        &emu,
        &["image", "lucy-2.1", "-p", "x", "-i", &input, "-o", &out],
    )
    .fails(1, "MODEL_NOT_FOUND");
    assert!(line.contains("decart video"), "{line}");
    let long = "x".repeat(1001);
    decart(
        &emu,
        &[
            "image",
            "lucy-image-2",
            "-p",
            &long,
            "-i",
            &input,
            "-o",
            &out,
        ],
    )
    .fails(1, "INVALID_INPUT");
    decart(
        &emu,
        &[
            "image",
            "lucy-image-2",
            "-p",
            "x",
            "-i",
            "ftp://h/a.png",
            "-o",
            &out,
        ],
    )
    .fails(1, "INVALID_INPUT");
    let nowhere = s(&dir.path("no/such/dir/out.png"));
    let line = decart(
        &emu,
        &[
            "image",
            "lucy-image-2",
            "-p",
            "x",
            "-i",
            &input,
            "-o",
            &nowhere,
        ],
    )
    .fails(1, "INVALID_INPUT");
    assert!(line.contains("directory does not exist"), "{line}");
    let here = s(&dir.0);
    let line = decart(
        &emu,
        &[
            "image",
            "lucy-image-2",
            "-p",
            "x",
            "-i",
            &input,
            "-o",
            &here,
        ],
    )
    .fails(1, "INVALID_INPUT");
    assert!(line.contains("is a directory"), "{line}");
    let line = decart(
        &emu,
        &["video", "lucy-2.1", "-p", "x", "-i", &input, "-o", &nowhere],
    )
    .fails(1, "INVALID_INPUT");
    assert!(line.contains("-o"), "{line}");
    assert_eq!(emu.count("*", "/"), 0);
    assert!(!dir.path("out.png").exists());
}

#[test]
fn video_waits_quietly_when_stderr_is_not_a_terminal() {
    let emu = emu();
    let dir = TempDir::new();
    let input = dir.write("in.mp4", b"fake video bytes for the emulator");
    let out = dir.path("out.mp4");
    let run = decart(
        &emu,
        &[
            "--json",
            "video",
            "lucy-2.1",
            "-p",
            "rain",
            "-i",
            &input,
            "-o",
            &s(&out),
        ],
    );
    run.ok();
    assert!(
        run.stderr.is_empty(),
        "no progress without a terminal: {run:?}"
    );
    let doc = run.json();
    assert_eq!(doc["status"], "completed");
    assert_eq!(doc["statuses"], serde_json::json!(["pending", "completed"]));
    let job_id = doc["job_id"].as_str().unwrap();
    assert_eq!(emu.job_ids(), [job_id]);
    let expected = emulator::expected_video_result(b"fake video bytes for the emulator", None);
    assert_eq!(std::fs::read(&out).unwrap(), expected);

    // A restyle from a reference image alone; readable output.
    let reference = dir.write("style.png", PNG);
    let run = decart(
        &emu,
        &[
            "video",
            "lucy-restyle-2",
            "--reference-image",
            &reference,
            "-i",
            &input,
            "-o",
            &s(&out),
        ],
    );
    run.ok();
    assert!(run.stderr.is_empty(), "{run:?}");
    assert!(
        run.stdout.contains("pending -> completed"),
        "{}",
        run.stdout
    );
}

#[test]
fn video_no_wait_then_jobs_status_and_result() {
    let emu = emu();
    let dir = TempDir::new();
    let input = dir.write("in.mp4", b"another video");
    let run = decart(
        &emu,
        &["video", "lucy-2.1", "-p", "", "-i", &input, "--no-wait"],
    );
    run.ok();
    let job_id = run.stdout.trim().to_owned();
    assert_eq!(run.stdout, format!("{job_id}\n"), "only the id");
    assert!(job_id.starts_with("job_"));
    assert_eq!(emu.count("GET", "/v1/jobs/"), 0, "no wait");

    let status = decart(&emu, &["--json", "jobs", "status", &job_id])
        .ok()
        .json();
    assert_eq!(status["job_id"], job_id.as_str());
    assert_eq!(status["status"], "completed");
    let human = decart(&emu, &["jobs", "status", &job_id]);
    assert!(human.ok().stdout.contains("completed"));

    let out = dir.path("result.mp4");
    let doc = decart(&emu, &["--json", "jobs", "result", &job_id, "-o", &s(&out)])
        .ok()
        .json();
    let expected = emulator::expected_video_result(b"another video", None);
    assert_eq!(doc["bytes"], expected.len());
    assert_eq!(std::fs::read(&out).unwrap(), expected);

    decart(&emu, &["jobs", "status", "job_nope"]).fails(1, "QUEUE_STATUS_ERROR");
    let json_submit = decart(
        &emu,
        &[
            "--json",
            "video",
            "lucy-2.1",
            "-p",
            "x",
            "-i",
            &input,
            "--no-wait",
        ],
    );
    assert_eq!(json_submit.ok().json()["status"], "pending");
}

#[test]
fn video_input_rules_are_checked_before_submitting() {
    let emu = emu();
    let dir = TempDir::new();
    let input = dir.write("in.mp4", b"v");
    let reference = dir.write("style.png", PNG);
    let out = s(&dir.path("out.mp4"));
    // A restyle takes a prompt or a reference image, not both, not neither.
    decart(
        &emu,
        &[
            "video",
            "lucy-restyle-2",
            "-p",
            "anime",
            "--reference-image",
            &reference,
            "-i",
            &input,
            "-o",
            &out,
        ],
    )
    .fails(1, "INVALID_INPUT");
    decart(&emu, &["video", "lucy-restyle-2", "-i", &input, "-o", &out]).fails(1, "INVALID_INPUT");
    // A video edit needs a prompt (or a reference image).
    let line =
        decart(&emu, &["video", "lucy-2.1", "-i", &input, "-o", &out]).fails(1, "INVALID_INPUT");
    assert!(line.contains("--prompt"), "{line}");
    let missing = s(&dir.path("missing.mp4"));
    decart(
        &emu,
        &["video", "lucy-2.1", "-p", "x", "-i", &missing, "-o", &out],
    )
    .fails(1, "INVALID_INPUT");
    decart(
        &emu,
        &["video", "lucy-image-2", "-p", "x", "-i", &input, "-o", &out],
    )
    .fails(1, "MODEL_NOT_FOUND");
    assert_eq!(emu.count("*", "/"), 0);
}

#[test]
fn a_failed_job_exits_6_with_the_reason() {
    let emu = emu();
    emu.fail_next_job("content policy violation");
    let dir = TempDir::new();
    let input = dir.write("in.mp4", b"v");
    let out = dir.path("out.mp4");
    let run = decart(
        &emu,
        &["video", "lucy-2.1", "-p", "x", "-i", &input, "-o", &s(&out)],
    );
    let line = run.fails(6, "QUEUE_JOB_FAILED");
    let job_id = &emu.job_ids()[0];
    assert_eq!(
        line,
        format!("error [QUEUE_JOB_FAILED]: job {job_id} failed: content policy violation")
    );
    assert!(!out.exists());
    assert_eq!(
        emu.count("GET", "/v1/jobs/"),
        1,
        "no download of a failed job"
    );
}

#[test]
fn a_wait_past_the_timeout_exits_7() {
    let emu = Emulator::builder()
        .polls_before_completion(1000)
        .start()
        .unwrap();
    let dir = TempDir::new();
    let input = dir.write("in.mp4", b"v");
    let out = dir.path("out.mp4");
    let started = Instant::now();
    let run = decart(
        &emu,
        &[
            "video",
            "lucy-2.1",
            "-p",
            "x",
            "-i",
            &input,
            "-o",
            &s(&out),
            "--timeout",
            "0.3",
        ],
    );
    let line = run.fails(7, "QUEUE_WAIT_TIMEOUT");
    assert!(started.elapsed() < Duration::from_secs(5));
    let job_id = &emu.job_ids()[0];
    assert!(
        line.contains(&format!("decart jobs status {job_id}")),
        "{line}"
    );
    assert!(!out.exists());
}

#[cfg(unix)]
#[test]
fn ctrl_c_cancels_the_wait_cleanly() {
    let emu = Emulator::builder()
        .polls_before_completion(1000)
        .start()
        .unwrap();
    let dir = TempDir::new();
    let input = dir.write("in.mp4", b"v");
    let out = dir.path("out.mp4");
    let child = command(
        Some(&emu),
        &["video", "lucy-2.1", "-p", "x", "-i", &input, "-o", &s(&out)],
    )
    .spawn()
    .unwrap();
    let running = Running(Some(child));
    wait_until("the job's first status poll", || {
        emu.count("GET", "/v1/jobs/") >= 1
    });
    let started = Instant::now();
    interrupt(running.pid());
    let run = running.finish();
    assert!(started.elapsed() < Duration::from_secs(3), "{run:?}");
    let line = run.fails(130, "CANCELLED");
    let job_id = &emu.job_ids()[0];
    assert!(
        line.contains(&format!("decart jobs status {job_id}")),
        "{line}"
    );
    assert!(!out.exists());
    assert_eq!(emu.job_ids().len(), 1);
}

// ---------------------------------------------------------------------------------------
// realtime

const RT_PROMPT: &str = "make it snow";

/// Made-up H.264 access units in Annex B form: SPS, PPS and an IDR slice every 30 frames, a P
/// slice between; the frame number in the bytes, never a zero byte after the start codes.
fn access_units(n: usize) -> Vec<Vec<u8>> {
    const SPS: &[u8] = &[
        0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8,
    ];
    const PPS: &[u8] = &[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80];
    (0..n)
        .map(|i| {
            let mut au = Vec::new();
            if i % 30 == 0 {
                au.extend_from_slice(SPS);
                au.extend_from_slice(PPS);
                au.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88]);
            } else {
                au.extend_from_slice(&[0, 0, 0, 1, 0x41, 0x9a]);
            }
            au.extend((i as u32).to_be_bytes().map(|b| b | 0x80));
            au.extend((0..100 + i % 50).map(|j| ((i * 13 + j * 7) % 200) as u8 + 20));
            au
        })
        .collect()
}

/// What the emulator sends back for `aus`, one after the other.
fn transformed(aus: &[Vec<u8>], prompt: &str) -> Vec<u8> {
    aus.iter()
        .enumerate()
        .flat_map(|(i, au)| emulator::transformed_frame(au, i as u64, Some(prompt)))
        .collect()
}

/// An IVF file of `frames`.
fn ivf(fourcc: &[u8; 4], frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"DKIF\x00\x00\x20\x00".to_vec();
    out.extend_from_slice(fourcc);
    out.extend_from_slice(&640u16.to_le_bytes());
    out.extend_from_slice(&360u16.to_le_bytes());
    out.extend_from_slice(&30u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(frames.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(i as u64).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// The header fields and frames of an IVF file: `(fourcc, width, height, count, frames)`.
fn parse_ivf(bytes: &[u8]) -> ([u8; 4], u16, u16, u32, Vec<Vec<u8>>) {
    assert_eq!(&bytes[..4], b"DKIF");
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    let fourcc = bytes[8..12].try_into().unwrap();
    let mut frames = Vec::new();
    let mut at = 32;
    while at < bytes.len() {
        let len = u32_at(at) as usize;
        frames.push(bytes[at + 12..at + 12 + len].to_vec());
        at += 12 + len;
    }
    (fourcc, u16_at(12), u16_at(14), u32_at(24), frames)
}

fn realtime_args<'a>(input: &'a str, output: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "realtime", "lucy-2.1", "-p", RT_PROMPT, "-i", input, "-o", output,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn realtime_streams_a_file_through_the_emulator() {
    let emu = emu();
    let dir = TempDir::new();
    let aus = access_units(45);
    let input = dir.write("in.h264", &aus.concat());
    let out = dir.path("out.h264");
    let started = Instant::now();
    let run = decart(&emu, &realtime_args(&input, &s(&out), &["--fps", "60"]));
    run.ok();
    // Paced: 45 frames at 60 fps take 0.73 s at least.
    assert!(started.elapsed() >= Duration::from_millis(730), "{run:?}");
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let written = std::fs::read(&out).unwrap();
    assert_eq!(written.len(), transformed(&aus, RT_PROMPT).len());
    assert!(
        written == transformed(&aus, RT_PROMPT),
        "each access unit is the emulator's transform of the one sent, in order"
    );
    for row in [
        "sent        45 frames",
        "received    45 frames",
        "round trip  median ",
        "(45 frames)",
        "H.264 Annex B",
    ] {
        assert!(run.stdout.contains(row), "{row}: {}", run.stdout);
    }
    let log = &emu.realtime_sessions()[0];
    assert_eq!(log.prompt.as_deref(), Some(RT_PROMPT));
    assert_eq!(log.media_codec.as_deref(), Some("h264"));
    assert_eq!((log.frames_received, log.frames_sent), (45, 45));
    assert!(log.closed_by_client, "the session is closed");
    // No temporary file left beside the output.
    let names: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(sorted(names), ["in.h264", "out.h264"]);

    // IVF in (H.264 frames), IVF out: the header names the codec and the size, the frame
    // count is written at the end.
    let ivf_in = dir.write("in.ivf", &ivf(b"H264", &aus[..20]));
    let ivf_out = dir.path("out.ivf");
    decart(
        &emu,
        &realtime_args(&ivf_in, &s(&ivf_out), &["--fps", "100"]),
    )
    .ok();
    let (fourcc, w, h, count, frames) = parse_ivf(&std::fs::read(&ivf_out).unwrap());
    assert_eq!((&fourcc, w, h, count), (b"H264", 640, 360, 20));
    assert_eq!(frames.len(), 20);
    for (i, (frame, au)) in frames.iter().zip(&aus).enumerate() {
        assert!(
            *frame == emulator::transformed_frame(au, i as u64, Some(RT_PROMPT)),
            "frame {i}"
        );
    }

    // VP8 in IVF: a VP8 session, the frames back as they went (the emulator changes H.264
    // only), in an IVF file.
    let vp8: Vec<Vec<u8>> = (0..15u8)
        .map(|i| {
            let mut f = vec![if i % 10 == 0 { 0x10 } else { 0x11 }, i];
            f.extend((0..150).map(|j: u8| j.wrapping_mul(3) | 1));
            f
        })
        .collect();
    let vp8_in = dir.write("vp8.ivf", &ivf(b"VP80", &vp8));
    let vp8_out = dir.path("vp8-out.ivf");
    decart(
        &emu,
        &realtime_args(&vp8_in, &s(&vp8_out), &["--fps", "100"]),
    )
    .ok();
    let (fourcc, _, _, count, frames) = parse_ivf(&std::fs::read(&vp8_out).unwrap());
    assert_eq!((&fourcc, count), (b"VP80", 15));
    assert!(frames == vp8);
    assert_eq!(
        emu.realtime_sessions()
            .last()
            .unwrap()
            .media_codec
            .as_deref(),
        Some("vp8")
    );

    // Stdin to stdout.
    let args = realtime_args("-", "-", &["--fps", "100"]);
    let (code, stdout, stderr) = decart_bytes(&emu, &dir.0, &args, &aus[..20].concat());
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(stdout == transformed(&aus[..20], RT_PROMPT));
    assert!(!dir.path("-").exists());
}

#[test]
fn realtime_duration_cuts_the_stream() {
    let emu = emu();
    let dir = TempDir::new();
    let aus = access_units(90);
    let input = dir.write("in.h264", &aus.concat());
    let out = dir.path("out.h264");
    let started = Instant::now();
    let out_arg = s(&out);
    let args = realtime_args(&input, &out_arg, &["--duration", "0.5", "--fps", "30"]);
    let mut all = vec!["--json"];
    all.extend(args);
    let doc = decart(&emu, &all).ok().json();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "not the whole 3 s file"
    );
    // Timestamps 0, 1/30, …, 14/30 s: 15 frames.
    assert_eq!(
        (doc["frames_sent"].as_u64(), doc["frames_received"].as_u64()),
        (Some(15), Some(15))
    );
    assert_eq!(doc["duration_s"], 0.5);
    assert_eq!(doc["interrupted"], false);
    assert_eq!(doc["output"], s(&out));
    assert!(doc["rtt_ms"]["median"].as_f64().unwrap() <= doc["rtt_ms"]["max"].as_f64().unwrap());
    assert!(doc["first_frame_ms"].as_u64().unwrap() >= doc["connect_ms"].as_u64().unwrap());
    assert!(std::fs::read(&out).unwrap() == transformed(&aus[..15], RT_PROMPT));
}

#[test]
fn realtime_refuses_bad_inputs_before_connecting() {
    let emu = emu();
    let dir = TempDir::new();
    let out = dir.path("out.h264");
    let aus = access_units(3);
    let mut lying = ivf(b"H264", &aus);
    lying[32..36].copy_from_slice(&100_000u32.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage.h264",
            b"this is not a video at all".to_vec(),
            "neither an H.264",
        ),
        ("empty.h264", Vec::new(), "empty"),
        (
            "movie.mp4",
            b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom and the rest".to_vec(),
            "looks like an MP4",
        ),
        ("short.ivf", b"DKIF\0\0\x20\0H264".to_vec(), "truncated"),
        ("lying.ivf", lying, "announces 100000 bytes"),
        ("none.ivf", ivf(b"H264", &[]), "no frame"),
        ("vp9.ivf", ivf(b"VP90", &[b"frame".to_vec()]), "VP9"),
        ("vp8.ivf", ivf(b"VP80", &[b"\x10frame".to_vec()]), "*.ivf"),
        ("params.h264", aus[0][..21].to_vec(), "no coded picture"),
    ];
    for (name, bytes, words) in &cases {
        let input = dir.write(name, bytes);
        let line = decart(&emu, &realtime_args(&input, &s(&out), &[])).fails(1, "INVALID_INPUT");
        assert!(line.contains(words), "{name}: {line}");
        assert!(
            line.contains(name) || *name == "vp8.ivf",
            "{name} named: {line}"
        );
    }
    let line = decart(
        &emu,
        &realtime_args(&s(&dir.path("missing.h264")), &s(&out), &[]),
    )
    .fails(1, "INVALID_INPUT");
    assert!(line.contains("missing.h264"), "{line}");
    let good = dir.write("good.h264", &aus.concat());
    let nowhere = s(&dir.path("no/such/dir/out.h264"));
    decart(&emu, &realtime_args(&good, &nowhere, &[])).fails(1, "INVALID_INPUT");
    decart(&emu, &realtime_args(&good, "-", &["--json"])).fails(1, "INVALID_INPUT");
    // Another kind of model.
    let out_arg = s(&out);
    let mut image = realtime_args(&good, &out_arg, &[]);
    image[1] = "lucy-image-2";
    let line = decart(&emu, &image).fails(1, "MODEL_NOT_FOUND");
    assert!(line.contains("decart image"), "{line}");
    assert!(emu.realtime_sessions().is_empty(), "nothing was dialled");
    assert!(!out.exists());
}

#[test]
fn realtime_session_failures_exit_1() {
    use decart::emulator::{MediaAnswer, RealtimeScript};
    let emu = emu();
    let dir = TempDir::new();
    let aus = access_units(60);
    let input = dir.write("in.h264", &aus.concat());
    let out = dir.path("out.h264");

    // Refused: no output at all.
    emu.set_realtime_script(RealtimeScript::new().refuse(503, "no capacity"));
    let line = decart(&emu, &realtime_args(&input, &s(&out), &["--retries", "0"]))
        .fails(1, "REALTIME_REJECTED");
    assert!(line.contains("503"), "{line}");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(&dir.0).unwrap().count(),
        1,
        "no temporary file left"
    );
    // A refused key is not retried: a second attempt would have been served.
    emu.set_realtime_script(
        RealtimeScript::new()
            .refuse(401, "Invalid API key")
            .sessions(1),
    );
    let line = decart(&emu, &realtime_args(&input, &s(&out), &[])).fails(1, "REALTIME_REJECTED");
    assert!(line.contains("401"), "{line}");
    assert!(!out.exists());
    // At capacity twice, then served: the retries carry the stream through.
    emu.set_realtime_script(RealtimeScript::new().refuse(503, "no capacity").sessions(2));
    let run = decart(
        &emu,
        &realtime_args(&input, &s(&out), &["--fps", "100", "--retries", "2"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(std::fs::read(&out).unwrap(), transformed(&aus, RT_PROMPT));
    std::fs::remove_file(&out).unwrap();

    // The room is lost mid-stream: the frames that came back are kept, and said so.
    emu.set_realtime_script(RealtimeScript::new().media(MediaAnswer::DropAfterFrames(10)));
    let run = decart(&emu, &realtime_args(&input, &s(&out), &["--fps", "60"]));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    let line = run.stderr.trim();
    assert!(line.starts_with("error [REALTIME_"), "{line}");
    assert!(
        line.contains(&format!("frames received are in {}", s(&out))),
        "{line}"
    );
    let written = std::fs::read(&out).unwrap();
    let kept = (1..=10)
        .find(|&n| written == transformed(&aus[..n], RT_PROMPT))
        .expect("the output is the first frames, transformed");
    assert!(line.contains(&format!("the {kept} frames")), "{line}");
}

#[cfg(unix)]
#[test]
fn realtime_ctrl_c_ends_the_stream_and_keeps_what_came_back() {
    let emu = emu();
    let dir = TempDir::new();
    let aus = access_units(300); // 10 s at 30 fps
    let input = dir.write("in.h264", &aus.concat());
    let out = dir.path("out.h264");
    let child = command(Some(&emu), &realtime_args(&input, &s(&out), &[]))
        .spawn()
        .unwrap();
    let running = Running(Some(child));
    wait_until("frames on their way", || {
        emu.realtime_sessions()
            .first()
            .is_some_and(|l| l.frames_received >= 5)
    });
    let started = Instant::now();
    interrupt(running.pid());
    let run = running.finish();
    assert!(started.elapsed() < Duration::from_secs(3), "{run:?}");
    assert_eq!(run.code, 130, "{run:?}");
    let line = run.stderr.trim();
    assert!(line.starts_with("error [CANCELLED]: interrupted"), "{line}");
    assert!(run.stdout.contains("received "), "the report: {run:?}");
    let written = std::fs::read(&out).unwrap();
    let kept = (5..300)
        .find(|&n| written == transformed(&aus[..n], RT_PROMPT))
        .expect("the output is the first frames, transformed");
    assert!(
        line.contains(&format!("the {kept} frames received are in")),
        "{line}"
    );
    wait_until("the session's end", || {
        emu.realtime_sessions()[0].closed_by_client
    });

    // Ctrl-C while the session opens: it ends once open, with nothing written.
    emu.set_realtime_script(
        decart::emulator::RealtimeScript::new().room_info_delay(Duration::from_millis(800)),
    );
    let late = dir.path("late.h264");
    let child = command(Some(&emu), &realtime_args(&input, &s(&late), &["--json"]))
        .spawn()
        .unwrap();
    let running = Running(Some(child));
    wait_until("the second session", || emu.realtime_sessions().len() == 2);
    interrupt(running.pid());
    let run = running.finish();
    assert_eq!(run.code, 130, "{run:?}");
    assert!(
        run.stderr.trim() == "error [CANCELLED]: interrupted: the stream was ended early",
        "{run:?}"
    );
    let doc = run.json();
    assert_eq!(
        (doc["interrupted"].as_bool(), doc["frames_sent"].as_u64()),
        (Some(true), Some(0))
    );
    assert_eq!(doc["output"], Value::Null);
    assert_eq!(doc["rtt_ms"], Value::Null);
    assert!(!late.exists());
    wait_until("the second session's end", || {
        emu.realtime_sessions()[1].closed_by_client
    });
}

#[cfg(target_os = "linux")]
#[test]
fn realtime_shows_its_status_on_a_terminal() {
    let emu = emu();
    let dir = TempDir::new();
    let input = dir.write("in.h264", &access_units(45).concat());
    let out = s(&dir.path("out.h264"));
    let started = Instant::now();
    let Some(run) = on_terminal(&emu, 50, &realtime_args(&input, &out, &[])) else {
        return;
    };
    let elapsed = started.elapsed();
    assert_eq!(run.code, 0, "{run:?}");
    let frames = frames(&run.stdout);
    assert!(
        frames.iter().any(|f| f.contains(": sent ")),
        "the status: {frames:?}"
    );
    assert!(
        frames
            .iter()
            .all(|f| !f.contains('\n') && f.chars().count() <= 49),
        "{frames:?}"
    );
    // At most 10 redraws a second.
    let most = (elapsed.as_secs_f64() * 10.0).ceil() as usize + 1;
    assert!(
        frames.len() <= most,
        "{} redraws in {elapsed:?}",
        frames.len()
    );
    assert!(
        run.stdout.contains("received    45 frames"),
        "then the report: {run:?}"
    );
}

// ---------------------------------------------------------------------------------------
// files, models

#[test]
fn files_upload_get_delete() {
    let emu = emu();
    let dir = TempDir::new();
    let path = dir.write("pic.png", PNG);
    let up = decart(&emu, &["--json", "files", "upload", &path, "--ttl", "600"])
        .ok()
        .json();
    let id = up["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("file_"));
    assert_eq!(up["filename"], "pic.png");
    assert_eq!(up["mime_type"], "image/png");
    assert_eq!(up["size_bytes"], PNG.len());
    assert!(up["expires_at"].is_string());
    let got = decart(&emu, &["--json", "files", "get", &id]).ok().json();
    assert_eq!(got, up);
    let human = decart(&emu, &["files", "get", &id]);
    assert!(
        human
            .ok()
            .stdout
            .starts_with(&format!("id          {id}\n"))
    );
    let del = decart(&emu, &["files", "delete", &id]);
    assert_eq!(del.ok().stdout, format!("deleted {id}\n"));
    let line = decart(&emu, &["files", "get", &id]).fails(1, "FILES_GET_ERROR");
    assert!(line.contains("404"), "{line}");
    decart(&emu, &["files", "delete", &id]).fails(1, "FILES_DELETE_ERROR");

    let persistent = decart(
        &emu,
        &["--json", "files", "upload", &path, "--ttl", "persistent"],
    )
    .ok()
    .json();
    assert_eq!(persistent["expires_at"], Value::Null);
    let human = decart(&emu, &["files", "upload", &path]);
    assert!(human.ok().stdout.contains("mime_type   image/png"));
    let del = decart(
        &emu,
        &[
            "--json",
            "files",
            "delete",
            persistent["id"].as_str().unwrap(),
        ],
    );
    assert_eq!(del.ok().json()["deleted"], true);
}

#[test]
fn files_upload_problems() {
    let emu = emu();
    let dir = TempDir::new();
    let missing = s(&dir.path("missing.bin"));
    let line = decart(&emu, &["files", "upload", &missing]).fails(1, "INVALID_INPUT");
    assert!(line.contains("missing.bin"), "{line}");
    decart(&emu, &["files", "upload", &s(&dir.0)]).fails(1, "INVALID_INPUT");
    let path = dir.write("a.txt", b"a");
    decart(&emu, &["files", "upload", &path, "--ttl", "5"]).fails(1, "INVALID_INPUT");
    assert_eq!(emu.count("*", "/"), 0);
}

#[test]
fn models_need_no_key() {
    let run = decart_bare(&["models"]);
    run.ok();
    assert!(run.stdout.starts_with("KIND"));
    for name in ["lucy-2.1", "lucy-restyle-2", "lucy-image-2"] {
        assert!(run.stdout.contains(name), "{name}");
    }
    assert!(!run.stdout.contains("lucy-pro-i2i"), "aliases need --all");
    let all = decart_bare(&["models", "--all", "--kind", "image"]);
    assert!(all.ok().stdout.contains("deprecated: use lucy-image-2"));
    let doc = decart_bare(&["--json", "models", "--kind", "video"])
        .ok()
        .json();
    let names: Vec<&str> = doc
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"lucy-2.1") && names.contains(&"lucy-restyle-2"));
    assert!(doc.as_array().unwrap().iter().all(|m| m["kind"] == "video"));
    assert_eq!(doc[0]["url_path"], "/v1/jobs/lucy-2.1");
}

// ---------------------------------------------------------------------------------------
// emulator, demo

#[cfg(unix)]
#[test]
fn the_emulator_command_serves_until_interrupted() {
    // A real key in the environment never becomes the emulator's (printed) key.
    let child = Command::new(BIN)
        .args(["emulator", "--polls", "0"])
        .env("DECART_API_KEY", "sk-real-secret-key")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running(Some(child));
    let stdout = running.0.as_mut().unwrap().stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let export = loop {
        let line = lines.next().expect("the export line").unwrap();
        seen.push(line.clone());
        if let Some(rest) = line.trim().strip_prefix("export ") {
            break rest.to_owned();
        }
    };
    let text = seen.join("\n");
    assert!(text.contains("JWKS URL"), "{text}");
    assert!(text.contains("issuer"), "{text}");
    assert!(!text.contains("sk-real-secret-key"));
    let vars: Vec<(&str, &str)> = export
        .split_whitespace()
        .map(|kv| kv.split_once('=').unwrap())
        .collect();
    assert_eq!(vars[0].0, "DECART_BASE_URL");
    assert_eq!(vars[1], ("DECART_API_KEY", emulator::DEFAULT_API_KEY));
    // It answers the SDK's calls.
    let run = finish(
        command(None, &["--json", "tokens", "create"])
            .env(vars[0].0, vars[0].1)
            .env(vars[1].0, vars[1].1)
            .spawn()
            .unwrap(),
    );
    assert!(
        run.ok().json()["api_key"]
            .as_str()
            .unwrap()
            .starts_with("ek_")
    );
    interrupt(running.pid());
    let mut child = running.0.take().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(err, "emulator stopped\n");
}

#[test]
fn the_emulator_command_json_and_a_busy_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let run = decart_bare(&["emulator", "--port", &port]);
    let line = run.fails(1, "INVALID_INPUT");
    assert!(line.contains(&port), "{line}");

    let mut child = command(None, &["--json", "emulator"]).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(Some(child));
    let first = BufReader::new(stdout).lines().next().unwrap().unwrap();
    let doc: Value = serde_json::from_str(&first).unwrap();
    let base = doc["base_url"].as_str().unwrap();
    assert_eq!(doc["jwks_url"], format!("{base}/api/auth/jwks"));
    assert_eq!(doc["issuer"], base);
    assert_eq!(doc["api_key"], emulator::DEFAULT_API_KEY);
    drop(running);
}

#[test]
fn demo_runs_the_whole_tour() {
    let dir = TempDir::new();
    let kept = dir.path("tour");
    // No key, and a base URL that would fail: the demo uses its own emulator.
    let child = command(None, &["demo", "--dir", &s(&kept)])
        .env("DECART_BASE_URL", "http://127.0.0.1:1")
        .spawn()
        .unwrap();
    let started = Instant::now();
    let run = finish(child);
    run.ok();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("decart demo:"), "{lines:?}");
    for (i, step) in [
        "tokens create",
        "tokens verify",
        "image",
        "video",
        "realtime",
        "files upload",
        "files get",
        "files delete",
    ]
    .iter()
    .enumerate()
    {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("[{}/8] {step} ", i + 1)))
            .unwrap_or_else(|| panic!("no line for {step}: {lines:?}"));
        assert!(line.contains(" ms") || line.contains(" s "), "{line}");
    }
    assert!(run.stdout.contains("pending -> processing -> completed"));
    assert!(run.stdout.contains("round trip checked"));
    assert!(
        run.stdout
            .contains("60 frames sent, 60 back, median round trip"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("a get now answers 404"));
    assert!(!run.stdout.contains("eyJ"), "the JWT is never printed");
    let last = lines.last().unwrap();
    assert!(last.starts_with("demo passed: 8 of 8 steps in "), "{last}");
    for f in [
        "input.png",
        "edited.png",
        "input.mp4",
        "result.mp4",
        "realtime-in.h264",
        "realtime-out.h264",
    ] {
        assert!(kept.join(f).is_file(), "{f}");
    }
}

#[test]
fn demo_json_report() {
    let run = decart_bare(&["--json", "demo"]);
    let doc = run.ok().json();
    assert!(run.stderr.is_empty());
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["target"], "emulator");
    assert_eq!(doc["dir"], Value::Null);
    let steps = doc["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 8);
    assert!(
        steps
            .iter()
            .all(|s| s["skipped"] == false && s["ms"].is_number())
    );
    assert_eq!(steps[3]["step"], "video");
    assert_eq!(steps[4]["step"], "realtime");
    assert!(doc["total_ms"].as_u64().unwrap() < 10_000);
}

#[test]
fn demo_live_needs_a_key() {
    let run = decart_bare(&["demo", "--live"]);
    run.fails(1, "INVALID_API_KEY");
}

// ---------------------------------------------------------------------------------------
// Unix conventions: a closed stdout, wrapped help, completions, -v/-q

/// Runs `decart ARGS` with its stdout closed before it writes anything; returns the exit code
/// and stderr.
fn with_stdout_closed(emu: Option<&Emulator>, args: &[&str]) -> (i32, String) {
    let mut child = command(emu, args).spawn().expect("spawn decart");
    drop(child.stdout.take());
    let run = finish(child);
    (run.code, run.stderr)
}

#[track_caller]
fn assert_quiet_end(args: &[&str], (code, stderr): (i32, String)) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{args:?}: {stderr}"
    );
    assert_ne!(code, 101, "{args:?}: a panic: {stderr}");
    assert_eq!(code, 0, "{args:?}: {stderr}");
    assert!(stderr.is_empty(), "{args:?}: {stderr}");
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let emu = emu();
    let token = mint(&emu, &[])["token"].as_str().unwrap().to_owned();
    let dir = TempDir::new();
    let upload = dir.write("up.png", PNG);
    let file_id = decart(&emu, &["--json", "files", "upload", &upload])
        .ok()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let commands: Vec<Vec<&str>> = vec![
        vec!["models", "--all"],
        vec!["--json", "models"],
        vec!["--help"],
        vec!["tokens", "--help"],
        vec!["--version"],
        vec!["completions", "zsh"],
        vec!["tokens", "decode", &token],
        vec!["--json", "tokens", "decode", &token],
        vec!["tokens", "create"],
        vec!["files", "get", &file_id],
        vec!["--json", "files", "get", &file_id],
    ];
    for args in &commands {
        for _ in 0..3 {
            assert_quiet_end(args, with_stdout_closed(Some(&emu), args));
        }
    }
    // The reader goes away after the first line of a longer run.
    let mut child = command(None, &["demo"]).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let first = BufReader::new(stdout).lines().next().unwrap().unwrap();
    assert!(first.starts_with("decart demo"), "{first}");
    let run = finish(child);
    assert_quiet_end(&["demo"], (run.code, run.stderr));
}

#[test]
fn a_failing_stdout_is_an_error_not_a_panic() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return; // no /dev/full on this system
    };
    let run = finish(
        command(None, &["models"])
            .stdout(Stdio::from(full))
            .spawn()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error [IO_ERROR]: cannot write to stdout"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("panicked"), "{run:?}");
}

/// The words of a text, in order.
fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

#[test]
fn help_is_wrapped_at_word_boundaries() {
    for args in [
        &["--help"][..],
        &["tokens", "verify", "--help"],
        &["video", "--help"],
        &["files", "upload", "--help"],
    ] {
        let wide = finish(command(None, args).env("COLUMNS", "100").spawn().unwrap());
        let wide = wide.ok().stdout.clone();
        for columns in [50usize, 60, 80] {
            let run = finish(
                command(None, args)
                    .env("COLUMNS", columns.to_string())
                    .spawn()
                    .unwrap(),
            );
            let text = run.ok().stdout.clone();
            for line in text.lines() {
                // Only a word longer than the room left (a URL) may stick out, alone; clap
                // never wraps the usage line.
                assert!(
                    line.chars().count() <= columns
                        || words(line).len() == 1
                        || line.starts_with("Usage: "),
                    "{args:?} at {columns} columns: {line:?}"
                );
            }
            // Wrapped only between words: the same words in the same order as at 100 columns.
            assert_eq!(words(&text), words(&wide), "{args:?} at {columns} columns");
            assert!(text.lines().count() > wide.lines().count() || columns == 100);
        }
    }
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_decart()"),
        ("zsh", "#compdef decart"),
        ("fish", "complete -c decart"),
        ("elvish", "edit:completion:arg-completer[decart]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let run = decart_bare(&["completions", shell]);
        let script = &run.ok().stdout;
        assert!(script.contains(marker), "{shell}: {script}");
        for word in ["tokens", "verify", "jwks-url", "completions", "quiet"] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
        assert!(run.stderr.is_empty());
    }
    decart_bare(&["completions", "tcsh"]).usage_error();
    decart_bare(&["completions"]).usage_error();
}

#[test]
fn verbosity_flags_show_or_hide_what_the_sdk_logs() {
    let emu = emu();
    let dir = TempDir::new();
    let input = dir.write("in.png", PNG);
    let out = s(&dir.path("out.png"));
    // A deprecated model: a warning by default, nothing with -q.
    let args = ["image", "lucy-pro-i2i", "-p", "x", "-i", &input, "-o", &out];
    let run = decart(&emu, &args);
    assert_eq!(
        run.ok().stderr,
        "warning: Model \"lucy-pro-i2i\" is deprecated. Use \"lucy-image-2\" instead.\n"
    );
    let mut quiet = vec!["-q"];
    quiet.extend_from_slice(&args);
    assert!(decart(&emu, &quiet).ok().stderr.is_empty());

    // A retried call: silent by default, its retry logged with -v.
    emu.inject(
        Fault::status(503)
            .retry_after(0)
            .on("POST", "/v1/client/tokens"),
    );
    let run = decart(&emu, &["tokens", "create"]);
    assert!(run.ok().stderr.is_empty(), "{run:?}");
    emu.inject(
        Fault::status(503)
            .retry_after(0)
            .on("POST", "/v1/client/tokens"),
    );
    let run = decart(&emu, &["-v", "tokens", "create"]);
    let logged: Vec<&str> = run.ok().stderr.lines().collect();
    assert_eq!(logged.len(), 1, "{run:?}");
    assert!(
        logged[0].starts_with("[debug decart") && logged[0].contains("retrying"),
        "{run:?}"
    );
    assert!(!run.stderr.contains(emu.api_key()), "never the key");
    // -vv adds the HTTP stack's records; still never the key.
    let run = decart(&emu, &["-vv", "tokens", "create"]);
    assert!(run.ok().stderr.lines().count() > 1, "{run:?}");
    assert!(!run.stderr.contains(emu.api_key()), "never the key");
    // -vvv is trace: ureq's byte dump of the request (the key split across its rows) is
    // filtered out.
    let run = decart(&emu, &["-vvv", "tokens", "create"]);
    let stderr = run.ok().stderr.clone();
    assert!(stderr.lines().count() > 1, "{stderr}");
    assert!(!stderr.contains("[trace ureq_proto"), "{stderr}");
    let dump_rows: String = stderr
        .lines()
        .filter_map(|l| l.rsplit(' ').next())
        .collect();
    assert!(
        !dump_rows.contains(emu.api_key()),
        "never the key: {stderr}"
    );
    assert!(!stderr.contains(emu.api_key()), "never the key");
    // Nor a signed input URL's query (ureq logs whole URLs at trace level).
    let signed = format!("{}/in.png?X-Amz-Signature=SECRETSIG", emu.base_url());
    let args = [
        "-vvv",
        "image",
        "lucy-image-2",
        "-p",
        "x",
        "-i",
        &signed,
        "-o",
        &out,
    ];
    let run = decart(&emu, &args);
    assert!(!run.stderr.contains("SECRETSIG"), "{}", run.stderr);
    assert!(!run.stdout.contains("SECRETSIG"), "{}", run.stdout);
    decart(&emu, &["-q", "-v", "models"]).usage_error();
}

// ---------------------------------------------------------------------------------------
// --json: one documented schema per command

/// The `--json` fields README documents for `command`: top-level names, and the names inside
/// the parentheses that follow a name (the fields of that object, or of each element of that
/// array; after no name: of each element of a top-level array).
fn documented_fields(
    command: &str,
) -> (Vec<String>, std::collections::BTreeMap<String, Vec<String>>) {
    let readme = include_str!("../README.md");
    let start = readme
        .find("### JSON output")
        .expect("README has a JSON output section");
    let row = readme[start..]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .find(|l| {
            let first = l.split('|').nth(1).unwrap();
            first.split('`').skip(1).step_by(2).any(|c| c == command)
        })
        .unwrap_or_else(|| panic!("README documents no JSON fields for `{command}`"));
    let cell = row.split('|').nth(2).unwrap();
    let mut top = Vec::new();
    let mut nested: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let (mut depth, mut last, mut parent) = (0, String::new(), String::new());
    let mut chars = cell.chars();
    while let Some(c) = chars.next() {
        match c {
            '`' => {
                let name: String = chars.by_ref().take_while(|&c| c != '`').collect();
                if depth == 0 {
                    top.push(name.clone());
                    last = name;
                } else {
                    nested.entry(parent.clone()).or_default().push(name);
                }
            }
            '(' => {
                depth += 1;
                parent = std::mem::take(&mut last);
            }
            ')' => depth -= 1,
            _ => {}
        }
    }
    (top, nested)
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Every key is snake_case, except inside the fields passed through verbatim.
fn assert_snake_case(command: &str, v: &Value) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let snake = !k.is_empty()
                    && k.split('_').all(|part| {
                        !part.is_empty()
                            && part
                                .chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                    });
                assert!(snake, "{command}: key {k:?} is not snake_case");
                if k != "claims" && k != "attribution" {
                    assert_snake_case(command, v);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| assert_snake_case(command, i)),
        _ => {}
    }
}

#[track_caller]
fn assert_schema(command: &str, doc: &Value) {
    assert_snake_case(command, doc);
    let (top, nested) = documented_fields(command);
    let root_elements = nested.get("");
    if let Some(fields) = root_elements {
        let items = doc.as_array().unwrap_or_else(|| panic!("{command}: {doc}"));
        assert!(!items.is_empty(), "{command}");
        for item in items {
            assert_eq!(keys(item), sorted(fields.clone()), "{command}");
        }
        return;
    }
    assert_eq!(keys(doc), sorted(top), "{command}: {doc}");
    for (parent, fields) in nested {
        let value = &doc[parent.as_str()];
        let objects: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        assert!(!objects.is_empty(), "{command}: {parent}");
        for object in objects {
            assert_eq!(keys(object), sorted(fields.clone()), "{command}: {parent}");
        }
    }
}

#[test]
fn every_json_document_follows_its_documented_schema() {
    let emu = emu();
    let dir = TempDir::new();
    let png = dir.write("in.png", PNG);
    let mp4 = dir.write("in.mp4", b"a video");
    let out = |name: &str| s(&dir.path(name));
    let json = |args: &[&str]| {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        decart(&emu, &all).ok().json()
    };

    let created = json(&[
        "tokens",
        "create",
        "--allowed-model",
        "lucy-2.1",
        "--allowed-origin",
        "https://example.com",
        "--metadata",
        r#"{"service_tier": 1, "attribution": {"teamName": "kept as given"}}"#,
        "--max-session-duration",
        "90",
    ]);
    assert_schema("tokens create", &created);
    assert_eq!(
        created["constraints"],
        serde_json::json!({"realtime": {"max_session_duration": 90}})
    );
    let token = created["token"].as_str().unwrap();
    let verified = verify(&emu, token, &["--json"]).ok().json();
    assert_schema("tokens verify", &verified);
    assert_eq!(verified["attribution"]["teamName"], "kept as given");
    assert_schema("tokens decode", &json(&["tokens", "decode", token]));

    assert_schema(
        "image",
        &json(&[
            "image",
            "lucy-image-2",
            "-p",
            "x",
            "-i",
            &png,
            "-o",
            &out("o.png"),
        ]),
    );
    assert_schema(
        "video",
        &json(&[
            "video",
            "lucy-2.1",
            "-p",
            "x",
            "-i",
            &mp4,
            "-o",
            &out("o.mp4"),
        ]),
    );
    let submitted = json(&["video", "lucy-2.1", "-p", "x", "-i", &mp4, "--no-wait"]);
    assert_schema("video --no-wait", &submitted);
    let job = submitted["job_id"].as_str().unwrap();
    let status = json(&["jobs", "status", job]);
    assert_schema("jobs status", &status);
    assert_eq!(status["reason"], Value::Null);
    assert_schema(
        "jobs result",
        &json(&["jobs", "result", job, "-o", &out("r.mp4")]),
    );

    let uploaded = json(&["files", "upload", &png, "--ttl", "600"]);
    assert_schema("files upload", &uploaded);
    let id = uploaded["id"].as_str().unwrap();
    assert_schema("files get", &json(&["files", "get", id]));
    assert_schema("files delete", &json(&["files", "delete", id]));

    let h264 = dir.write("in.h264", &access_units(10).concat());
    let streamed = json(&[
        "realtime",
        "lucy-2.1",
        "-p",
        "x",
        "-i",
        &h264,
        "-o",
        &out("o.h264"),
        "--fps",
        "100",
    ]);
    assert_schema("realtime", &streamed);
    assert_eq!(streamed["frames_received"], 10);

    assert_schema("models", &json(&["models", "--all"]));
    assert_schema("demo", &decart_bare(&["--json", "demo"]).ok().json());

    let mut child = command(None, &["--json", "emulator"]).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(Some(child));
    let first = BufReader::new(stdout).lines().next().unwrap().unwrap();
    drop(running);
    assert_schema("emulator", &serde_json::from_str(&first).unwrap());
}

// ---------------------------------------------------------------------------------------
// `-`: stdin and stdout

/// Runs `decart ARGS` in `dir` with `input` on stdin; returns the exit code, stdout's bytes
/// and stderr.
fn decart_bytes(emu: &Emulator, dir: &Path, args: &[&str], input: &[u8]) -> (i32, Vec<u8>, String) {
    use std::io::Write;
    let mut child = command(Some(emu), args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn decart");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn dash_reads_stdin_and_writes_stdout() {
    let emu = emu();
    let dir = TempDir::new();

    let image = ["image", "lucy-image-2", "-p", "x", "-i", "-", "-o", "-"];
    let (code, out, err) = decart_bytes(&emu, &dir.0, &image, PNG);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, emulator::expected_image_result(PNG), "only the image");
    assert!(!dir.path("-").exists(), "no file named -");
    let req = &emu.requests()[0];
    let part = req.part("data").unwrap();
    assert_eq!(
        part.filename.as_deref(),
        Some("stdin.png"),
        "typed by its bytes"
    );
    assert_eq!(part.content_type.as_deref(), Some("image/png"));
    assert_eq!(part.size, PNG.len() as u64);

    let video = b"\0\0\0\x18ftypmp42 a video from stdin";
    let args = ["video", "lucy-2.1", "-p", "x", "-i", "-", "-o", "-"];
    let (code, out, err) = decart_bytes(&emu, &dir.0, &args, video);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, emulator::expected_video_result(video, None));
    let submit = emu
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(
        submit.part("data").unwrap().content_type.as_deref(),
        Some("video/mp4")
    );

    let args = [
        "--json",
        "video",
        "lucy-2.1",
        "-p",
        "x",
        "-i",
        "-",
        "--no-wait",
    ];
    let (code, out, _) = decart_bytes(&emu, &dir.0, &args, b"unknown bytes");
    assert_eq!(code, 0);
    let job: Value = serde_json::from_slice(&out).unwrap();
    let job_id = job["job_id"].as_str().unwrap();
    let submit = emu
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method == "POST")
        .unwrap();
    let part = submit.part("data").unwrap();
    assert_eq!(part.filename.as_deref(), Some("stdin"));
    assert_eq!(
        part.content_type.as_deref(),
        Some("application/octet-stream")
    );
    decart(&emu, &["jobs", "status", job_id]).ok(); // the emulator completes it on a poll
    let (code, out, err) = decart_bytes(&emu, &dir.0, &["jobs", "result", job_id, "-o", "-"], b"");
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, emulator::expected_video_result(b"unknown bytes", None));

    let (code, out, err) = decart_bytes(&emu, &dir.0, &["--json", "files", "upload", "-"], PNG);
    assert_eq!((code, err.as_str()), (0, ""));
    let file: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(file["size_bytes"], PNG.len());
    assert_eq!(file["filename"], "stdin.png");
    assert_eq!(file["mime_type"], "image/png");
    assert!(!dir.path("-").exists());
}

#[test]
fn dash_misuses_are_refused_before_sending() {
    let emu = emu();
    let dir = TempDir::new();
    let input = dir.write("in.png", PNG);
    // stdout carries the result: no JSON report there.
    let line = decart(
        &emu,
        &[
            "--json",
            "image",
            "lucy-image-2",
            "-p",
            "x",
            "-i",
            &input,
            "-o",
            "-",
        ],
    )
    .fails(1, "INVALID_INPUT");
    assert!(line.contains("-o -") && line.contains("--json"), "{line}");
    decart(&emu, &["--json", "jobs", "result", "job_x", "-o", "-"]).fails(1, "INVALID_INPUT");
    // stdin is one input.
    let out = s(&dir.path("out.png"));
    let args = [
        "image",
        "lucy-image-2",
        "-p",
        "x",
        "-i",
        "-",
        "--reference-image",
        "-",
        "-o",
        &out,
    ];
    let line = decart(&emu, &args).fails(1, "INVALID_INPUT");
    assert!(line.contains("stdin is already"), "{line}");
    assert!(emu.requests().is_empty(), "nothing sent");

    // A reader that closes stdout during a download ends the command quietly.
    let mut child = command(
        Some(&emu),
        &["image", "lucy-image-2", "-p", "x", "-i", &input, "-o", "-"],
    )
    .spawn()
    .unwrap();
    drop(child.stdout.take());
    let run = finish(child);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
}

// ---------------------------------------------------------------------------------------
// Progress on a terminal

/// Runs `decart ARGS` on a pseudo-terminal `cols` columns wide (util-linux `script`), against
/// the emulator; returns what the terminal showed (stdout and stderr), or `None` without
/// `script`.
#[cfg(target_os = "linux")]
fn on_terminal(emu: &Emulator, cols: u16, args: &[&str]) -> Option<Run> {
    let available = Command::new("script").arg("--version").output();
    if !available.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: util-linux `script` is not installed");
        return None;
    }
    let quoted: Vec<String> = std::iter::once(BIN)
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let shell = format!("stty cols {cols} rows 10; exec {}", quoted.join(" "));
    let child = Command::new("script")
        .args(["-qec", &shell, "/dev/null"])
        .env_remove("RUST_LOG")
        .env("DECART_BASE_URL", emu.base_url())
        .env("DECART_API_KEY", emu.api_key())
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn script");
    Some(finish(child))
}

/// The progress frames a terminal showed: each redraw clears the line first.
fn frames(screen: &str) -> Vec<&str> {
    let mut frames: Vec<&str> = screen.split("\r\x1b[2K").skip(1).collect();
    frames.pop(); // the last clear is followed by the report
    frames
}

#[cfg(target_os = "linux")]
#[test]
fn progress_stays_on_one_line_in_a_narrow_terminal() {
    let emu = Emulator::builder()
        .polls_before_completion(2)
        .start()
        .unwrap();
    let dir = TempDir::new();
    let input = dir.write("in.mp4", b"a video");
    let out = s(&dir.path("out.mp4"));
    let Some(run) = on_terminal(
        &emu,
        24,
        &["video", "lucy-2.1", "-p", "x", "-i", &input, "-o", &out],
    ) else {
        return;
    };
    assert_eq!(run.code, 0, "{run:?}");
    let frames = frames(&run.stdout);
    assert!(!frames.is_empty(), "progress on a terminal: {run:?}");
    for frame in &frames {
        assert!(!frame.contains('\n'), "{frame:?}");
        assert!(
            frame.chars().count() <= 23,
            "wider than 24 columns: {frame:?}"
        );
    }
    assert!(frames.iter().any(|f| f.ends_with('…')), "cut: {frames:?}");
    assert!(
        frames.iter().any(|f| f.contains("job_")),
        "the status: {frames:?}"
    );
    assert!(run.stdout.contains("completed"), "then the report: {run:?}");

    // -q: no progress at all.
    let Some(run) = on_terminal(
        &emu,
        24,
        &[
            "-q", "video", "lucy-2.1", "-p", "x", "-i", &input, "-o", &out,
        ],
    ) else {
        return;
    };
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("\x1b[2K"), "{run:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn uploads_show_their_progress_on_a_terminal() {
    let emu = emu();
    let dir = TempDir::new();
    // Large enough to be streamed with a byte count (16 MiB and more).
    let big = dir.path("big.png");
    let mut bytes = PNG.to_vec();
    bytes.resize(16 * 1024 * 1024 + 1, 0);
    std::fs::write(&big, &bytes).unwrap();
    let (big, out) = (s(&big), s(&dir.path("out.png")));
    for args in [
        vec!["files", "upload", big.as_str()],
        vec![
            "image",
            "lucy-image-2",
            "-p",
            "x",
            "-i",
            &big,
            "-o",
            out.as_str(),
        ],
    ] {
        let Some(run) = on_terminal(&emu, 60, &args) else {
            return;
        };
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        let frames = frames(&run.stdout);
        assert!(
            frames
                .iter()
                .any(|f| f.contains(": uploading") || f.contains(": uploaded 16.0 MiB")),
            "{args:?}: {frames:?}"
        );
        assert!(frames.iter().all(|f| f.chars().count() <= 59), "{frames:?}");
    }
}
