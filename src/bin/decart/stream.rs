//! The streaming loop of `decart realtime`, on one thread: send each frame when it is due,
//! wait for the frames that come back until the next one is due, write them, keep the counts
//! and the round-trip times. The session is behind [`Session`], so that the loop is tested
//! here without a network.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use decart::CancelHandle;

use crate::output;
use crate::video::{FrameReader, FrameWriter, VideoError};

/// How long after the last frame sent the frames still on their way are waited for, at most.
pub const GRACE: Duration = Duration::from_secs(2);

/// How often the status is reported, at most (the status line redraws on each report).
pub const STATUS_EVERY: Duration = Duration::from_millis(100);

/// How long to wait before sending a frame again when the session's queue was full.
const FULL_RETRY: Duration = Duration::from_millis(5);

/// A received timestamp matches a sent one within this (RTP's 90 kHz clock rounds them).
const MATCH_TOLERANCE: Duration = Duration::from_millis(1);

/// Sent frames remembered for matching, at most (a server whose timestamps never match).
const MAX_IN_FLIGHT: usize = 10_000;

/// A realtime session as the loop uses it.
pub trait Session {
    /// Queues one frame; `Ok(false)` when the session's queue is full (try again later).
    fn send(&mut self, data: &[u8], timestamp: Duration) -> Result<bool, decart::Error>;

    /// The next frame that came back, waiting up to `timeout`.
    fn recv(&mut self, timeout: Duration) -> Result<Option<(Vec<u8>, Duration)>, decart::Error>;
}

/// How to stream.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Frames per second sent (the timestamps are `i / fps`).
    pub fps: u32,
    /// Stop sending once a frame's timestamp reaches this.
    pub limit: Option<Duration>,
    /// See [`GRACE`].
    pub grace: Duration,
}

impl Plan {
    /// The timestamp of frame `i` (from 0).
    pub fn timestamp(&self, i: u64) -> Duration {
        let nanos = u128::from(i) * 1_000_000_000 / u128::from(self.fps.max(1));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Whether frame `i` is within `--duration`.
    fn wanted(&self, i: u64) -> bool {
        self.limit.is_none_or(|limit| self.timestamp(i) < limit)
    }
}

/// Where the stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Frames are being sent.
    Sending,
    /// Every frame was sent; the last ones are on their way back.
    Draining,
}

/// What happened so far.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Frames handed to the session.
    pub frames_sent: u64,
    /// Their bytes.
    pub bytes_sent: u64,
    /// Frames that came back (all written to the output).
    pub frames_received: u64,
    /// Their bytes.
    pub bytes_received: u64,
    /// Round-trip times of the frames that came back with the timestamp of a frame sent.
    pub rtts: Vec<Duration>,
    /// When the first frame was sent.
    pub first_sent: Option<Instant>,
    /// When the first frame came back.
    pub first_received: Option<Instant>,
    /// When the loop ended.
    pub ended: Option<Instant>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally::new()
    }
}

impl Tally {
    /// Nothing yet.
    pub fn new() -> Self {
        Tally {
            frames_sent: 0,
            bytes_sent: 0,
            frames_received: 0,
            bytes_received: 0,
            rtts: Vec::new(),
            first_sent: None,
            first_received: None,
            ended: None,
        }
    }

    /// The last round-trip time measured.
    pub fn last_rtt(&self) -> Option<Duration> {
        self.rtts.last().copied()
    }

    /// The median, 99th percentile and maximum round-trip time (`None` when none matched).
    pub fn rtt_summary(&self) -> Option<RttSummary> {
        if self.rtts.is_empty() {
            return None;
        }
        let mut sorted = self.rtts.clone();
        sorted.sort_unstable();
        let at = |q: f64| {
            // Nearest rank.
            let rank = (q * sorted.len() as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1]
        };
        Some(RttSummary {
            median: at(0.5),
            p99: at(0.99),
            max: sorted[sorted.len() - 1],
        })
    }
}

