//! H.264 encoding and decoding for realtime frames (feature `openh264`).
//!
//! A realtime session sends and receives **encoded** [`VideoFrame`]s: one H.264 access unit in
//! Annex B form each. This module turns raw pictures into such frames and back, with Cisco's
//! OpenH264 compiled from source into your program:
//!
//! - [`I420Picture`]: a raw picture in planar YUV 4:2:0, from a buffer, three planes with
//!   strides, or packed RGB / RGBA / BGRA;
//! - [`H264Encoder`]: pictures in, one access unit out per picture (Constrained Baseline,
//!   what the session's track announces), with SPS and PPS before every keyframe and a keyframe
//!   on demand ([`H264Encoder::force_keyframe`]);
//! - [`H264Decoder`]: access units in, pictures out;
//! - [`is_keyframe`]: whether a frame carries an IDR picture (where a decoder can start).
//!
//! ```no_run
//! # #[cfg(feature = "blocking")]
//! # fn main() -> Result<(), decart::Error> {
//! use std::time::Duration;
//! use decart::realtime::RealtimeOptions;
//! use decart::realtime::codec::{EncoderOptions, H264Decoder, H264Encoder, I420Picture};
//!
//! let client = decart::Client::from_env()?;
//! let model = decart::models::realtime("lucy-2.1")?;
//! let mut session = client
//!     .realtime()
//!     .connect(&model, RealtimeOptions::new().initial_prompt("a watercolor painting", true))?;
//!
//! let mut encoder = H264Encoder::new(1280, 720, EncoderOptions::new().fps(30.0))?;
//! let mut decoder = H264Decoder::new()?;
//! for i in 0..300u32 {
//!     let rgb = vec![0u8; 1280 * 720 * 3]; // your camera's picture
//!     let picture = I420Picture::from_rgb8(1280, 720, &rgb)?;
//!     let timestamp = Duration::from_millis(u64::from(i) * 1000 / 30);
//!     session.send_frame(encoder.encode(&picture, timestamp)?)?;
//!
//!     while let Some(frame) = session.next_frame(Duration::ZERO)? {
//!         match decoder.decode(&frame) {
//!             Ok(Some(generated)) => println!("{}×{}", generated.width(), generated.height()),
//!             Ok(None) => {}
//!             // A damaged or undecodable frame: skip it, the next keyframe resynchronises.
//!             Err(e) => eprintln!("skipped a frame: {e}"),
//!         }
//!     }
//! }
//! session.close()?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "blocking"))] fn main() {}
//! ```
//!
//! # Build
//!
//! OpenH264 comes from the source bundled in the `openh264-sys2` crate, compiled with the C++
//! compiler `cc` finds (its build script takes some 40 s of a core, once, and a C++ compiler
//! must be installed); nothing is downloaded and no prebuilt library is linked. When `nasm` is on the `PATH` at build time its x86 assembly
//! kernels are compiled in (faster encoding); without it the build silently falls back to C.
//! Set `OPENH264_NO_ASM=1` to force the C build.
//!
//! # Patents and licences
//!
//! The OpenH264 source is BSD-2-Clause. H.264 itself is covered by patents (the MPEG LA / Via LA
//! AVC pool) in some countries. Cisco pays the pool's royalties only for **its own prebuilt
//! binary**, downloaded by the end user from Cisco; a library compiled from source, as this
//! feature does, is not covered by that. Whether you need a licence for your product is your
//! call (and your lawyer's): the feature is off by default for this reason.
//!
//! # Errors
//!
//! Every failure is an [`Error::InvalidInput`] (code
//! `INVALID_INPUT`) naming what was wrong: a bad size, stride, buffer, option or timestamp, a
//! picture of the wrong size for its encoder, or a frame the decoder cannot decode (with
//! OpenH264's decoding state in words). Nothing here panics on bad input.

mod picture;

pub use picture::{I420Picture, MAX_PICTURE_SIDE};

use std::fmt;
use std::time::Duration;

use openh264::Timestamp;
use openh264::decoder::Decoder;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, RateControlMode, UsageType,
};
use openh264::formats::YUVSource;

use super::VideoFrame;
use crate::Error;

/// The largest picture the encoder takes: 3840×2160, or 2160×3840 (OpenH264's limit, H.264
/// level 5.2).
pub const MAX_ENCODE_SIZE: (u32, u32) = (3840, 2160);

