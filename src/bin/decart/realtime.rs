//! `decart realtime`: streams an encoded video file through a realtime session and writes the
//! frames that come back.
//!
//! The input is read and checked (container, codec, first frame) before anything is dialled;
//! the frames are sent paced at `--fps` with the timestamps `i / fps`; what comes back goes to
//! the output as it arrives (a file is written under a temporary name and renamed at the end).
//! The loop itself is [`crate::stream`].

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use decart::blocking::RealtimeSession;
use decart::realtime::{RealtimeErrorKind, RealtimeEvent, RealtimeOptions, VideoCodec, VideoFrame};
use decart::{CancelHandle, Model, ModelKind};
use serde_json::{Value, json};

use crate::args::{Global, RealtimeArgs};
use crate::fail::Failure;
use crate::interrupt;
use crate::media::{self, Dest};
use crate::output::{self, Report, StdoutSink};
use crate::progress::{self, Progress};
use crate::stream::{self, End, GRACE, Phase, Plan, Rates, Session, Tally};
use crate::video::{Codec, Container, FrameReader, FrameWriter, IvfHeader, VideoError};

/// Without a terminal, `-v` logs the status this often.
const LOG_EVERY: Duration = Duration::from_secs(2);

/// The input, as a reader of frames.
pub type Input = FrameReader<Box<dyn Read>>;

/// Opens `--input` (a path or `-`) and reads its first frame: a file that is not a video this
/// command streams is refused here, before any connection.
pub fn open_input(arg: &Path) -> Result<(Input, Vec<u8>), Failure> {
    let shown = arg.display().to_string();
    let reader: Box<dyn Read> = if arg == Path::new("-") {
        let stdin = io::stdin();
        if stdin.is_terminal() {
            return Err(Failure::new(
                "INVALID_INPUT",
                "--input -: stdin is a terminal; redirect a file into it (`< in.h264`)",
            ));
        }
        Box::new(stdin.lock())
    } else {
        media::check_file("--input", arg)?;
        let file = File::open(arg).map_err(|e| {
            Failure::new(
                "INVALID_INPUT",
                format!("--input: cannot read {shown}: {e}"),
            )
        })?;
        Box::new(file)
    };
    let mut frames = FrameReader::new(reader).map_err(|e| input_failure(&shown, e))?;
    let first = match frames.next_frame() {
        Ok(Some(frame)) => frame.data,
        Ok(None) => {
            return Err(Failure::new(
                "INVALID_INPUT",
                format!("--input {shown}: the file has no frame"),
            ));
        }
        Err(e) => return Err(input_failure(&shown, e)),
    };
    Ok((frames, first))
}

/// The failure of a bad input.
fn input_failure(shown: &str, e: VideoError) -> Failure {
    match e {
        VideoError::Io(e) => Failure::new("IO_ERROR", format!("--input {shown}: cannot read: {e}")),
        e => Failure::new("INVALID_INPUT", format!("--input {shown}: {e}")),
    }
}

/// The session codec for the input's codec.
fn session_codec(codec: Codec, input: &Path) -> Result<VideoCodec, Failure> {
    match codec {
        Codec::H264 => Ok(VideoCodec::H264),
        Codec::Vp8 => Ok(VideoCodec::Vp8),
        other => Err(Failure::new(
            "INVALID_INPUT",
            format!(
                "--input {}: {other} video cannot be streamed; realtime sessions take H.264 or VP8",
                input.display()
            ),
        )),
    }
}

/// A codec as reports name it: `H.264`, `VP8`.
fn codec_name(codec: VideoCodec) -> String {
    match codec {
        VideoCodec::H264 => "H.264".to_owned(),
        VideoCodec::Vp8 => "VP8".to_owned(),
        other => other.name().to_ascii_uppercase(),
    }
}

/// Where the frames that come back go: a temporary file renamed at the end, or stdout.
enum Out {
    File(BufWriter<File>),
    Stdout(StdoutSink),
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::File(f) => f.write(buf),
            // Frames go out as they come (a player may read them).
            Out::Stdout(s) => {
                s.write_all(buf)?;
                s.flush()?;
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::File(f) => f.flush(),
            Out::Stdout(s) => s.flush(),
        }
    }
}

/// The output being written.
struct Sink {
    writer: FrameWriter<Out>,
    /// The temporary file and the destination, for a file.
    paths: Option<(PathBuf, PathBuf)>,
    container: Container,
}

