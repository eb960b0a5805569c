//! The media leg of a session: a LiveKit participant that publishes one video track and
//! receives the inference server's, over str0m (sans-I/O WebRTC) on one std thread.
//!
//! The wire contract is section 4 of `docs/realtime-protocol.md`.

pub(crate) mod engine;
pub(crate) mod participant;
pub(crate) mod signal;

use std::fmt;
use std::time::Duration;

/// The codec of the published video track. Frames are sent and received **encoded**: an H.264
/// access unit in Annex B form (start codes), or a VP8 frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum VideoCodec {
    /// H.264, the default of both peer SDKs (Constrained Baseline or Baseline profile,
    /// packetization mode 1).
    #[default]
    H264,
    /// VP8 (what desktop Safari publishes in the JS SDK).
    Vp8,
}

impl VideoCodec {
    pub(crate) fn str0m(self) -> str0m::format::Codec {
        match self {
            VideoCodec::H264 => str0m::format::Codec::H264,
            VideoCodec::Vp8 => str0m::format::Codec::Vp8,
        }
    }

    /// The codec's name as LiveKit writes it (`h264`, `vp8`).
    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "h264",
            VideoCodec::Vp8 => "vp8",
        }
    }
}

/// One encoded video frame: an H.264 access unit (Annex B, with start codes) or a VP8 frame,
/// and its presentation time from the start of the stream.
///
/// Sent frames carry the caller's timestamps; received frames carry the sender's RTP time,
/// counted from the first frame received in the session.
#[derive(Clone, PartialEq, Eq)]
pub struct VideoFrame {
    data: Vec<u8>,
    timestamp: Duration,
}

impl VideoFrame {
    /// A frame of `data` at `timestamp` (from the start of the stream).
    pub fn new(data: impl Into<Vec<u8>>, timestamp: Duration) -> Self {
        VideoFrame {
            data: data.into(),
            timestamp,
        }
    }

    /// The encoded bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The encoded bytes, owned.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// The presentation time from the start of the stream.
    pub fn timestamp(&self) -> Duration {
        self.timestamp
    }
}

impl fmt::Debug for VideoFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VideoFrame")
            .field("bytes", &self.data.len())
            .field("timestamp", &self.timestamp)
            .finish()
    }
}

/// A frame that [`try_send_frame`](crate::blocking::RealtimeSession::try_send_frame) did not
/// queue, given back with the reason, so that a caller can retry it, re-encode or skip it
/// without having copied it first.
///
/// `?` turns it into the [`Error`](crate::Error) alone (the frame is dropped then).
///
/// ```no_run
/// # #[cfg(feature = "blocking")]
/// # fn f(
/// #     session: &mut decart::blocking::RealtimeSession,
/// #     mut frame: decart::realtime::VideoFrame,
/// # ) -> Result<(), decart::Error> {
/// // Offer the frame again while the media thread is behind; give up on anything else.
/// loop {
///     match session.try_send_frame(frame) {
///         Ok(()) => break,
///         Err(refused) if refused.is_backpressure() => {
///             std::thread::sleep(std::time::Duration::from_millis(2));
///             frame = refused.into_frame();
///         }
///         Err(refused) => return Err(refused.into()),
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub struct FrameRefused {
    error: crate::Error,
    frame: VideoFrame,
}

impl FrameRefused {
    pub(crate) fn new(error: crate::Error, frame: VideoFrame) -> Self {
        FrameRefused { error, frame }
    }

    /// Why the frame was not queued.
    pub fn error(&self) -> &crate::Error {
        &self.error
    }

    /// Whether it was only refused because [`MAX_QUEUED_FRAMES`] frames wait for the media
    /// thread: the session goes on, and the same frame may be offered again shortly.
    pub fn is_backpressure(&self) -> bool {
        matches!(&self.error, crate::Error::Realtime(e)
            if e.kind() == crate::realtime::RealtimeErrorKind::Backpressure)
    }

    /// The frame, unchanged.
    pub fn frame(&self) -> &VideoFrame {
        &self.frame
    }

    /// The frame back, unchanged.
    pub fn into_frame(self) -> VideoFrame {
        self.frame
    }

    /// The reason and the frame.
    pub fn into_parts(self) -> (crate::Error, VideoFrame) {
        (self.error, self.frame)
    }
}

impl fmt::Debug for FrameRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameRefused")
            .field("error", &self.error)
            .field("frame", &self.frame)
            .finish()
    }
}

impl fmt::Display for FrameRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the frame was not sent: {}", self.error)
    }
}

/// No `source`: `Display` already says the reason, and an error-chain printer would say it
/// twice. [`error`](FrameRefused::error) gives it.
impl std::error::Error for FrameRefused {}

impl From<FrameRefused> for crate::Error {
    fn from(refused: FrameRefused) -> Self {
        refused.error
    }
}

/// Counters of a session's media, from [`media_stats`](crate::blocking::RealtimeSession::media_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MediaStats {
    /// Frames handed to the session with `send_frame`.
    pub frames_sent: u64,
    /// Their bytes.
    pub bytes_sent: u64,
    /// Frames received from the inference server (handed out or waiting in the session).
    pub frames_received: u64,
    /// Their bytes.
    pub bytes_received: u64,
    /// Received frames dropped because more than [`MAX_BUFFERED_FRAMES`] waited unread.
    pub frames_dropped: u64,
}

/// Received frames kept for `next_frame`, at most; beyond that the oldest are dropped (and
/// counted in [`MediaStats::frames_dropped`]), so a session nobody reads from stays bounded.
pub const MAX_BUFFERED_FRAMES: usize = 300;

/// The largest frame `send_frame` takes: 8 MiB (a 4K keyframe is a few MiB). A larger one is
/// refused as invalid input, before anything is copied or sent.
pub const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;

/// Frames queued for the media thread, at most; `send_frame` fails with
/// [`Backpressure`](crate::realtime::RealtimeErrorKind::Backpressure) beyond.
pub const MAX_QUEUED_FRAMES: usize = 64;