/// Settings of an [`H264Encoder`].
///
/// The defaults suit the realtime models (1280×720 at 30 fps): 30 fps, 2.5 Mbit/s, a keyframe
/// every 60 frames (2 s at 30 fps; a receiver that lost a frame, or joined late, recovers at
/// the next one).
///
/// ```
/// use decart::realtime::codec::EncoderOptions;
///
/// let options = EncoderOptions::new().fps(25.0).bitrate(1_500_000).keyframe_interval(50);
/// assert_eq!(options.get_bitrate(), 1_500_000);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderOptions {
    fps: f32,
    bitrate: u32,
    keyframe_interval: u32,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            fps: 30.0,
            bitrate: 2_500_000,
            keyframe_interval: 60,
        }
    }
}

impl EncoderOptions {
    /// The defaults: 30 fps, 2.5 Mbit/s, a keyframe every 60 frames.
    pub fn new() -> Self {
        Self::default()
    }

    /// The frame rate the rate control plans for, 1 to 60 (default 30). The timestamps given
    /// to [`H264Encoder::encode`] drive the rate control too.
    pub fn fps(mut self, fps: f32) -> Self {
        self.fps = fps;
        self
    }

    /// The target bitrate in bits per second, above 0 and at most 2³¹ − 1 (default 2.5 Mbit/s).
    ///
    /// The rate control meets it by raising the quantiser, never by skipping frames: every
    /// picture yields an access unit, and very complex content can overshoot. (OpenH264 says so
    /// in one warning line on standard error when an encoder starts.)
    pub fn bitrate(mut self, bits_per_second: u32) -> Self {
        self.bitrate = bits_per_second;
        self
    }

    /// A keyframe every this many frames (default 60); 0 for none but the first and those asked
    /// for with [`H264Encoder::force_keyframe`].
    pub fn keyframe_interval(mut self, frames: u32) -> Self {
        self.keyframe_interval = frames;
        self
    }

    /// The frame rate.
    pub fn get_fps(&self) -> f32 {
        self.fps
    }

    /// The target bitrate in bits per second.
    pub fn get_bitrate(&self) -> u32 {
        self.bitrate
    }

    /// The keyframe interval in frames (0: on demand only).
    pub fn get_keyframe_interval(&self) -> u32 {
        self.keyframe_interval
    }

    fn check(&self) -> Result<(), Error> {
        if !(self.fps.is_finite() && (1.0..=60.0).contains(&self.fps)) {
            return Err(Error::invalid_input(
                "fps",
                format!("must be between 1 and 60, got {}", self.fps),
            ));
        }
        if self.bitrate == 0 || self.bitrate > i32::MAX as u32 {
            return Err(Error::invalid_input(
                "bitrate",
                format!(
                    "must be between 1 and 2^31 - 1 bits per second, got {}",
                    self.bitrate
                ),
            ));
        }
        Ok(())
    }
}

/// An H.264 encoder for one stream of same-sized [`I420Picture`]s (OpenH264, Constrained
/// Baseline, one slice a frame, single-threaded, no frame skipping).
///
/// Each call to [`encode`](Self::encode) returns one access unit in Annex B form (4-byte start
/// codes), ready for a session's `send_frame`. The first frame, every
/// [`keyframe_interval`](EncoderOptions::keyframe_interval)-th frame and the frame after
/// [`force_keyframe`](Self::force_keyframe) are IDR keyframes preceded by their SPS and PPS.
///
/// The encoder is `Send` (move it to the thread that captures), not meant to be shared.
///
/// ```
/// use std::time::Duration;
/// use decart::realtime::codec::{EncoderOptions, H264Decoder, H264Encoder, I420Picture, is_keyframe};
///
/// let mut encoder = H264Encoder::new(320, 240, EncoderOptions::new())?;
/// let frame = encoder.encode(&I420Picture::new(320, 240)?, Duration::ZERO)?;
/// assert!(is_keyframe(&frame));
///
/// let mut decoder = H264Decoder::new()?;
/// let picture = decoder.decode(&frame)?.expect("a keyframe decodes at once");
/// assert_eq!((picture.width(), picture.height()), (320, 240));
/// # Ok::<(), decart::Error>(())
/// ```
pub struct H264Encoder {
    inner: Encoder,
    width: u32,
    height: u32,
    options: EncoderOptions,
    frames: u64,
}