/// Round-trip times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttSummary {
    /// The median.
    pub median: Duration,
    /// The 99th percentile (nearest rank).
    pub p99: Duration,
    /// The largest.
    pub max: Duration,
}

/// Why the loop ended.
#[derive(Debug)]
pub enum End {
    /// The input ended (or `--duration` was reached) and the frames came back, or the grace
    /// period passed.
    Done,
    /// Ctrl-C.
    Interrupted,
    /// The output's reader closed it (`-o -` into `head -c`, a player quit).
    OutputClosed,
    /// The session failed.
    Session(decart::Error),
    /// A frame of the input could not be read.
    Input(VideoError),
    /// A frame could not be written.
    Output(io::Error),
}

/// Matches the frames that come back with the frames sent, by timestamp.
#[derive(Debug, Default)]
struct InFlight {
    sent: VecDeque<(Duration, Instant)>,
}

impl InFlight {
    fn sent(&mut self, timestamp: Duration, at: Instant) {
        if self.sent.len() >= MAX_IN_FLIGHT {
            self.sent.pop_front();
        }
        self.sent.push_back((timestamp, at));
    }

    /// The round-trip time of a frame received at `at` with `timestamp`, if it was sent.
    fn received(&mut self, timestamp: Duration, at: Instant) -> Option<Duration> {
        // Frames sent before this one and not come back: lost (or not answered one for one).
        while let Some(&(ts, _)) = self.sent.front() {
            if ts + MATCH_TOLERANCE < timestamp {
                self.sent.pop_front();
            } else {
                break;
            }
        }
        match self.sent.front() {
            Some(&(ts, sent)) if ts.abs_diff(timestamp) <= MATCH_TOLERANCE => {
                self.sent.pop_front();
                Some(at.saturating_duration_since(sent))
            }
            _ => None,
        }
    }
}

/// Streams the frames of `input` (`first` already read from it) through `session` and writes
/// what comes back to `output`, until the input ends (or `plan.limit`), then waits for the
/// frames still on their way up to `plan.grace`. `status` is called at most every
/// [`STATUS_EVERY`]; `pts` gives the output timestamp of a received frame.
#[allow(clippy::too_many_arguments)]
pub fn run<S: Session, R: Read, W: Write>(
    session: &mut S,
    input: &mut FrameReader<R>,
    first: Vec<u8>,
    output: &mut FrameWriter<W>,
    plan: Plan,
    cancel: &CancelHandle,
    status: &mut dyn FnMut(&Tally, Phase),
) -> (Tally, End) {
    let mut tally = Tally::new();
    let end = stream(
        session, input, first, output, plan, cancel, status, &mut tally,
    );
    tally.ended = Some(Instant::now());
    (tally, end)
}

