//! Realtime sessions on loopback against the emulator, per flavour, against a bare str0m
//! baseline measured in the same run:
//!
//! - **latency**: `connect` → first transformed frame, and the frame round trip (median, p99)
//!   over 300 frames sent at 30 fps;
//! - **soak**: CPU per frame and peak RSS of a session streaming at 30 fps for 60 s.
//!
//! `cargo bench --features realtime,emulator,blocking,async --bench realtime_media`
//!
//! Every session runs in a child process of its own; the emulator (the LiveKit room and the
//! inference stand-in) runs in the parent, so a child's CPU time (`getrusage(RUSAGE_SELF)`,
//! every thread of the process) and peak RSS are the client's alone. Frames are synthetic H.264
//! access units of a 3.3 Mbit/s stream: a 60 KB key frame every 30 frames, 12 KB otherwise.
//!
//! The baseline ("bare str0m") is the least a client must do for the same media: one str0m
//! peer connection on a std thread and its UDP socket, sending the same frames to a second
//! str0m peer in the same process that sends each one back; no signalling, no SDK. Its CPU is
//! that of the sending peer's thread alone (`RUSAGE_THREAD`), its RSS the whole child's.
//!
//! `DECART_BENCH_SOAK_SECS` (default 60) sets the soak's length, `DECART_BENCH_FRAMES`
//! (default 300) the latency run's frames.

mod support;

use std::process::Command;
use std::time::Duration;

const FPS: u32 = 30;

/// A synthetic access unit: SPS, PPS, IDR every 30 frames (60 KB), else one slice (12 KB).
pub fn access_unit(n: u32) -> Vec<u8> {
    let key = n % 30 == 0;
    let size = if key { 60_000 } else { 12_000 };
    let mut v = Vec::with_capacity(size);
    if key {
        v.extend_from_slice(&[
            0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8,
        ]);
        v.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x0f, 0xc8]);
        v.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88]);
    } else {
        v.extend_from_slice(&[0, 0, 0, 1, 0x41, 0x9a]);
    }
    v.resize(size, 0xab);
    v
}

mod blocking_child {
    use decart::blocking::Client;
    use maybe_async::must_be_sync as maybe_async;
    include!("support/rt_child.rs");
}

#[cfg(feature = "async")]
mod async_child {
    use decart::nonblocking::Client;
    use maybe_async::must_be_async as maybe_async;
    include!("support/rt_child.rs");
}

#[path = "support/bare_str0m.rs"]
mod bare;

/// What one streamed session measured.
pub struct Streamed {
    /// The `connect` call (for the baseline: the offer/answer in process).
    pub connect: Duration,
    /// From the start of `connect` to the first transformed frame.
    pub first_frame: Duration,
    /// Round trips of the frames that came back, matched by timestamp.
    pub rtts: Vec<Duration>,
    pub sent: u64,
    pub received: u64,
}

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a child reports, one line: kind, connect, first frame, median and p99 round trip (µs),
/// frames sent and received, CPU µs per frame, peak RSS KiB.
struct Report {
    connect_us: f64,
    first_us: f64,
    median_us: f64,
    p99_us: f64,
    sent: u64,
    received: u64,
    cpu_per_frame_us: f64,
    rss_kib: f64,
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn child(kind: &str, frames: u32, base_url: &str, key: &str) {
    let cpu0 = support::process_cpu();
    let (mut streamed, cpu) = match kind {
        "bare" => {
            let (s, cpu) = bare::stream(frames, FPS);
            (s, cpu)
        }
        "blocking" => (blocking_child::stream(base_url, key, frames, FPS), None),
        #[cfg(feature = "async")]
        "async" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            (
                rt.block_on(async_child::stream(base_url, key, frames, FPS)),
                None,
            )
        }
        other => panic!("unknown kind {other}"),
    };
    let cpu = cpu.or_else(|| support::process_cpu().zip(cpu0).map(|(b, a)| b - a));
    let median = percentile(&mut streamed.rtts, 0.5);
    let p99 = percentile(&mut streamed.rtts, 0.99);
    println!(
        "{} {} {} {} {} {} {} {}",
        streamed.connect.as_micros(),
        streamed.first_frame.as_micros(),
        median.as_micros(),
        p99.as_micros(),
        streamed.sent,
        streamed.received,
        cpu.map_or(-1.0, |c| c.as_secs_f64() * 1e6
            / streamed.sent.max(1) as f64),
        support::peak_rss_kib().unwrap_or(-1),
    );
}

fn measure(kind: &str, frames: u32, base_url: &str, key: &str) -> Report {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--child", kind, &frames.to_string(), base_url, key])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let f: Vec<f64> = line
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    Report {
        connect_us: f[0],
        first_us: f[1],
        median_us: f[2],
        p99_us: f[3],
        sent: f[4] as u64,
        received: f[5] as u64,
        cpu_per_frame_us: f[6],
        rss_kib: f[7],
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        let frames = args[pos + 2].parse().unwrap();
        child(&args[pos + 1], frames, &args[pos + 3], &args[pos + 4]);
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let emu = decart::emulator::Emulator::start().unwrap();
    let (url, key) = (emu.base_url().to_owned(), emu.api_key().to_owned());
    let mut kinds = vec!["bare", "blocking"];
    if cfg!(feature = "async") {
        kinds.push("async");
    }
    let frames = env_u32("DECART_BENCH_FRAMES", 300);
    let soak = env_u32("DECART_BENCH_SOAK_SECS", 60) * FPS;

    println!("latency: {frames} frames at {FPS} fps (ms; ratio to bare str0m in brackets)");
    println!(
        "{:<10} {:>10} {:>18} {:>14} {:>14} {:>10}",
        "kind", "connect", "to first frame", "rtt median", "rtt p99", "back"
    );
    let mut base = None;
    for kind in &kinds {
        let r = measure(kind, frames, &url, &key);
        let b = base.get_or_insert((r.first_us, r.median_us, r.p99_us));
        println!(
            "{:<10} {:>10.2} {:>9.2} [{:>5.2}×] {:>6.3} [{:>4.2}×] {:>6.3} [{:>4.2}×] {:>5}/{}",
            kind,
            r.connect_us / 1e3,
            r.first_us / 1e3,
            r.first_us / b.0,
            r.median_us / 1e3,
            r.median_us / b.1,
            r.p99_us / 1e3,
            r.p99_us / b.2,
            r.received,
            r.sent
        );
    }
    println!();
    println!("soak: {} s at {FPS} fps ({soak} frames)", soak / FPS);
    println!(
        "{:<10} {:>22} {:>22} {:>10}",
        "kind", "CPU µs/frame", "peak RSS MiB", "back"
    );
    let mut base = None;
    for kind in &kinds {
        let r = measure(kind, soak, &url, &key);
        let b = base.get_or_insert((r.cpu_per_frame_us, r.rss_kib));
        println!(
            "{:<10} {:>12.1} [{:>5.2}×] {:>12.1} [{:>5.2}×] {:>5}/{}",
            kind,
            r.cpu_per_frame_us,
            r.cpu_per_frame_us / b.0,
            r.rss_kib / 1024.0,
            r.rss_kib / b.1,
            r.received,
            r.sent
        );
    }
}