impl H264Encoder {
    /// An encoder for `width × height` pictures.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the size is odd, zero or beyond [`MAX_ENCODE_SIZE`] (either
    /// orientation), the frame rate is not within 1–60, the bitrate is 0 or above 2³¹ − 1, or
    /// OpenH264 cannot make an encoder.
    pub fn new(width: u32, height: u32, options: EncoderOptions) -> Result<Self, Error> {
        picture::check_size(width, height)?;
        let (long, short) = (width.max(height), width.min(height));
        if long > MAX_ENCODE_SIZE.0 || short > MAX_ENCODE_SIZE.1 {
            return Err(Error::invalid_input(
                if width >= height { "width" } else { "height" },
                format!("the encoder takes at most 3840×2160 or 2160×3840, got {width}×{height}"),
            ));
        }
        options.check()?;
        let config = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(options.bitrate))
            .max_frame_rate(FrameRate::from_hz(options.fps))
            .skip_frames(false)
            .scene_change_detect(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(options.keyframe_interval))
            .num_threads(1);
        let api = openh264::OpenH264API::from_source();
        let inner = Encoder::with_api_config(api, config).map_err(|e| {
            Error::invalid_input(
                "options",
                format!("OpenH264 could not make an encoder ({})", native(&e)),
            )
        })?;
        Ok(H264Encoder {
            inner,
            width,
            height,
            options,
            frames: 0,
        })
    }

    /// Encodes one picture into one access unit (Annex B) stamped with `timestamp`, the
    /// picture's time from the start of the stream (the rate control reads it at millisecond
    /// precision; it should grow from frame to frame).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`]: field `picture` when its size is not the encoder's, or when
    /// OpenH264 fails to encode it (with its error code); field `timestamp` beyond 2⁶³ − 1 ms.
    pub fn encode(
        &mut self,
        picture: &I420Picture,
        timestamp: Duration,
    ) -> Result<VideoFrame, Error> {
        if (picture.width(), picture.height()) != (self.width, self.height) {
            return Err(Error::invalid_input(
                "picture",
                format!(
                    "is {}×{}, the encoder was made for {}×{}",
                    picture.width(),
                    picture.height(),
                    self.width,
                    self.height
                ),
            ));
        }
        let millis = u64::try_from(timestamp.as_millis())
            .ok()
            .filter(|&ms| i64::try_from(ms).is_ok())
            .ok_or_else(|| Error::invalid_input("timestamp", "must be below 2^63 ms"))?;
        let stream = self
            .inner
            .encode_at(&Source(picture), Timestamp::from_millis(millis))
            .map_err(|e| {
                Error::invalid_input(
                    "picture",
                    format!("OpenH264 could not encode it ({})", native(&e)),
                )
            })?;
        let mut data = Vec::new();
        stream.write_vec(&mut data);
        if data.is_empty() {
            // Frame skipping is off, so OpenH264 has no reason to skip; say so if it does.
            return Err(Error::invalid_input(
                "picture",
                "OpenH264 skipped it (produced no access unit)",
            ));
        }
        self.frames += 1;
        Ok(VideoFrame::new(data, timestamp))
    }

    /// Makes the next encoded frame an IDR keyframe (with SPS and PPS), for a receiver that
    /// lost frames or joined late. The first frame is one anyway.
    pub fn force_keyframe(&mut self) {
        // Before the first frame OpenH264 is not initialised yet, and the first frame is an
        // IDR frame whatever is asked.
        if self.frames > 0 {
            self.inner.force_intra_frame();
        }
    }

    /// The picture width this encoder takes.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// The picture height this encoder takes.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The settings it was made with.
    pub fn options(&self) -> &EncoderOptions {
        &self.options
    }

    /// Frames encoded so far.
    pub fn frames_encoded(&self) -> u64 {
        self.frames
    }
}

impl fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H264Encoder")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("options", &self.options)
            .field("frames", &self.frames)
            .finish()
    }
}

/// An H.264 decoder (OpenH264): access units in, [`I420Picture`]s out.
///
/// It decodes what OpenH264 decodes: Constrained Baseline, what WebRTC peers send, is the
/// profile OpenH264 documents; progressive Main and High streams (CABAC) mostly decode too,
/// interlaced ones do not. Frames must come in decoding order, and decoding can only start at
/// a keyframe ([`is_keyframe`]); after a frame it could not decode, skip frames until the next
/// keyframe. The decoder is `Send`.
pub struct H264Decoder {
    inner: Decoder,
    frames: u64,
}

impl H264Decoder {
    /// A decoder.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `decoder`) in the unlikely case that OpenH264 cannot make
    /// one.
    pub fn new() -> Result<Self, Error> {
        let inner = Decoder::new().map_err(|e| {
            Error::invalid_input(
                "decoder",
                format!("OpenH264 could not make a decoder ({})", native(&e)),
            )
        })?;
        Ok(H264Decoder { inner, frames: 0 })
    }