#[allow(clippy::too_many_arguments)]
fn stream<S: Session, R: Read, W: Write>(
    session: &mut S,
    input: &mut FrameReader<R>,
    first: Vec<u8>,
    output: &mut FrameWriter<W>,
    plan: Plan,
    cancel: &CancelHandle,
    status: &mut dyn FnMut(&Tally, Phase),
    tally: &mut Tally,
) -> End {
    let mut in_flight = InFlight::default();
    let mut next: Option<Vec<u8>> = plan.wanted(0).then_some(first);
    let mut index: u64 = 0;
    let started = Instant::now();
    let mut last_status: Option<Instant> = None;
    // When the last frame was sent (draining from then on).
    let mut drain_until = next.is_none().then(|| started + plan.grace);
    // A refused send ends the stream, after what had come back is taken and written.
    let mut send_failed: Option<decart::Error> = None;
    loop {
        if cancel.is_cancelled() {
            return End::Interrupted;
        }
        let now = Instant::now();
        let phase = if drain_until.is_some() {
            Phase::Draining
        } else {
            Phase::Sending
        };
        if last_status.is_none_or(|t| now >= t + STATUS_EVERY) {
            status(tally, phase);
            last_status = Some(now);
        }
        // Send the frame that is due.
        let due = started + plan.timestamp(index);
        let mut wait = match (&next, drain_until) {
            (Some(data), _) if now >= due => {
                let timestamp = plan.timestamp(index);
                match session.send(data, timestamp) {
                    Ok(true) => {
                        let sent_at = Instant::now();
                        tally.first_sent.get_or_insert(sent_at);
                        tally.frames_sent += 1;
                        tally.bytes_sent += data.len() as u64;
                        in_flight.sent(timestamp, sent_at);
                        index += 1;
                        next = None;
                        if plan.wanted(index) {
                            match input.next_frame() {
                                Ok(Some(frame)) => next = Some(frame.data),
                                Ok(None) => {}
                                Err(e) => return End::Input(e),
                            }
                        }
                        if next.is_none() {
                            drain_until = Some(Instant::now() + plan.grace);
                        }
                        Duration::ZERO
                    }
                    Ok(false) => FULL_RETRY,
                    Err(e) => {
                        send_failed = Some(e);
                        next = None;
                        drain_until = None;
                        Duration::ZERO
                    }
                }
            }
            (Some(_), _) => due - now,
            (None, Some(until)) => {
                if now >= until || tally.frames_received >= tally.frames_sent {
                    return End::Done;
                }
                until - now
            }
            (None, None) => Duration::ZERO,
        };
        // Keep the status and Ctrl-C responsive.
        wait = wait.min(STATUS_EVERY);
        match session.recv(wait) {
            Ok(Some((data, timestamp))) => {
                let at = Instant::now();
                tally.first_received.get_or_insert(at);
                tally.frames_received += 1;
                tally.bytes_received += data.len() as u64;
                if let Some(rtt) = in_flight.received(timestamp, at) {
                    tally.rtts.push(rtt);
                }
                let pts = (timestamp.as_secs_f64() * f64::from(plan.fps)).round() as u64;
                if let Err(e) = output.write_frame(&data, pts) {
                    return if e.kind() == io::ErrorKind::BrokenPipe {
                        End::OutputClosed
                    } else {
                        End::Output(e)
                    };
                }
            }
            Ok(None) => {
                if let Some(e) = send_failed.take() {
                    return End::Session(e);
                }
            }
            // The session's end (after a refused send, the same reason).
            Err(e) => return End::Session(send_failed.take().unwrap_or(e)),
        }
    }
}

/// Bytes per second sent and received over the last second or so, from samples of the
/// counters.
#[derive(Debug, Default)]
pub struct Rates {
    samples: VecDeque<(Instant, u64, u64)>,
}

impl Rates {
    /// Notes the counters at `at`; gives the rates in bits per second over the last second
    /// (`None` until two samples are at least 200 ms apart).
    pub fn sample(&mut self, at: Instant, sent: u64, received: u64) -> Option<(f64, f64)> {
        self.samples.push_back((at, sent, received));
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, ..)| at.saturating_duration_since(*t) >= Duration::from_secs(1))
        {
            self.samples.pop_front();
        }
        let &(t0, s0, r0) = self.samples.front()?;
        let span = at.saturating_duration_since(t0).as_secs_f64();
        if span < 0.2 {
            return None;
        }
        let rate = |a: u64, b: u64| b.saturating_sub(a) as f64 * 8.0 / span;
        Some((rate(s0, sent), rate(r0, received)))
    }
}

/// A bitrate for people: `950 kbit/s`, `1.2 Mbit/s`.
pub fn bitrate(bits_per_second: f64) -> String {
    if bits_per_second >= 1_000_000.0 {
        format!("{:.1} Mbit/s", bits_per_second / 1_000_000.0)
    } else {
        format!("{:.0} kbit/s", bits_per_second / 1000.0)
    }
}