impl Sink {
    /// Opens the output: for a file, a temporary file beside it (so that nothing is replaced
    /// before frames come back, and a failure before any leaves nothing).
    fn open(dest: &Dest, container: Container, header: IvfHeader) -> Result<Sink, Failure> {
        let (out, paths) = match dest {
            Dest::Stdout => (Out::Stdout(StdoutSink::new()), None),
            Dest::Path(path) => {
                let part = part_path(path);
                let file = File::create(&part).map_err(|e| {
                    Failure::new(
                        "IO_ERROR",
                        format!("-o: cannot write {}: {e}", path.display()),
                    )
                })?;
                (
                    Out::File(BufWriter::new(file)),
                    Some((part, path.to_owned())),
                )
            }
        };
        let writer = FrameWriter::new(out, container, header).map_err(|e| write_failure(dest, &e));
        let writer = match writer {
            Ok(w) => w,
            Err(f) => {
                if let Some((part, _)) = &paths {
                    let _ = std::fs::remove_file(part);
                }
                return Err(f);
            }
        };
        Ok(Sink {
            writer,
            paths,
            container,
        })
    }

    /// Removes the temporary file.
    fn discard(self) {
        if let Some((part, _)) = &self.paths {
            let _ = std::fs::remove_file(part);
        }
    }

    /// Finishes the output: flushes it, writes the IVF frame count, renames the file into
    /// place. Gives the bytes written.
    fn finish(self, dest: &Dest) -> Result<u64, Failure> {
        let frames = self.writer.frames();
        let bytes = self.writer.bytes();
        let fail = |e: io::Error| write_failure(dest, &e);
        let out = self.writer.finish();
        match (out, self.paths) {
            (Ok(Out::File(file)), Some((part, path))) => {
                let done = file
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .and_then(|mut f| {
                        if self.container == Container::Ivf {
                            crate::video::patch_ivf_frame_count(&mut f, frames)?;
                        }
                        f.sync_all()
                    })
                    .and_then(|()| std::fs::rename(&part, &path));
                if let Err(e) = done {
                    let _ = std::fs::remove_file(&part);
                    return Err(fail(e));
                }
                Ok(bytes)
            }
            (Ok(_), _) => Ok(bytes),
            (Err(e), paths) => {
                if let Some((part, _)) = paths {
                    let _ = std::fs::remove_file(part);
                }
                if e.kind() == io::ErrorKind::BrokenPipe {
                    return Err(Failure::stdout_closed());
                }
                Err(fail(e))
            }
        }
    }
}

/// A temporary name beside `path`: `.NAME.PID-NANOS.part`.
fn part_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    path.with_file_name(format!(".{name}.{}-{nanos}.part", std::process::id()))
}

fn write_failure(dest: &Dest, e: &io::Error) -> Failure {
    match dest {
        Dest::Stdout => output::stdout_failure(e),
        Dest::Path(p) => Failure::new("IO_ERROR", format!("-o: cannot write {}: {e}", p.display())),
    }
}

/// The SDK's blocking session as the loop's [`Session`]. The session's events (queue
/// positions, generation progress) are taken as frames are, so that they do not pile up, and
/// logged.
pub struct Live<'a>(pub &'a mut RealtimeSession);

impl Live<'_> {
    /// Takes the events waiting, without waiting for more. An error is left for `next_frame`
    /// to report once the frames received before it are taken.
    fn drain_events(&mut self) {
        while let Ok(Some(event)) = self.0.next_event(Duration::ZERO) {
            match event {
                RealtimeEvent::QueuePosition {
                    position,
                    queue_size,
                } => {
                    log::debug!(
                        target: crate::LOG_TARGET,
                        "realtime: queued at position {position} of {queue_size}"
                    )
                }
                RealtimeEvent::GenerationEnded { seconds, reason } => {
                    log::warn!(
                        target: crate::LOG_TARGET,
                        "the server ended the generation after {seconds} s: {}",
                        if reason.is_empty() {
                            "no reason given"
                        } else {
                            &reason
                        }
                    )
                }
                other => log::debug!(target: crate::LOG_TARGET, "realtime: {other:?}"),
            }
        }
    }
}

impl Session for Live<'_> {
    fn send(&mut self, data: &[u8], timestamp: Duration) -> Result<bool, decart::Error> {
        match self.0.send_frame(VideoFrame::new(data.to_vec(), timestamp)) {
            Ok(()) => Ok(true),
            Err(decart::Error::Realtime(e)) if e.kind() == RealtimeErrorKind::Backpressure => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn recv(&mut self, timeout: Duration) -> Result<Option<(Vec<u8>, Duration)>, decart::Error> {
        let frame = self.0.next_frame(timeout)?;
        self.drain_events();
        Ok(frame.map(|frame| {
            let timestamp = frame.timestamp();
            (frame.into_data(), timestamp)
        }))
    }
}

/// What a stream did, for the report and `--json`.
struct Summary<'a> {
    model: &'a Model,
    session_id: String,
    tally: &'a Tally,
    frames_dropped: u64,
    fps: u32,
    connect: Duration,
    /// From the start of `connect` to the first frame back.
    first_frame: Option<Duration>,
    elapsed: Duration,
    /// The output and the bytes written (`None` when nothing was).
    output: Option<(String, u64)>,
    container: Container,
    codec: VideoCodec,
    interrupted: bool,
}