    /// Decodes one access unit (Annex B, start codes included) into a packed picture;
    /// `Ok(None)` when the frame completes no picture (parameter sets alone, for instance).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `frame`) when the frame is empty, does not start with an
    /// Annex B start code, is larger than 2³¹ − 1 bytes, or cannot be decoded: damaged, a
    /// delta frame whose reference is missing, a frame before the first keyframe. The message
    /// carries OpenH264's decoding state in words. The decoder stays usable: feed it the next
    /// keyframe.
    pub fn decode(&mut self, frame: &VideoFrame) -> Result<Option<I420Picture>, Error> {
        let data = frame.data();
        if data.is_empty() {
            return Err(Error::invalid_input("frame", "a frame has no bytes"));
        }
        if !(data.starts_with(&[0, 0, 1]) || data.starts_with(&[0, 0, 0, 1])) {
            return Err(Error::invalid_input(
                "frame",
                "is not H.264 in Annex B form (it does not start with a 00 00 01 start code)",
            ));
        }
        if i32::try_from(data.len()).is_err() {
            return Err(Error::invalid_input(
                "frame",
                "is larger than 2^31 - 1 bytes",
            ));
        }
        let decoded = self.inner.decode(data).map_err(|e| {
            Error::invalid_input(
                "frame",
                format!(
                    "OpenH264 could not decode it: {}",
                    decoding_state(e.native_code())
                ),
            )
        })?;
        let Some(yuv) = decoded else {
            return Ok(None);
        };
        let (width, height) = yuv.dimensions();
        let (sy, su, sv) = yuv.strides();
        let planes = [yuv.y(), yuv.u(), yuv.v()];
        let size = (u32::try_from(width), u32::try_from(height));
        let (Ok(width), Ok(height)) = size else {
            return Err(Error::invalid_input(
                "frame",
                "decoded to an impossible size",
            ));
        };
        let picture =
            I420Picture::from_planes(width, height, planes, [sy, su, sv]).map_err(|e| match e {
                Error::InvalidInput { message, .. } => Error::invalid_input(
                    "frame",
                    format!("decoded to a picture this SDK cannot hold: {message}"),
                ),
                other => other,
            })?;
        self.frames += 1;
        Ok(Some(picture))
    }

    /// Pictures decoded so far.
    pub fn frames_decoded(&self) -> u64 {
        self.frames
    }
}

impl fmt::Debug for H264Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H264Decoder")
            .field("frames", &self.frames)
            .finish()
    }
}

/// Whether an H.264 access unit (Annex B) carries an IDR picture (a NAL unit of type 5), where
/// a decoder can start or resynchronise. Frames of other codecs, or bytes that are not Annex
/// B, answer `false`.
pub fn is_keyframe(frame: &VideoFrame) -> bool {
    nal_unit_types(frame.data()).any(|t| t == 5)
}

/// The types (the low 5 bits of the first byte) of the NAL units of an Annex B stream.
pub(crate) fn nal_unit_types(data: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut rest = data;
    std::iter::from_fn(move || {
        loop {
            let at = rest.windows(3).position(|w| w == [0, 0, 1])?;
            rest = &rest[at + 3..];
            if let Some(&header) = rest.first() {
                return Some(header & 0x1f);
            }
        }
    })
}

/// An OpenH264 encoder error in words (its native code).
fn native(e: &openh264::Error) -> String {
    match e.native_code() {
        0 => "no error code".to_owned(),
        code => format!("error code {code}"),
    }
}

/// OpenH264's decoding state (a bit set, `DECODING_STATE` in `codec_app_def.h`) in words.
fn decoding_state(code: i64) -> String {
    const STATES: [(i64, &str); 11] = [
        (0x01, "frame pending"),
        (0x02, "reference lost"),
        (0x04, "bitstream error"),
        (0x08, "dependent layer lost"),
        (0x10, "no parameter sets (SPS/PPS) yet"),
        (0x20, "data error concealed"),
        (0x40, "reference list has null entries"),
        (0x1000, "invalid argument"),
        (0x2000, "decoder not initialised"),
        (0x4000, "out of memory"),
        (0x8000, "destination buffer too small"),
    ];
    let words: Vec<&str> = STATES
        .iter()
        .filter(|(bit, _)| code & bit != 0)
        .map(|(_, word)| *word)
        .collect();
    if words.is_empty() {
        format!("decoding state {code:#x}")
    } else {
        format!("{} (decoding state {code:#x})", words.join(", "))
    }
}

/// An [`I420Picture`] as OpenH264's encoder reads it (kept private so that no OpenH264 type or
/// trait shows in this crate's API).
struct Source<'a>(&'a I420Picture);

impl YUVSource for Source<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width() as usize, self.0.height() as usize)
    }

    fn strides(&self) -> (usize, usize, usize) {
        let [y, u, v] = self.0.strides();
        (y, u, v)
    }

    fn y(&self) -> &[u8] {
        self.0.y()
    }

    fn u(&self) -> &[u8] {
        self.0.u()
    }

    fn v(&self) -> &[u8] {
        self.0.v()
    }
}

#[cfg(test)]
mod tests;