/// The status shown on the progress line: `sent 120 · back 118 · rtt 45 ms · ↑ 1.2 Mbit/s
/// ↓ 1.1 Mbit/s`.
pub fn status_line(tally: &Tally, phase: Phase, rates: Option<(f64, f64)>) -> String {
    let mut line = format!(
        "sent {}{} · back {}",
        tally.frames_sent,
        if phase == Phase::Draining {
            " (all)"
        } else {
            ""
        },
        tally.frames_received
    );
    match tally.last_rtt() {
        Some(rtt) => line.push_str(&format!(" · rtt {}", output::duration(rtt))),
        None if tally.frames_received > 0 => line.push_str(" · rtt unknown"),
        None => {}
    }
    if let Some((up, down)) = rates {
        line.push_str(&format!(" · ↑ {} ↓ {}", bitrate(up), bitrate(down)));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::{Container, IvfHeader};
    use std::io::Cursor;

    /// A session that sends each frame back, `delay` later, with its data reversed, and
    /// optionally a full queue every `full_every` sends, or another timestamp.
    struct Echo {
        delay: Duration,
        waiting: VecDeque<(Instant, Vec<u8>, Duration)>,
        sends: u64,
        full_every: Option<u64>,
        shift: Duration,
        fail_after: Option<u64>,
    }

    impl Echo {
        fn new(delay: Duration) -> Self {
            Echo {
                delay,
                waiting: VecDeque::new(),
                sends: 0,
                full_every: None,
                shift: Duration::ZERO,
                fail_after: None,
            }
        }
    }

    impl Session for Echo {
        fn send(&mut self, data: &[u8], timestamp: Duration) -> Result<bool, decart::Error> {
            self.sends += 1;
            if self.full_every.is_some_and(|n| self.sends % n == 0) {
                return Ok(false);
            }
            if self.fail_after.is_some_and(|n| self.sends > n) {
                return Err(decart::Error::MissingApiKey);
            }
            let mut back = data.to_vec();
            back.reverse();
            self.waiting
                .push_back((Instant::now() + self.delay, back, timestamp + self.shift));
            Ok(true)
        }

        fn recv(
            &mut self,
            timeout: Duration,
        ) -> Result<Option<(Vec<u8>, Duration)>, decart::Error> {
            let deadline = Instant::now() + timeout;
            match self.waiting.front() {
                Some((at, ..)) if *at <= deadline => {
                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                    let (_, data, ts) = self.waiting.pop_front().unwrap();
                    Ok(Some((data, ts)))
                }
                _ => {
                    std::thread::sleep(timeout);
                    Ok(None)
                }
            }
        }
    }

    /// A reader, its first frame (read), and every access unit.
    type Input = (FrameReader<Cursor<Vec<u8>>>, Vec<u8>, Vec<Vec<u8>>);

    fn input(n: usize) -> Input {
        let aus = crate::video::synthetic_h264(n, 30);
        let mut reader = FrameReader::new(Cursor::new(aus.concat())).unwrap();
        let first = reader.next_frame().unwrap().unwrap().data;
        (reader, first, aus)
    }

    fn plan(fps: u32) -> Plan {
        Plan {
            fps,
            limit: None,
            grace: Duration::from_millis(500),
        }
    }

    fn go(
        session: &mut Echo,
        n: usize,
        plan: Plan,
        cancel: &CancelHandle,
    ) -> (Tally, End, Vec<u8>, Vec<Vec<u8>>, usize) {
        let (mut reader, first, aus) = input(n);
        let mut out =
            FrameWriter::new(Vec::new(), Container::AnnexB, IvfHeader::default()).unwrap();
        let mut reports = 0;
        let (tally, end) = run(
            session,
            &mut reader,
            first,
            &mut out,
            plan,
            cancel,
            &mut |_, _| reports += 1,
        );
        (tally, end, out.finish().unwrap(), aus, reports)
    }

    #[test]
    fn every_frame_goes_and_comes_back() {
        let mut echo = Echo::new(Duration::from_millis(3));
        let started = Instant::now();
        let (tally, end, out, aus, reports) = go(&mut echo, 20, plan(200), &CancelHandle::new());
        assert!(matches!(end, End::Done), "{end:?}");
        assert_eq!((tally.frames_sent, tally.frames_received), (20, 20));
        let expected: Vec<u8> = aus.iter().flat_map(|au| au.iter().rev().copied()).collect();
        assert_eq!(out, expected, "written in order");
        assert_eq!(tally.bytes_sent, aus.concat().len() as u64);
        assert_eq!(tally.rtts.len(), 20, "every timestamp matched");
        let rtt = tally.rtt_summary().unwrap();
        assert!(rtt.median >= Duration::from_millis(3), "{rtt:?}");
        assert!(rtt.median <= rtt.p99 && rtt.p99 <= rtt.max);
        // Paced: 20 frames at 200 fps take about 95 ms; no grace needed.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(95), "{took:?}");
        assert!(took < Duration::from_millis(450), "{took:?}");
        assert!(reports >= 1);
    }

    #[test]
    fn duration_cuts_the_stream() {
        let mut echo = Echo::new(Duration::ZERO);
        let plan = Plan {
            limit: Some(Duration::from_millis(100)),
            ..plan(100)
        };
        let (tally, end, ..) = go(&mut echo, 50, plan, &CancelHandle::new());
        assert!(matches!(end, End::Done));
        // Timestamps 0, 10, …, 90 ms.
        assert_eq!((tally.frames_sent, tally.frames_received), (10, 10));
    }

    #[test]
    fn a_full_queue_is_retried() {
        let mut echo = Echo::new(Duration::ZERO);
        echo.full_every = Some(3);
        let (tally, end, out, aus, _) = go(&mut echo, 12, plan(500), &CancelHandle::new());
        assert!(matches!(end, End::Done));
        assert_eq!(tally.frames_sent, 12, "nothing lost");
        assert_eq!(out.len(), aus.concat().len());
    }

    #[test]
    fn other_timestamps_leave_the_round_trip_unknown() {
        let mut echo = Echo::new(Duration::ZERO);
        echo.shift = Duration::from_millis(500);
        let (tally, end, ..) = go(&mut echo, 5, plan(500), &CancelHandle::new());
        assert!(matches!(end, End::Done));
        assert_eq!(tally.frames_received, 5);
        assert!(tally.rtt_summary().is_none());
        assert!(status_line(&tally, Phase::Draining, None).contains("rtt unknown"));
    }

    #[test]
    fn frames_that_never_come_back_end_after_the_grace() {
        let mut echo = Echo::new(Duration::from_secs(60));
        let plan = Plan {
            grace: Duration::from_millis(150),
            ..plan(1000)
        };
        let started = Instant::now();
        let (tally, end, out, ..) = go(&mut echo, 3, plan, &CancelHandle::new());
        assert!(matches!(end, End::Done));
        assert_eq!((tally.frames_sent, tally.frames_received), (3, 0));
        assert!(out.is_empty());
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn ctrl_c_and_session_errors_end_the_loop() {
        let cancel = CancelHandle::new();
        let stopper = cancel.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            stopper.cancel();
        });
        let mut echo = Echo::new(Duration::ZERO);
        let started = Instant::now();
        let (tally, end, ..) = go(&mut echo, 1000, plan(100), &cancel);
        t.join().unwrap();
        assert!(matches!(end, End::Interrupted), "{end:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(tally.frames_sent > 0 && tally.frames_sent < 1000);
        assert!(tally.ended.is_some());

        let mut echo = Echo::new(Duration::ZERO);
        echo.fail_after = Some(4);
        let (tally, end, ..) = go(&mut echo, 10, plan(1000), &CancelHandle::new());
        assert!(matches!(end, End::Session(_)), "{end:?}");
        assert_eq!(tally.frames_sent, 4);
        assert_eq!(tally.frames_received, 4, "what came back before is kept");
    }

    #[test]
    fn a_bad_frame_in_the_input_ends_the_loop() {
        let mut bytes = crate::video::synthetic_h264(3, 30).concat();
        bytes.extend_from_slice(b"\x00\x00\x01\xff");
        let mut reader = FrameReader::new(Cursor::new(bytes)).unwrap();
        let first = reader.next_frame().unwrap().unwrap().data;
        let mut out =
            FrameWriter::new(Vec::new(), Container::AnnexB, IvfHeader::default()).unwrap();
        let (tally, end) = run(
            &mut Echo::new(Duration::ZERO),
            &mut reader,
            first,
            &mut out,
            plan(1000),
            &CancelHandle::new(),
            &mut |_, _| {},
        );
        assert!(
            matches!(end, End::Input(VideoError::Invalid { .. })),
            "{end:?}"
        );
        assert_eq!(tally.frames_sent, 2);
    }

    #[test]
    fn timestamps_and_percentiles() {
        let p = plan(30);
        assert_eq!(p.timestamp(0), Duration::ZERO);
        assert_eq!(p.timestamp(3), Duration::from_millis(100));
        assert_eq!(plan(7).timestamp(7), Duration::from_secs(1));
        let mut t = Tally::new();
        t.rtts = (1..=100).rev().map(Duration::from_millis).collect();
        let s = t.rtt_summary().unwrap();
        assert_eq!(
            (s.median, s.p99, s.max),
            (
                Duration::from_millis(50),
                Duration::from_millis(99),
                Duration::from_millis(100)
            )
        );
        t.rtts = vec![Duration::from_millis(7)];
        let s = t.rtt_summary().unwrap();
        assert_eq!((s.median, s.p99, s.max), (s.max, s.max, s.max));
    }

    #[test]
    fn in_flight_matching() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let mut f = InFlight::default();
        for i in 0..5 {
            f.sent(ms(i * 33), now);
        }
        let later = now + ms(40);
        assert_eq!(f.received(ms(0), later), Some(ms(40)));
        // Frame 1 lost: frame 2 (66 ms, RTP-rounded to 66.0111) still matches.
        assert_eq!(
            f.received(ms(66) + Duration::from_micros(11), later),
            Some(ms(40))
        );
        assert_eq!(f.received(ms(500), later), None, "unknown timestamp");
        assert_eq!(
            f.received(ms(99), later),
            None,
            "everything before was dropped"
        );
    }

    #[test]
    fn status_lines_and_rates() {
        let mut t = Tally::new();
        assert_eq!(status_line(&t, Phase::Sending, None), "sent 0 · back 0");
        t.frames_sent = 120;
        t.frames_received = 118;
        t.rtts.push(Duration::from_millis(45));
        assert_eq!(
            status_line(&t, Phase::Draining, Some((1_234_567.0, 987_000.0))),
            "sent 120 (all) · back 118 · rtt 45 ms · ↑ 1.2 Mbit/s ↓ 987 kbit/s"
        );
        let start = Instant::now();
        let mut r = Rates::default();
        assert_eq!(r.sample(start, 0, 0), None);
        assert_eq!(r.sample(start + Duration::from_millis(100), 10, 10), None);
        let (up, down) = r
            .sample(start + Duration::from_millis(500), 125_000, 62_500)
            .unwrap();
        assert_eq!((up, down), (2_000_000.0, 1_000_000.0));
        // The window slides: only the last second or so counts.
        for i in 6..=30u64 {
            r.sample(start + Duration::from_millis(i * 100), 125_000, 62_500);
        }
        let (up, _) = r
            .sample(start + Duration::from_millis(3100), 250_000, 62_500)
            .unwrap();
        assert!((up - 1_000_000.0).abs() < 1.0, "{up}");
    }
}