impl Summary<'_> {
    /// Seconds of video sent.
    fn duration_s(&self) -> f64 {
        let s = self.tally.frames_sent as f64 / f64::from(self.fps.max(1));
        (s * 1000.0).round() / 1000.0
    }

    fn json(&self) -> Value {
        let rtt = self.tally.rtt_summary().map(|r| {
            json!({
                "median": output::millis_f64(r.median),
                "p99": output::millis_f64(r.p99),
                "max": output::millis_f64(r.max),
            })
        });
        json!({
            "model": self.model.name(),
            "session_id": self.session_id,
            "codec": self.codec.name(),
            "fps": self.fps,
            "frames_sent": self.tally.frames_sent,
            "frames_received": self.tally.frames_received,
            "frames_dropped": self.frames_dropped,
            "bytes_sent": self.tally.bytes_sent,
            "bytes_received": self.tally.bytes_received,
            "duration_s": self.duration_s(),
            "connect_ms": output::millis(self.connect),
            "first_frame_ms": self.first_frame.map(output::millis),
            "rtt_ms": rtt,
            "elapsed_ms": output::millis(self.elapsed),
            "output": self.output.as_ref().map(|(name, _)| name),
            "interrupted": self.interrupted,
        })
    }

    fn report(&self) -> Report {
        let t = self.tally;
        let mut r = Report::new();
        r.row("model", self.model.name())
            .row("session", &self.session_id)
            .row(
                "sent",
                format!(
                    "{} frames ({}), {:.2} s of {} video at {} fps",
                    t.frames_sent,
                    output::size(t.bytes_sent),
                    self.duration_s(),
                    codec_name(self.codec),
                    self.fps
                ),
            )
            .row(
                "received",
                format!(
                    "{} frames ({}){}",
                    t.frames_received,
                    output::size(t.bytes_received),
                    if self.frames_dropped > 0 {
                        format!(", {} dropped unread", self.frames_dropped)
                    } else {
                        String::new()
                    }
                ),
            )
            .row(
                "connect",
                format!(
                    "{}; first frame back after {}",
                    output::duration(self.connect),
                    self.first_frame
                        .map_or_else(|| "none".to_owned(), output::duration)
                ),
            )
            .row(
                "round trip",
                match t.rtt_summary() {
                    Some(s) => format!(
                        "median {}, p99 {}, max {} ({} frames)",
                        output::duration(s.median),
                        output::duration(s.p99),
                        output::duration(s.max),
                        t.rtts.len()
                    ),
                    None if t.frames_received > 0 => {
                        "unknown (the frames came back with other timestamps)".to_owned()
                    }
                    None => "unknown".to_owned(),
                },
            )
            .row(
                "output",
                match &self.output {
                    Some((name, bytes)) => format!(
                        "{name} ({}, {})",
                        self.container.name(),
                        output::size(*bytes)
                    ),
                    None => "none (nothing came back)".to_owned(),
                },
            )
            .row("elapsed", output::duration(self.elapsed));
        r
    }
}

