//! `decart demo`: the whole tour of the SDK against an in-process emulator (no key, no
//! network), or against the real API with `--live`.
//!
//! Steps: create a client token; verify its JWT offline against the JWKS; edit an image; run a
//! video job with progress; stream frames through a realtime session; upload, get and delete a
//! file. Each step prints one line with its time; against the emulator the results are also
//! checked byte for byte.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use decart::ModelKind;
use decart::blocking::JwksVerifier;
use decart::emulator::{self, Emulator};
use decart::jwt::VerifyOptions;
use decart::realtime::{RealtimeOptions, VideoCodec};
use decart::{
    CancelHandle, Client, CreateTokenOptions, FileInput, FileTtl, ImageEditInput, VideoEditInput,
    WaitOptions,
};
use serde_json::{Value, json};

use crate::args::{DemoArgs, Global};
use crate::fail::Failure;
use crate::interrupt;
use crate::media::{self, lookup};
use crate::output;
use crate::progress::{self, Progress};
use crate::realtime;
use crate::stream::{self, End, Plan};
use crate::video::{self, Container, FrameReader, FrameWriter, IvfHeader};

const IMAGE_MODEL: &str = "lucy-image-latest";
const VIDEO_MODEL: &str = "lucy-latest";
const STEPS: usize = 8;
const REALTIME_MODEL: &str = "lucy-2.1";
const REALTIME_PROMPT: &str = "a watercolor painting";
/// Frames the realtime step streams, and how fast (faster than real time: the emulator keeps
/// up, and the tour stays short).
const REALTIME_FRAMES: usize = 60;
const REALTIME_FPS: u32 = 120;
/// Status polls before a job completes, in the emulator the demo starts.
const DEMO_POLLS: u32 = 2;

/// Where the tour runs.
struct Target {
    /// The in-process emulator (`None` with `--live`).
    emulator: Option<Emulator>,
    client: Client,
    verifier: JwksVerifier,
}

/// The steps done so far, printed as they complete.
struct Tour {
    json: bool,
    steps: Vec<Value>,
    started: Instant,
}

impl Tour {
    fn done(&mut self, name: &str, elapsed: Duration, detail: String) -> Result<(), Failure> {
        self.record(name, elapsed, detail, false)
    }

    fn skipped(&mut self, name: &str, why: String) -> Result<(), Failure> {
        self.record(name, Duration::ZERO, why, true)
    }

    fn record(
        &mut self,
        name: &str,
        elapsed: Duration,
        detail: String,
        skipped: bool,
    ) -> Result<(), Failure> {
        let n = self.steps.len() + 1;
        if !self.json {
            let time = if skipped {
                "skipped".to_owned()
            } else {
                output::duration(elapsed)
            };
            output::line(format_args!("[{n}/{STEPS}] {name:<13} {time:>8}  {detail}"))?;
        }
        self.steps.push(json!({
            "step": name,
            "skipped": skipped,
            "ms": output::millis_f64(elapsed),
            "detail": detail,
        }));
        Ok(())
    }

    /// Runs one step, timing it and naming it in its error.
    fn step<T>(
        &mut self,
        name: &str,
        f: impl FnOnce() -> Result<(T, String), Failure>,
    ) -> Result<T, Failure> {
        let started = Instant::now();
        let n = self.steps.len() + 1;
        let (value, detail) =
            f().map_err(|e| e.context(&format!("demo step {n}/{STEPS} ({name})")))?;
        self.done(name, started.elapsed(), detail)?;
        Ok(value)
    }
}

/// A directory for the tour's files: the user's (kept), or a temporary one (removed).
struct Workdir {
    path: PathBuf,
    temporary: bool,
}

