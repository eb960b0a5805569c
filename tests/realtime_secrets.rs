//! The key of a realtime session rides the `api_key` query parameter; it must never reach a log
//! line, an error's `Display` or `Debug`, or a session's `Debug`, whatever happens. One test
//! function: the logger is process-wide.
#![cfg(all(feature = "realtime", feature = "emulator", feature = "blocking"))]

use std::sync::Mutex;
use std::time::Duration;

use decart::emulator::{AckAnswer, AfterTicks, Emulator, JoinAnswer, MediaAnswer, RealtimeScript};
use decart::realtime::{RealtimeOptions, VideoFrame};
use decart::{Client, CreateTokenOptions, models};

struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        // What the README tells users to keep below trace: tungstenite's whole frames, ureq's
        // byte dumps.
        let target = record.target();
        if record.level() == log::Level::Trace
            && (target.starts_with("tungstenite") || target.starts_with("ureq"))
        {
            return;
        }
        let line = format!("{} {}: {}", record.level(), record.target(), record.args());
        self.0.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

fn options() -> RealtimeOptions {
    RealtimeOptions::new()
        .connect_timeout(Duration::from_secs(3))
        .room_info_timeout(Duration::from_millis(300))
        .prompt_timeout(Duration::from_millis(300))
        .media_timeout(Duration::from_millis(500))
}

#[test]
fn realtime_keys_never_show() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let emu = Emulator::start().unwrap();
    let admin = Client::builder()
        .api_key(emu.api_key())
        .base_url(emu.base_url())
        .build()
        .unwrap();
    let token = admin
        .tokens()
        .create(&CreateTokenOptions::new().expires_in(300))
        .unwrap();
    let jwt = token.token.clone().unwrap();
    let keys = [
        emu.api_key().to_owned(),
        token.api_key.expose().to_owned(),
        jwt.expose().to_owned(),
        "sk-wrong-key/with+chars 0123456789".to_owned(),
    ];
    let model = models::realtime("lucy-2.1").unwrap();
    let mut shown = Vec::new();
    let scripts = [
        RealtimeScript::new(),
        RealtimeScript::new().join(JoinAnswer::Error("boom".into())),
        RealtimeScript::new().join(JoinAnswer::Drop),
        RealtimeScript::new().join(JoinAnswer::Silent),
        RealtimeScript::new().join(JoinAnswer::Raw("garbage".into())),
        RealtimeScript::new().prompt(AckAnswer::Silent),
        RealtimeScript::new()
            .ticks(1, Duration::from_millis(5))
            .after_ticks(AfterTicks::Drop),
        RealtimeScript::new().refuse(503, "maintenance"),
        RealtimeScript::new().media(MediaAnswer::Refuse(401)),
        RealtimeScript::new().media(MediaAnswer::DropAfterJoin),
        RealtimeScript::new().media(MediaAnswer::NoAnswer),
        RealtimeScript::new().media(MediaAnswer::DropAfterFrames(1)),
    ];
    for key in &keys {
        for script in &scripts {
            emu.set_realtime_script(script.clone());
            let client = Client::builder()
                .api_key(key.as_str())
                .base_url(emu.base_url())
                .no_retries()
                .build()
                .unwrap();
            match client.realtime().connect(&model, options()) {
                Ok(mut session) => {
                    shown.push(format!("{session:?}"));
                    for n in 0..3 {
                        let frame =
                            VideoFrame::new(vec![0, 0, 0, 1, 0x65, 0x88, n], Duration::ZERO);
                        if let Err(e) = session.send_frame(frame) {
                            shown.push(format!("{e} {e:?}"));
                        }
                        match session.next_frame(Duration::from_millis(200)) {
                            Ok(f) => shown.push(format!("{f:?}")),
                            Err(e) => shown.push(format!("{e} {e:?}")),
                        }
                    }
                    if let Err(e) = session.set_prompt("p", true) {
                        shown.push(format!("{e} {e:?}"));
                    }
                    while let Ok(Some(event)) = session.next_event(Duration::from_millis(50)) {
                        shown.push(format!("{event:?}"));
                    }
                    if let Err(e) = session.next_event(Duration::from_millis(50)) {
                        shown.push(format!("{e} {e:?}"));
                    }
                    let _ = client.realtime().watch(&session.subscribe_token());
                    session.close().unwrap();
                }
                Err(e) => shown.push(format!("{e} {e:?}")),
            }
        }
        // Retries and a reconnect log their failures.
        emu.set_realtime_script(
            RealtimeScript::new()
                .join(JoinAnswer::Error("Server at capacity".into()))
                .sessions(1),
        );
        let client = Client::builder()
            .api_key(key.as_str())
            .base_url(emu.base_url())
            .build()
            .unwrap();
        let quick = decart::RetryPolicy::new()
            .max_attempts(2)
            .base_delay(Duration::from_millis(5));
        match client
            .realtime()
            .connect_with_retry(&model, options().media(false).retry(quick))
        {
            Ok(mut session) => {
                if let Err(e) = session.reconnect() {
                    shown.push(format!("{e} {e:?}"));
                }
                shown.push(format!("{session:?}"));
            }
            Err(e) => shown.push(format!("{e} {e:?}")),
        }
    }
    // Nothing listening, and a TLS handshake with a plain-HTTP server.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for base in [
        format!("http://127.0.0.1:{port}"),
        format!("wss://127.0.0.1:{}", emu.port()),
    ] {
        let client = Client::builder()
            .api_key(keys[3].as_str())
            .base_url(emu.base_url())
            .build()
            .unwrap();
        let e = client
            .realtime()
            .connect(&model, options().base_url(base))
            .unwrap_err();
        shown.push(format!("{e} {e:?}"));
    }

    let logged = CAPTURE.0.lock().unwrap().clone();
    assert!(
        logged.iter().any(|l| l.contains("attempt 1 of 2 failed")),
        "the retry is logged: {logged:#?}"
    );
    assert!(
        logged.iter().any(|l| l.contains("api_key=<redacted>")),
        "the session URL is logged, redacted: {logged:#?}"
    );
    let encoded = |k: &str| {
        k.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    // LiveKit tokens: the emulator's all start so.
    for text in logged.iter().chain(shown.iter()) {
        assert!(!text.contains("lk_emulator_"), "a LiveKit token in {text}");
    }
    assert!(
        logged.iter().any(|l| l.contains("access_token=<redacted>")),
        "the signal URL is logged, redacted: {logged:#?}"
    );
    for key in &keys {
        for text in logged.iter().chain(shown.iter()) {
            assert!(!text.contains(key.as_str()), "key in {text}");
            assert!(!text.contains(&encoded(key)), "encoded key in {text}");
        }
    }
}