/// `decart realtime`.
pub fn run(global: &Global, a: RealtimeArgs) -> Result<(), Failure> {
    let model = media::lookup(ModelKind::Realtime, &a.model)?;
    let dest = Dest::new(global, &a.output)?;
    let container = Container::for_output(&a.output);
    let (mut input, first) = open_input(&a.input)?;
    let codec = session_codec(input.info().codec, &a.input)?;
    if codec != VideoCodec::H264 && container == Container::AnnexB {
        return Err(Failure::new(
            "INVALID_INPUT",
            format!(
                "-o: the frames come back as {}, which an IVF file holds: name the output *.ivf",
                codec_name(codec)
            ),
        ));
    }
    let fps = a.fps.unwrap_or(model.fps()).max(1);
    let size = input.info().size;
    let (width, height) = size.map_or((model.width(), model.height()), |(w, h)| {
        (u32::from(w), u32::from(h))
    });
    let header = IvfHeader {
        codec: match codec {
            VideoCodec::Vp8 => Codec::Vp8,
            _ => Codec::H264,
        },
        width: u16::try_from(width).unwrap_or(1280),
        height: u16::try_from(height).unwrap_or(720),
        timebase: (1, fps),
    };
    let mut options = RealtimeOptions::new()
        .initial_prompt(a.prompt.clone(), !a.no_enhance)
        .video_codec(codec)
        .retry(decart::realtime::default_realtime_retry().max_attempts(a.retries + 1));
    if let Some((w, h)) = size {
        options = options.video_size(u32::from(w), u32::from(h));
    }
    let client = crate::client(global)?;

    let cancel = CancelHandle::new();
    let guard = interrupt::cancel_on_interrupt(cancel.clone());
    let show = progress::wanted(global);
    let started = Instant::now();
    let progress = Progress::start(show, model.name(), "connecting", started, None);
    let connected = client.realtime().connect_with_retry(&model, options);
    let connect = started.elapsed();
    let mut session = match connected {
        Ok(s) => s,
        Err(e) => {
            progress.finish();
            return Err(e.into());
        }
    };
    // Opened now (a queue may be long) so that a second Ctrl-C, which ends the process at
    // once, leaves no temporary file behind during the connection.
    let mut sink = match Sink::open(&dest, container, header) {
        Ok(sink) => sink,
        Err(f) => {
            progress.finish();
            let _ = session.close();
            return Err(f);
        }
    };
    log::debug!(
        target: crate::LOG_TARGET,
        "realtime session {} connected in {}",
        session.session_id(),
        output::duration(connect)
    );

    let plan = Plan {
        fps,
        limit: a.duration,
        grace: GRACE,
    };
    let updater = progress.updater();
    let mut rates = Rates::default();
    let mut last_log: Option<Instant> = None;
    let name = model.name().to_owned();
    let mut on_status = |tally: &Tally, phase: Phase| {
        let now = Instant::now();
        let line = stream::status_line(
            tally,
            phase,
            rates.sample(now, tally.bytes_sent, tally.bytes_received),
        );
        if show {
            updater.status(&name, &line);
        } else if last_log.is_none_or(|t| now >= t + LOG_EVERY) {
            last_log = Some(now);
            log::debug!(target: crate::LOG_TARGET, "{name}: {line}");
        }
    };
    let (tally, end) = if cancel.is_cancelled() {
        // Ctrl-C during the connection.
        (Tally::default(), End::Interrupted)
    } else {
        stream::run(
            &mut Live(&mut session),
            &mut input,
            first,
            &mut sink.writer,
            plan,
            &cancel,
            &mut on_status,
        )
    };
    progress.finish();
    let frames_dropped = session.media_stats().frames_dropped;
    let session_id = session.session_id().to_owned();
    if let Err(e) = session.close() {
        log::debug!(
            target: crate::LOG_TARGET,
            "closing the session: {}",
            e.report()
        );
    }
    drop(guard);

    let first_frame = tally
        .first_received
        .map(|t| t.saturating_duration_since(started));
    let received = tally.frames_received;
    let written = match &end {
        End::OutputClosed => {
            sink.discard();
            return Err(Failure::stdout_closed());
        }
        End::Done => Some(sink.finish(&dest)?),
        // Ended early with nothing back: no output at all.
        _ if received == 0 => {
            sink.discard();
            None
        }
        _ => Some(sink.finish(&dest)?),
    };
    let kept = || match (&written, &dest) {
        (None, _) => String::new(),
        (Some(_), Dest::Stdout) => format!("; the {received} frames received went to stdout"),
        (Some(_), Dest::Path(p)) => {
            format!("; the {received} frames received are in {}", p.display())
        }
    };
    let interrupted = match end {
        End::Done => false,
        End::Interrupted => true,
        End::OutputClosed => unreachable!("handled above"),
        End::Session(e) => {
            return Err(Failure::from(e).context_after(&kept()));
        }
        End::Input(e) => {
            let shown = a.input.display().to_string();
            return Err(input_failure(&shown, e).context_after(&kept()));
        }
        End::Output(e) => return Err(write_failure(&dest, &e)),
    };
    let summary = Summary {
        model: &model,
        session_id,
        tally: &tally,
        frames_dropped,
        fps,
        connect,
        first_frame,
        elapsed: started.elapsed(),
        output: written.map(|bytes| (dest.display(), bytes)),
        container,
        codec,
        interrupted,
    };
    if global.json {
        output::json(&summary.json())?;
    } else if dest != Dest::Stdout {
        summary.report().print()?;
    }
    if interrupted {
        return Err(Failure::new(
            "CANCELLED",
            format!("interrupted: the stream was ended early{}", kept()),
        )
        .with_exit(crate::exit::EXIT_INTERRUPTED));
    }
    Ok(())
}