impl Workdir {
    fn new(dir: Option<PathBuf>) -> Result<Self, Failure> {
        let (path, temporary) = match dir {
            Some(d) => (d, false),
            None => {
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                let name = format!("decart-demo-{}-{nanos}", std::process::id());
                (std::env::temp_dir().join(name), true)
            }
        };
        std::fs::create_dir_all(&path).map_err(|e| {
            Failure::new(
                "IO_ERROR",
                format!("cannot create the directory {}: {e}", path.display()),
            )
        })?;
        Ok(Workdir { path, temporary })
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, Failure> {
        let path = self.file(name);
        std::fs::write(&path, bytes).map_err(|e| {
            Failure::new("IO_ERROR", format!("cannot write {}: {e}", path.display()))
        })?;
        Ok(path)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure::new("IO_ERROR", format!("cannot read {}: {e}", path.display())))
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The bytes of the generated stand-in video: an `ftyp` box, then a deterministic pattern.
/// Only the emulator accepts it.
fn fake_video() -> Vec<u8> {
    let mut v = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom".to_vec();
    v.extend((0..64 * 1024u32).map(|i| (i.wrapping_mul(31) % 251) as u8));
    v
}

/// The realtime step: [`REALTIME_FRAMES`] synthetic access units streamed through the
/// emulator, each checked to come back as the emulator's transform of the one sent.
fn realtime_step(client: &Client, dir: &Workdir) -> Result<((), String), Failure> {
    let model = lookup(ModelKind::Realtime, REALTIME_MODEL)?;
    let aus = video::synthetic_h264(REALTIME_FRAMES, 30);
    let input = dir.write("realtime-in.h264", &aus.concat())?;
    let mut reader = FrameReader::new(std::io::Cursor::new(aus.concat()))
        .map_err(|e| Failure::new("INVALID_INPUT", e.to_string()))?;
    let first = match reader.next_frame() {
        Ok(Some(frame)) => frame.data,
        _ => return Err(Failure::new("INVALID_INPUT", "no synthetic frame")),
    };
    let started = Instant::now();
    let options = RealtimeOptions::new()
        .initial_prompt(REALTIME_PROMPT, true)
        .video_codec(VideoCodec::H264);
    let mut session = client.realtime().connect(&model, options)?;
    let connect = started.elapsed();
    let mut out = FrameWriter::new(Vec::new(), Container::AnnexB, IvfHeader::default())
        .map_err(|e| Failure::new("IO_ERROR", e.to_string()))?;
    let plan = Plan {
        fps: REALTIME_FPS,
        limit: None,
        grace: stream::GRACE,
    };
    let (tally, end) = stream::run(
        &mut realtime::Live(&mut session),
        &mut reader,
        first,
        &mut out,
        plan,
        &CancelHandle::new(),
        &mut |_, _| {},
    );
    let session_id = session.session_id().to_owned();
    let closed = session.close();
    match end {
        End::Done => {}
        End::Session(e) => return Err(e.into()),
        other => {
            return Err(Failure::new(
                "REALTIME_ERROR",
                format!("the stream ended early: {other:?}"),
            ));
        }
    }
    closed?;
    let back = out
        .finish()
        .map_err(|e| Failure::new("IO_ERROR", e.to_string()))?;
    let output = dir.write("realtime-out.h264", &back)?;
    let mut frames = FrameReader::new(std::io::Cursor::new(back))
        .map_err(|e| Failure::new("REALTIME_ERROR", format!("the frames that came back: {e}")))?;
    let mut checked = 0;
    while let Some(frame) = frames
        .next_frame()
        .map_err(|e| Failure::new("REALTIME_ERROR", format!("the frames that came back: {e}")))?
    {
        let sent = aus
            .get(checked)
            .map(|au| emulator::transformed_frame(au, checked as u64, Some(REALTIME_PROMPT)));
        if sent.as_deref() != Some(&frame.data[..]) {
            return Err(Failure::new(
                "REALTIME_ERROR",
                format!(
                    "frame {} is not the emulator's transform of the frame sent",
                    checked + 1
                ),
            ));
        }
        checked += 1;
    }
    if checked != aus.len() {
        return Err(Failure::new(
            "REALTIME_ERROR",
            format!("{checked} of {} frames came back", aus.len()),
        ));
    }
    let rtt = tally
        .rtt_summary()
        .map_or_else(|| "unknown".to_owned(), |r| output::duration(r.median));
    let detail = format!(
        "{REALTIME_MODEL}: session {session_id}, connected in {}; {} -> {}: {} frames sent, {} back, \
         median round trip {rtt}, each checked",
        output::duration(connect),
        file_name(&input),
        file_name(&output),
        tally.frames_sent,
        tally.frames_received,
    );
    Ok(((), detail))
}

/// `decart demo [--live]`.
pub fn run(global: &Global, a: DemoArgs) -> Result<(), Failure> {
    // Ctrl-C ends the tour at once, except during the video wait, which it cancels cleanly.
    interrupt::install();
    let dir = Workdir::new(a.dir.clone())?;
    let image_model = lookup(ModelKind::Image, IMAGE_MODEL)?;
    let video_model = lookup(ModelKind::Video, VIDEO_MODEL)?;
    let started = Instant::now();
    let target = if a.live {
        let client = crate::client(global)?;
        let verifier = JwksVerifier::new()?;
        if !global.json {
            output::line(format_args!(
                "decart demo --live: the SDK's tour against {} (billed: one image edit{})",
                client.base_url(),
                if a.video.is_some() {
                    " and one video job"
                } else {
                    ""
                }
            ))?;
        }
        Target {
            emulator: None,
            client,
            verifier,
        }
    } else {
        let emu = Emulator::builder()
            .polls_before_completion(DEMO_POLLS)
            .start()?;
        let client = Client::builder()
            .api_key(emu.api_key())
            .base_url(emu.base_url())
            .integration(crate::INTEGRATION)
            .build()?;
        let verifier = JwksVerifier::builder()
            .jwks_url(emu.jwks_url())
            .options(
                VerifyOptions::new()
                    .issuer(emu.issuer())
                    .audience(emu.audience()),
            )
            .build()?;
        if !global.json {
            output::line(
                "decart demo: the SDK's tour against a local emulator (no API key, no network)",
            )?;
            output::line(format_args!(
                "emulator {} started in {} (key {})",
                emu.base_url(),
                output::duration(started.elapsed()),
                emu.api_key()
            ))?;
        }
        Target {
            emulator: Some(emu),
            client,
            verifier,
        }
    };
    let mut tour = Tour {
        json: global.json,
        steps: Vec::new(),
        started,
    };
    let local = target.emulator.is_some();
    let client = &target.client;

    // 1. A client token, scoped to the two models of the tour.
    let token = tour.step("tokens create", || {
        let options = CreateTokenOptions::new()
            .expires_in(600)
            .allowed_models([IMAGE_MODEL, VIDEO_MODEL])
            .metadata(json!({"service_tier": 2, "attribution": {"app": "decart-demo"}}));
        let token = client.tokens().create(&options)?;
        let jwt = match &token.token {
            Some(t) => format!("a signed JWT ({} bytes)", t.len()),
            None => "no JWT".to_owned(),
        };
        let detail = format!(
            "client key {} and {jwt}, expires {}",
            output::redacted(&token.api_key),
            token.expires_at
        );
        Ok((token, detail))
    })?;

    // 2. Its JWT, verified offline: the keys are fetched once, the check is local.
    match &token.token {
        Some(jwt) => tour.step("tokens verify", || {
            let v = target.verifier.verify(jwt.expose())?;
            if !v.allows_model(VIDEO_MODEL) || !v.allows_model(IMAGE_MODEL) {
                return Err(Failure::new(
                    "TOKEN_INVALID",
                    "the verified token does not carry the models it was created with",
                ));
            }
            let tier = v
                .service_tier()
                .map_or("no tier".to_owned(), |t| format!("tier {t}"));
            let detail = format!(
                "JWT verified offline with key {} from {}: user {}, {tier} ({} pool), models {}",
                v.kid(),
                target.verifier.jwks_url(),
                v.user_id(),
                v.pool().as_str(),
                output::list(v.allowed_models().unwrap_or_default(), "any")
            );
            Ok(((), detail))
        })?,
        None => tour.skipped("tokens verify", "skipped: the server issued no JWT".into())?,
    }

    // 3. An image edit.
    let image_in = match &a.image {
        Some(p) => {
            media::check_file("--image", p)?;
            p.clone()
        }
        None => dir.write("input.png", &crate::png::gradient(128, 96))?,
    };
    tour.step("image", || {
        let out = dir.file("edited.png");
        let input = ImageEditInput::new(
            "turn it into a watercolor painting",
            FileInput::path(&image_in),
        );
        let bytes = client.process().image_to_path(&image_model, input, &out)?;
        let input_len = std::fs::metadata(&image_in).map_or(0, |m| m.len());
        let mut detail = format!(
            "{IMAGE_MODEL}: {} ({}) -> {} ({})",
            file_name(&image_in),
            output::size(input_len),
            file_name(&out),
            output::size(bytes)
        );
        if local {
            if read(&out)? != emulator::expected_image_result(&read(&image_in)?) {
                return Err(Failure::new(
                    "PROCESSING_ERROR",
                    "the edited image is not the emulator's result for this input",
                ));
            }
            detail.push_str(", round trip checked");
        }
        Ok(((), detail))
    })?;

    // 4. A video job, waited for with progress (Ctrl-C cancels the wait).
    let video_in = match (&a.video, local) {
        (Some(p), _) => {
            media::check_file("--video", p)?;
            Some(p.clone())
        }
        (None, true) => Some(dir.write("input.mp4", &fake_video())?),
        (None, false) => None,
    };
    match video_in {
        Some(video_in) => tour.step("video", || {
            let out = dir.file("result.mp4");
            let cancel = CancelHandle::new();
            let guard = interrupt::cancel_on_interrupt(cancel.clone());
            let progress = Progress::start(
                progress::wanted(global),
                VIDEO_MODEL,
                "submitting",
                Instant::now(),
                None,
            );
            let updater = progress.updater();
            let history = Arc::new(Mutex::new(Vec::<String>::new()));
            let seen = Arc::clone(&history);
            let mut options = WaitOptions::new()
                .cancel_handle(cancel)
                .deadline(Some(Duration::from_secs(if local { 60 } else { 15 * 60 })))
                .on_status(move |s| {
                    updater.status(&s.job_id, s.state.as_str());
                    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                    if seen.last().map(String::as_str) != Some(s.state.as_str()) {
                        seen.push(s.state.to_string());
                    }
                });
            if local {
                options = options
                    .first_poll(Duration::from_millis(100))
                    .interval(Duration::from_millis(200));
            }
            let input =
                VideoEditInput::new("make it look like a 1950s film", FileInput::path(&video_in));
            let outcome = client.queue().submit_and_wait(&video_model, input, options);
            progress.finish();
            drop(guard);
            let job = outcome?;
            let bytes = client.queue().result_to_path(&job.job_id, &out)?;
            let statuses = history
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .join(" -> ");
            let mut detail = format!(
                "{VIDEO_MODEL}: job {}: {statuses} ({} polls); {} ({})",
                job.job_id,
                job.polls,
                file_name(&out),
                output::size(bytes)
            );
            if local {
                if read(&out)? != emulator::expected_video_result(&read(&video_in)?, None) {
                    return Err(Failure::new(
                        "QUEUE_RESULT_ERROR",
                        "the result is not the emulator's result for this input",
                    ));
                }
                detail.push_str(", round trip checked");
            }
            Ok(((), detail))
        })?,
        None => tour.skipped(
            "video",
            "skipped: pass --video FILE to run a (billed) video job".into(),
        )?,
    }

    // 5. A realtime session: synthetic H.264 frames there and back through the emulator.
    if local {
        tour.step("realtime", || realtime_step(client, &dir))?;
    } else {
        tour.skipped(
            "realtime",
            "skipped: stream a real H.264 video with `decart realtime MODEL -p P -i in.h264 -o out.h264`"
                .into(),
        )?;
    }

    // 6–8. A file: upload, get, delete.
    let file = tour.step("files upload", || {
        let file = client
            .files()
            .upload(FileInput::path(&image_in), Some(FileTtl::Seconds(3600)))?;
        let detail = format!(
            "{}: {} {}, {}, expires {}",
            file.id,
            file.filename.as_deref().unwrap_or("(no name)"),
            file.mime_type,
            output::size(file.size_bytes),
            file.expires_at.as_deref().unwrap_or("never")
        );
        Ok((file, detail))
    })?;
    tour.step("files get", || {
        let got = client.files().get(&file.id)?;
        if got.id != file.id || got.size_bytes != file.size_bytes {
            return Err(Failure::new(
                "FILES_GET_ERROR",
                format!("got {} back, not the file uploaded", got.id),
            ));
        }
        let detail = format!(
            "{}: same name, type and size ({})",
            got.id,
            output::size(got.size_bytes)
        );
        Ok(((), detail))
    })?;
    tour.step("files delete", || {
        client.files().delete(&file.id)?;
        let after = match client.files().get(&file.id) {
            Err(e) if e.status() == Some(404) => "a get now answers 404".to_owned(),
            Err(e) => format!("a get now fails: {e}"),
            Ok(_) if local => {
                return Err(Failure::new(
                    "FILES_DELETE_ERROR",
                    format!("{} is still there after its deletion", file.id),
                ));
            }
            Ok(_) => "the API still lists it for now".to_owned(),
        };
        Ok(((), format!("{}: deleted; {after}", file.id)))
    })?;

    let total = tour.started.elapsed();
    let ran = tour
        .steps
        .iter()
        .filter(|s| s["skipped"] == Value::Bool(false))
        .count();
    if global.json {
        output::json(&json!({
            "ok": true,
            "target": if local { "emulator" } else { "live" },
            "base_url": client.base_url(),
            "steps": tour.steps,
            "total_ms": output::millis(total),
            "dir": (!dir.temporary).then(|| dir.path.display().to_string()),
        }))?;
    } else {
        let kept = if dir.temporary {
            String::new()
        } else {
            format!("; files in {}", dir.path.display())
        };
        output::line(format_args!(
            "demo passed: {ran} of {STEPS} steps in {}{kept}",
            output::duration(total)
        ))?;
    }
    Ok(())
}
