//! Cost per 1280×720 frame of the `openh264` feature's codec, against copying one I420 frame.
//!
//! `cargo bench --features openh264 --bench h264_codec`
//!
//! A moving synthetic pattern (a scrolling luma ramp, a moving square, chroma ramps) is encoded
//! with `H264Encoder` (default options: 30 fps, 2.5 Mbit/s, a keyframe every 60 frames), then
//! the encoded stream is decoded with `H264Decoder` (decoding includes the copy into an
//! `I420Picture`). Each is timed per frame after a warm-up, reported as median and p90, and
//! divided by the same run's median time to `memcpy` one I420 frame (1,382,400 bytes). The
//! RGB → I420 conversion (`I420Picture::from_rgb8`) is timed too. Pictures are made outside
//! the timed region. `H264_BENCH_FRAMES` sets the measured frames (default 150, at least 120
//! recommended); the warm-up is 30 frames.

use std::hint::black_box;
use std::time::{Duration, Instant};

use decart::realtime::VideoFrame;
use decart::realtime::codec::{EncoderOptions, H264Decoder, H264Encoder, I420Picture, is_keyframe};

const W: u32 = 1280;
const H: u32 = 720;
const WARMUP: usize = 30;

/// The same pattern as the unit tests: a diagonal luma ramp scrolling 6 px a frame, a flat
/// square moving across it, chroma ramps.
fn pattern(picture: &mut I420Picture, t: usize) {
    let (w, h) = (W as usize, H as usize);
    let [y, u, v] = picture.planes_mut();
    let (sx, sy) = ((40 + 12 * t) % (w - 160), (60 + 7 * t) % (h - 160));
    for row in 0..h {
        for col in 0..w {
            let ramp = (col + row / 2 + 6 * t) % 510;
            let mut luma = if ramp > 255 { 509 - ramp } else { ramp };
            luma = 16 + luma * 219 / 255;
            if (sx..sx + 160).contains(&col) && (sy..sy + 160).contains(&row) {
                luma = 220;
            }
            y[row * w + col] = luma as u8;
        }
    }
    for row in 0..h / 2 {
        for col in 0..w / 2 {
            u[row * (w / 2) + col] = (64 + (col + t) * 128 / (w / 2)) as u8;
            v[row * (w / 2) + col] = (64 + row * 128 / (h / 2)) as u8;
        }
    }
}

struct Stats {
    median: Duration,
    p90: Duration,
    n: usize,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort_unstable();
    let n = samples.len();
    Stats {
        median: samples[n / 2],
        p90: samples[(n * 9 / 10).min(n - 1)],
        n,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn nasm_on_path() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("nasm").is_file()))
}

fn main() {
    let frames: usize = std::env::var("H264_BENCH_FRAMES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150)
        .max(10);
    let total = WARMUP + frames;

    // Baseline: copy one I420 frame.
    let src = I420Picture::new(W, H).unwrap().into_vec();
    let mut dst = vec![0u8; src.len()];
    let mut copies = Vec::with_capacity(frames * 4);
    for i in 0..WARMUP + frames * 4 {
        let start = Instant::now();
        dst.copy_from_slice(black_box(&src));
        black_box(&mut dst);
        if i >= WARMUP {
            copies.push(start.elapsed());
        }
    }
    let copy = stats(copies);

    // RGB → I420.
    let rgb: Vec<u8> = (0..(W * H * 3) as usize)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let mut conversions = Vec::with_capacity(frames);
    for i in 0..total {
        let start = Instant::now();
        let picture = I420Picture::from_rgb8(W, H, black_box(&rgb)).unwrap();
        let elapsed = start.elapsed();
        black_box(picture);
        if i >= WARMUP {
            conversions.push(elapsed);
        }
    }
    let convert = stats(conversions);

    // Encode.
    let mut encoder = H264Encoder::new(W, H, EncoderOptions::new()).unwrap();
    let mut picture = I420Picture::new(W, H).unwrap();
    let mut encoded: Vec<VideoFrame> = Vec::with_capacity(total);
    let (mut encodes, mut key_encodes) = (Vec::new(), Vec::new());
    for t in 0..total {
        pattern(&mut picture, t);
        let timestamp = Duration::from_micros(t as u64 * 1_000_000 / 30);
        let start = Instant::now();
        let frame = encoder.encode(&picture, timestamp).unwrap();
        let elapsed = start.elapsed();
        if t >= WARMUP {
            encodes.push(elapsed);
            if is_keyframe(&frame) {
                key_encodes.push(elapsed);
            }
        }
        encoded.push(frame);
    }
    let encode = stats(encodes);
    let measured_bytes: usize = encoded[WARMUP..].iter().map(|f| f.data().len()).sum();

    // Decode the same stream, in order, from its first keyframe.
    let mut decoder = H264Decoder::new().unwrap();
    let mut decodes = Vec::with_capacity(frames);
    for (t, frame) in encoded.iter().enumerate() {
        let start = Instant::now();
        let out = decoder.decode(frame).unwrap();
        let elapsed = start.elapsed();
        assert!(out.is_some(), "frame {t} decoded to nothing");
        black_box(out);
        if t >= WARMUP {
            decodes.push(elapsed);
        }
    }
    let decode = stats(decodes);

    println!(
        "h264_codec: {W}×{H}, {frames} measured frames after {WARMUP} warm-up; nasm on PATH now: {}",
        if nasm_on_path() { "yes" } else { "no" }
    );
    println!(
        "encoded: {:.0} kbit/s at 30 fps (target 2500), {} keyframes in the measured frames\n",
        measured_bytes as f64 * 8.0 / (frames as f64 / 30.0) / 1e3,
        key_encodes.len()
    );
    println!(
        "| {:<36} | {:>10} | {:>10} | {:>14} | {:>5} |",
        "per frame", "median ms", "p90 ms", "median/memcpy", "n"
    );
    println!(
        "|{:-<38}|{:->12}|{:->12}|{:->16}|{:->7}|",
        "", "", "", "", ""
    );
    let row = |name: &str, s: &Stats| {
        println!(
            "| {:<36} | {:>10.3} | {:>10.3} | {:>13.0}× | {:>5} |",
            name,
            ms(s.median),
            ms(s.p90),
            s.median.as_secs_f64() / copy.median.as_secs_f64(),
            s.n
        );
    };
    row("memcpy one I420 frame (1.38 MB)", &copy);
    row("I420Picture::from_rgb8", &convert);
    row("H264Encoder::encode (all frames)", &encode);
    if !key_encodes.is_empty() {
        row("H264Encoder::encode (keyframes only)", &stats(key_encodes));
    }
    row("H264Decoder::decode (incl. copy out)", &decode);
    println!(
        "\nat 30 fps a frame has 33.3 ms: encode median uses {:.0}% of one core, decode {:.0}%",
        ms(encode.median) / 33.333 * 100.0,
        ms(decode.median) / 33.333 * 100.0
    );
}
