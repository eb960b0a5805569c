//! Encoded video files as a sequence of frames, for `decart realtime`: H.264 Annex B
//! elementary streams (`.h264`, `.264`) and IVF files (VP8, VP9, AV1 or H.264 frames), read
//! and written as a stream.
//!
//! Reading never holds more than one frame and a read-ahead chunk: a [`FrameReader`] reads an
//! `impl Read` as it goes, and refuses (with a [`VideoError`], never a panic) a file that is
//! neither container, a truncated IVF file, a frame over [`MAX_FRAME`] bytes, or an H.264
//! stream with no coded picture.
//!
//! - **Annex B**: NAL units are split on start codes (`00 00 01`, or `00 00 00 01`) and grouped
//!   into access units the way H.264 (7.4.1.2.3) draws the line: a new one starts at an access
//!   unit delimiter (type 9), at an SEI, SPS or PPS (6, 7, 8) or types 14–18 after a slice, or
//!   at the first slice of a picture (types 1, 2, 5 with `first_mb_in_slice` 0) after a
//!   slice. A frame's bytes are the input's bytes, start codes included, so that writing the
//!   frames back one after the other gives the stream again. A frame with an IDR slice
//!   (type 5) is a keyframe.
//! - **IVF**: the 32-byte `DKIF` header (its fourcc names the codec, with the size and the
//!   time base), then frames of a 12-byte header (size, timestamp) and their bytes.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The largest frame (an access unit, or an IVF frame) read or accepted: 8 MiB, the most a
/// session sends ([`decart::realtime::MAX_FRAME_BYTES`]).
pub const MAX_FRAME: usize = decart::realtime::MAX_FRAME_BYTES;

/// How much is read from the input at a time.
const CHUNK: usize = 64 * 1024;

/// The IVF signature.
const DKIF: &[u8; 4] = b"DKIF";
/// The length of an IVF file header and of a frame header.
const IVF_HEADER: usize = 32;
const IVF_FRAME_HEADER: usize = 12;

/// Why a video file cannot be read. Each says where (frame number, byte offset) when it can.
#[derive(Debug)]
pub enum VideoError {
    /// Reading the input failed.
    Io(io::Error),
    /// The input has no bytes at all.
    Empty,
    /// Neither an IVF file nor an Annex B stream.
    Unrecognized {
        /// What the first bytes look like (`MP4`, …), when they are known.
        looks_like: Option<&'static str>,
    },
    /// The input ends in the middle of something.
    Truncated {
        /// What was cut, with where and how many bytes were missing.
        what: String,
    },
    /// A frame larger than [`MAX_FRAME`].
    TooLarge {
        /// The frame's number (1 = the first).
        frame: u64,
        /// Its size, or the size read so far when it had no end yet.
        size: u64,
    },
    /// The bytes are not what the container says they are.
    Invalid {
        /// What is wrong, and where.
        what: String,
    },
}

impl fmt::Display for VideoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VideoError::Io(e) => write!(f, "cannot read the video: {e}"),
            VideoError::Empty => f.write_str("the file is empty"),
            VideoError::Unrecognized { looks_like } => {
                f.write_str(
                    "not a video this command reads: neither an H.264 Annex B stream (it would \
                     begin with a 00 00 01 start code) nor an IVF file (it would begin with DKIF)",
                )?;
                if let Some(kind) = looks_like {
                    write!(
                        f,
                        "; it looks like {kind}: extract its video stream first, e.g. `ffmpeg -i \
                         IN -an -c:v copy -bsf:v h264_mp4toannexb out.h264` (H.264) or `ffmpeg \
                         -i IN -an -c:v copy out.ivf` (VP8, VP9, AV1)"
                    )?;
                }
                Ok(())
            }
            VideoError::Truncated { what } => write!(f, "the file is truncated: {what}"),
            VideoError::TooLarge { frame, size } => write!(
                f,
                "frame {frame} is larger than {} MiB ({size} bytes and more): not a video \
                 stream, or not one this command streams",
                MAX_FRAME / (1024 * 1024)
            ),
            VideoError::Invalid { what } => f.write_str(what),
        }
    }
}

impl std::error::Error for VideoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VideoError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for VideoError {
    fn from(e: io::Error) -> Self {
        VideoError::Io(e)
    }
}

/// A container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// An H.264 elementary stream in Annex B form (start codes).
    AnnexB,
    /// IVF (`DKIF`).
    Ivf,
}

impl Container {
    /// The container an output path names: `.ivf` is IVF, anything else (`.h264`, `.264`,
    /// `-`) Annex B.
    pub fn for_output(path: &Path) -> Container {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("ivf") => Container::Ivf,
            _ => Container::AnnexB,
        }
    }

    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Container::AnnexB => "H.264 Annex B",
            Container::Ivf => "IVF",
        }
    }
}

/// A codec, as an IVF fourcc names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// H.264 (`H264`, `AVC1`).
    H264,
    /// VP8 (`VP80`).
    Vp8,
    /// VP9 (`VP90`).
    Vp9,
    /// AV1 (`AV01`).
    Av1,
    /// Another fourcc.
    Other([u8; 4]),
}

impl Codec {
    /// The codec of an IVF fourcc.
    pub fn from_fourcc(fourcc: [u8; 4]) -> Codec {
        match &fourcc.map(|b| b.to_ascii_uppercase()) {
            b"H264" | b"AVC1" | b"X264" => Codec::H264,
            b"VP80" => Codec::Vp8,
            b"VP90" => Codec::Vp9,
            b"AV01" => Codec::Av1,
            _ => Codec::Other(fourcc),
        }
    }

    /// The fourcc an IVF file of this codec carries.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            Codec::H264 => *b"H264",
            Codec::Vp8 => *b"VP80",
            Codec::Vp9 => *b"VP90",
            Codec::Av1 => *b"AV01",
            Codec::Other(f) => f,
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Codec::H264 => f.write_str("H.264"),
            Codec::Vp8 => f.write_str("VP8"),
            Codec::Vp9 => f.write_str("VP9"),
            Codec::Av1 => f.write_str("AV1"),
            Codec::Other(fourcc) => {
                let printable: String = fourcc
                    .iter()
                    .map(|&b| {
                        if b.is_ascii_graphic() {
                            char::from(b)
                        } else {
                            '?'
                        }
                    })
                    .collect();
                write!(f, "fourcc {printable}")
            }
        }
    }
}

/// What a file's header says about its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// The container.
    pub container: Container,
    /// The codec (always H.264 for Annex B).
    pub codec: Codec,
    /// The frame size an IVF header gives (`None` for Annex B, or a zero in the header).
    pub size: Option<(u16, u16)>,
    /// The frame count an IVF header announces (often 0 when written as a stream).
    pub announced_frames: Option<u32>,
}

/// One frame: an access unit (Annex B, start codes included) or an IVF frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The encoded bytes.
    pub data: Vec<u8>,
    /// Whether it can be decoded alone (an IDR for H.264, a key frame for VP8), as far as
    /// the bytes tell.
    pub keyframe: bool,
    /// The IVF timestamp, in the file's time base (`None` for Annex B).
    pub pts: Option<u64>,
}

/// Reads a video file frame by frame. See the [module docs](self).
pub struct FrameReader<R> {
    info: StreamInfo,
    source: Source<R>,
    /// Frames returned so far.
    frames: u64,
}

enum Source<R> {
    AnnexB(AccessUnits<R>),
    Ivf(IvfFrames<R>),
}

impl<R: Read> FrameReader<R> {
    /// Reads the head of `input` and tells its container by its first bytes.
    ///
    /// # Errors
    ///
    /// [`VideoError::Empty`], [`VideoError::Unrecognized`], a truncated or invalid IVF header,
    /// or the read's error.
    pub fn new(mut input: R) -> Result<Self, VideoError> {
        let mut head = Vec::with_capacity(IVF_HEADER);
        read_up_to(&mut input, &mut head, IVF_HEADER)?;
        if head.is_empty() {
            return Err(VideoError::Empty);
        }
        if head.starts_with(DKIF) {
            let ivf = IvfFrames::new(input, &head)?;
            return Ok(FrameReader {
                info: ivf.info.clone(),
                source: Source::Ivf(ivf),
                frames: 0,
            });
        }
        let zeros = head.iter().take_while(|&&b| b == 0).count();
        let start_code = zeros >= 2 && head.get(zeros) == Some(&1);
        let all_zeros = zeros == head.len() && head.len() == IVF_HEADER;
        if !start_code && !all_zeros {
            return Err(VideoError::Unrecognized {
                looks_like: looks_like(&head),
            });
        }
        Ok(FrameReader {
            info: StreamInfo {
                container: Container::AnnexB,
                codec: Codec::H264,
                size: None,
                announced_frames: None,
            },
            source: Source::AnnexB(AccessUnits::new(input, head)),
            frames: 0,
        })
    }

    /// What the header says.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// The next frame, or `None` at the end of the input.
    ///
    /// # Errors
    ///
    /// A truncated or invalid frame, one over [`MAX_FRAME`] bytes, or the read's error. After
    /// an error, the reader is not to be used again.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, VideoError> {
        let number = self.frames + 1;
        let frame = match &mut self.source {
            Source::AnnexB(units) => units.next(number)?,
            Source::Ivf(ivf) => ivf.next(number)?,
        };
        if frame.is_some() {
            self.frames = number;
        }
        Ok(frame)
    }
}

/// Reads until `buf` holds `want` bytes or the input ends.
fn read_up_to(input: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> io::Result<()> {
    let missing = want.saturating_sub(buf.len());
    input.take(missing as u64).read_to_end(buf)?;
    Ok(())
}

/// What a file that is not a stream looks like, by its first bytes.
fn looks_like(head: &[u8]) -> Option<&'static str> {
    let at = |i: usize, sig: &[u8]| head.get(i..i + sig.len()) == Some(sig);
    if at(4, b"ftyp") || at(4, b"moov") || at(4, b"mdat") || at(4, b"free") {
        Some("an MP4 or QuickTime file")
    } else if at(0, b"\x1a\x45\xdf\xa3") {
        Some("a WebM or Matroska file")
    } else if at(0, b"RIFF") && at(8, b"AVI ") {
        Some("an AVI file")
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------
// H.264 Annex B

/// NAL unit types that matter for grouping.
const NAL_SLICE: u8 = 1;
const NAL_SLICE_PARTITION_A: u8 = 2;
const NAL_IDR: u8 = 5;
const NAL_SEI: u8 = 6;
const NAL_AUD: u8 = 9;

/// The NAL units of an Annex B stream, one at a time, each with its start code.
struct NalUnits<R> {
    input: R,
    /// Read-ahead; `buf[start..]` begins with the current NAL unit's start code.
    buf: Vec<u8>,
    start: usize,
    /// Where to go on looking for the next start code (all before it was scanned).
    scan: usize,
    /// The byte offset of `buf[0]` in the input.
    offset: u64,
    eof: bool,
    /// The leading zeros are skipped and `buf[start..]` begins with a start code.
    synced: bool,
}

/// One NAL unit: its bytes, start code included, and where its header byte is.
struct Nal {
    bytes: Vec<u8>,
    /// The index in `bytes` of the NAL header (after the start code).
    header: usize,
    /// The byte offset in the input.
    offset: u64,
}

impl Nal {
    fn header_byte(&self) -> Option<u8> {
        self.bytes.get(self.header).copied()
    }

    fn kind(&self) -> Option<u8> {
        self.header_byte().map(|b| b & 0x1f)
    }

    fn is_vcl(&self) -> bool {
        matches!(
            self.kind(),
            Some(NAL_SLICE | NAL_SLICE_PARTITION_A | NAL_IDR)
        )
    }

    /// A slice whose `first_mb_in_slice` is 0: ue(v) codes 0 as a single `1` bit, so the first
    /// bit after the NAL header is set.
    fn starts_picture(&self) -> bool {
        self.is_vcl()
            && self
                .bytes
                .get(self.header + 1)
                .is_some_and(|b| b & 0x80 != 0)
    }
}

impl<R: Read> NalUnits<R> {
    fn new(input: R, head: Vec<u8>) -> Self {
        NalUnits {
            input,
            buf: head,
            start: 0,
            scan: 0,
            offset: 0,
            eof: false,
            synced: false,
        }
    }

    /// Reads one more chunk; false at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        // Drop what was returned already, once it is worth the copy.
        if self.start >= CHUNK {
            self.buf.drain(..self.start);
            self.offset += self.start as u64;
            self.scan -= self.start;
            self.start = 0;
        }
        let before = self.buf.len();
        read_up_to(&mut self.input, &mut self.buf, before + CHUNK)?;
        if self.buf.len() == before {
            self.eof = true;
        }
        Ok(!self.eof)
    }

    /// Skips the leading zeros up to the first start code.
    fn sync(&mut self) -> Result<(), VideoError> {
        loop {
            let zeros = self.buf[self.start..]
                .iter()
                .take_while(|&&b| b == 0)
                .count();
            // Keep at most the zero_byte of a 4-byte start code.
            let skip = zeros.saturating_sub(3);
            self.start += skip;
            self.scan = self.start;
            let rest = &self.buf[self.start..];
            let zeros = zeros - skip;
            if zeros < rest.len() {
                if zeros >= 2 && rest[zeros] == 1 {
                    self.synced = true;
                    return Ok(());
                }
                return Err(VideoError::Unrecognized { looks_like: None });
            }
            if self.offset + self.start as u64 > MAX_FRAME as u64 {
                return Err(VideoError::Invalid {
                    what: format!(
                        "not an H.264 stream: more than {} MiB of zero bytes and no start code",
                        MAX_FRAME / (1024 * 1024)
                    ),
                });
            }
            if !self.fill()? {
                return Err(VideoError::Invalid {
                    what: "not an H.264 stream: only zero bytes".to_owned(),
                });
            }
        }
    }

    /// The next NAL unit, or `None` at the end; `frame` numbers the frame being built (for
    /// errors).
    fn next(&mut self, frame: u64, so_far: usize) -> Result<Option<Nal>, VideoError> {
        if !self.synced {
            self.sync()?;
        }
        loop {
            let len = self.buf.len();
            if self.start >= len {
                return Ok(None);
            }
            // The current start code: `00 00 01` after zero or more zeros.
            let zeros = self.buf[self.start..]
                .iter()
                .take_while(|&&b| b == 0)
                .count();
            // Relative to `start`, which a `fill` may move.
            let header_at = zeros + 1;
            let header = self.start + header_at;
            let from = self.scan.max(header);
            if let Some(at) = find_start_code(&self.buf[from..]) {
                let mut end = from + at;
                // A 4-byte start code's zero_byte belongs to the next unit.
                if end > header && self.buf[end - 1] == 0 {
                    end -= 1;
                }
                let nal = Nal {
                    bytes: self.buf[self.start..end].to_vec(),
                    header: header_at,
                    offset: self.offset + self.start as u64,
                };
                self.start = end;
                self.scan = end;
                return Ok(Some(nal));
            }
            // Not found: the last two bytes may begin the next start code.
            self.scan = len.saturating_sub(2).max(header);
            if so_far + (len - self.start) > MAX_FRAME {
                return Err(VideoError::TooLarge {
                    frame,
                    size: (so_far + (len - self.start)) as u64,
                });
            }
            if !self.fill()? {
                let nal = Nal {
                    bytes: self.buf[self.start..].to_vec(),
                    header: header_at,
                    offset: self.offset + self.start as u64,
                };
                self.start = self.buf.len();
                self.scan = self.start;
                return Ok(Some(nal));
            }
        }
    }
}

/// The index of the first `00 00 01` in `bytes`.
fn find_start_code(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 2 < bytes.len() {
        // Skip ahead fast: a start code ends with 01 preceded by two zeros.
        match bytes[i + 2] {
            1 if bytes[i] == 0 && bytes[i + 1] == 0 => return Some(i),
            0 => i += 1,
            _ => i += 3,
        }
    }
    None
}

/// Groups NAL units into access units.
struct AccessUnits<R> {
    nals: NalUnits<R>,
    /// The first NAL unit of the next access unit, read while ending the previous one.
    pending: Option<Nal>,
    done: bool,
}

impl<R: Read> AccessUnits<R> {
    fn new(input: R, head: Vec<u8>) -> Self {
        AccessUnits {
            nals: NalUnits::new(input, head),
            pending: None,
            done: false,
        }
    }

    fn next(&mut self, number: u64) -> Result<Option<Frame>, VideoError> {
        if self.done {
            return Ok(None);
        }
        let mut data = Vec::new();
        let mut has_slice = false;
        let mut keyframe = false;
        let mut first_offset = None;
        loop {
            let nal = match self.pending.take() {
                Some(nal) => Some(nal),
                None => self.nals.next(number, data.len())?,
            };
            let Some(nal) = nal else {
                self.done = true;
                break;
            };
            let Some(header) = nal.header_byte() else {
                // An empty unit (a start code right before another, or at the end): its bytes
                // stay where they are.
                data.extend_from_slice(&nal.bytes);
                continue;
            };
            if header & 0x80 != 0 {
                return Err(VideoError::Invalid {
                    what: format!(
                        "not an H.264 stream: the NAL unit at byte {} has its forbidden bit set",
                        nal.offset
                    ),
                });
            }
            let kind = header & 0x1f;
            // Only after a slice: units before the first one (an access unit delimiter among
            // them) all open this access unit.
            let boundary = has_slice
                && match kind {
                    NAL_AUD | NAL_SEI | 7 | 8 | 14..=18 => true,
                    _ => nal.starts_picture(),
                };
            if boundary {
                self.pending = Some(nal);
                break;
            }
            if data.len() + nal.bytes.len() > MAX_FRAME {
                return Err(VideoError::TooLarge {
                    frame: number,
                    size: (data.len() + nal.bytes.len()) as u64,
                });
            }
            first_offset.get_or_insert(nal.offset);
            has_slice |= nal.is_vcl();
            keyframe |= kind == NAL_IDR;
            data.extend_from_slice(&nal.bytes);
        }
        if has_slice {
            return Ok(Some(Frame {
                data,
                keyframe,
                pts: None,
            }));
        }
        if number == 1 {
            return Err(VideoError::Invalid {
                what: "not an H.264 video: no coded picture (no slice NAL unit) in the stream"
                    .to_owned(),
            });
        }
        // Parameter sets or SEI after the last picture: nothing to send.
        if !data.is_empty() {
            log::debug!(
                target: crate::LOG_TARGET,
                "{} bytes of NAL units after the last picture (from byte {}) are left out",
                data.len(),
                first_offset.unwrap_or(0)
            );
        }
        Ok(None)
    }
}

/// Whether an Annex B access unit holds an IDR slice.
pub fn has_idr(data: &[u8]) -> bool {
    let mut rest = data;
    while let Some(at) = find_start_code(rest) {
        rest = &rest[at + 3..];
        if rest.first().is_some_and(|b| b & 0x1f == NAL_IDR) {
            return true;
        }
    }
    false
}

/// `frames` made-up H.264 access units in Annex B form, for the demo and the tests: an IDR
/// (with SPS and PPS) every `keyframe_every` frames, P frames between, each with its number in
/// its bytes. They split and group as real access units do; no decoder would show a picture.
pub fn synthetic_h264(frames: usize, keyframe_every: usize) -> Vec<Vec<u8>> {
    const SPS: &[u8] = &[
        0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8,
    ];
    const PPS: &[u8] = &[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80];
    (0..frames)
        .map(|i| {
            let key = i % keyframe_every.max(1) == 0;
            let mut au = Vec::new();
            if key {
                au.extend_from_slice(SPS);
                au.extend_from_slice(PPS);
                au.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88]);
            } else {
                au.extend_from_slice(&[0, 0, 0, 1, 0x41, 0x9a]);
            }
            // The frame number, then a pattern; never a zero byte, so never a start code.
            au.extend((i as u32).to_be_bytes().map(|b| b | 0x80));
            let len = if key { 600 } else { 120 + (i * 37) % 200 };
            au.extend((0..len).map(|j| ((i * 31 + j * 7) % 239) as u8 + 16));
            au
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// IVF

struct IvfFrames<R> {
    input: R,
    info: StreamInfo,
    /// The byte offset of the next frame header.
    offset: u64,
}

impl<R: Read> IvfFrames<R> {
    /// Parses the header; `head` holds the first bytes read (up to 32).
    fn new(mut input: R, head: &[u8]) -> Result<Self, VideoError> {
        if head.len() < IVF_HEADER {
            return Err(VideoError::Truncated {
                what: format!(
                    "the IVF header has {} of its {IVF_HEADER} bytes",
                    head.len()
                ),
            });
        }
        let u16_at = |i: usize| u16::from_le_bytes([head[i], head[i + 1]]);
        let u32_at =
            |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let version = u16_at(4);
        let header_len = usize::from(u16_at(6));
        if version != 0 {
            return Err(VideoError::Invalid {
                what: format!("an IVF file of version {version} (only version 0 is known)"),
            });
        }
        if header_len < IVF_HEADER {
            return Err(VideoError::Invalid {
                what: format!(
                    "the IVF header says it is {header_len} bytes long (at least {IVF_HEADER})"
                ),
            });
        }
        // A longer header: skip what follows the known fields.
        let extra = (header_len - IVF_HEADER) as u64;
        let skipped = io::copy(&mut (&mut input).take(extra), &mut io::sink())?;
        if skipped < extra {
            return Err(VideoError::Truncated {
                what: format!(
                    "the IVF header is {header_len} bytes long, the file {}",
                    IVF_HEADER as u64 + skipped
                ),
            });
        }
        let fourcc = [head[8], head[9], head[10], head[11]];
        let (width, height) = (u16_at(12), u16_at(14));
        let info = StreamInfo {
            container: Container::Ivf,
            codec: Codec::from_fourcc(fourcc),
            size: (width > 0 && height > 0).then_some((width, height)),
            announced_frames: Some(u32_at(24)),
        };
        Ok(IvfFrames {
            input,
            info,
            offset: header_len as u64,
        })
    }

    fn next(&mut self, number: u64) -> Result<Option<Frame>, VideoError> {
        let mut header = Vec::with_capacity(IVF_FRAME_HEADER);
        read_up_to(&mut self.input, &mut header, IVF_FRAME_HEADER)?;
        if header.is_empty() {
            return Ok(None);
        }
        if header.len() < IVF_FRAME_HEADER {
            return Err(VideoError::Truncated {
                what: format!(
                    "frame {number}'s header at byte {} has {} of its {IVF_FRAME_HEADER} bytes",
                    self.offset,
                    header.len()
                ),
            });
        }
        let size = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let mut pts = [0u8; 8];
        pts.copy_from_slice(&header[4..12]);
        let pts = u64::from_le_bytes(pts);
        if size as usize > MAX_FRAME {
            return Err(VideoError::TooLarge {
                frame: number,
                size: u64::from(size),
            });
        }
        let mut data = Vec::new();
        read_up_to(&mut self.input, &mut data, size as usize)?;
        if data.len() < size as usize {
            return Err(VideoError::Truncated {
                what: format!(
                    "frame {number} at byte {} announces {size} bytes, only {} remain",
                    self.offset,
                    data.len()
                ),
            });
        }
        self.offset += (IVF_FRAME_HEADER + data.len()) as u64;
        let keyframe = match self.info.codec {
            // VP8's frame tag: bit 0 clear for a key frame.
            Codec::Vp8 => data.first().is_some_and(|b| b & 1 == 0),
            Codec::H264 => has_idr(&data),
            _ => false,
        };
        Ok(Some(Frame {
            data,
            keyframe,
            pts: Some(pts),
        }))
    }
}

// ---------------------------------------------------------------------------------------
// Writing

/// What an IVF file's header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfHeader {
    /// The codec (its fourcc).
    pub codec: Codec,
    /// The frame width and height.
    pub width: u16,
    /// The frame height.
    pub height: u16,
    /// The time base, `numerator / denominator` seconds per timestamp unit: 1/30 for
    /// timestamps that count frames at 30 fps.
    pub timebase: (u32, u32),
}

impl Default for IvfHeader {
    fn default() -> Self {
        IvfHeader {
            codec: Codec::H264,
            width: 1280,
            height: 720,
            timebase: (1, 30),
        }
    }
}

/// Writes frames to an output in a container: Annex B (the access units one after the other)
/// or IVF.
pub struct FrameWriter<W: Write> {
    out: W,
    container: Container,
    frames: u32,
    bytes: u64,
    last_pts: Option<u64>,
}

impl<W: Write> FrameWriter<W> {
    /// A writer of `container`; for IVF, the header is written now (with a frame count of 0,
    /// see [`patch_ivf_frame_count`]).
    ///
    /// # Errors
    ///
    /// The write's error.
    pub fn new(mut out: W, container: Container, header: IvfHeader) -> io::Result<Self> {
        let mut bytes = 0;
        if container == Container::Ivf {
            let mut h = Vec::with_capacity(IVF_HEADER);
            h.extend_from_slice(DKIF);
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&(IVF_HEADER as u16).to_le_bytes());
            h.extend_from_slice(&header.codec.fourcc());
            h.extend_from_slice(&header.width.to_le_bytes());
            h.extend_from_slice(&header.height.to_le_bytes());
            // The rate (denominator) comes first, then the scale (numerator).
            h.extend_from_slice(&header.timebase.1.to_le_bytes());
            h.extend_from_slice(&header.timebase.0.to_le_bytes());
            h.extend_from_slice(&0u32.to_le_bytes());
            h.extend_from_slice(&0u32.to_le_bytes());
            out.write_all(&h)?;
            bytes = h.len() as u64;
        }
        Ok(FrameWriter {
            out,
            container,
            frames: 0,
            bytes,
            last_pts: None,
        })
    }

    /// Writes one frame; `pts` (in the IVF time base) is raised above the previous one if it
    /// is not (IVF readers expect them to increase). Annex B keeps only the bytes.
    ///
    /// # Errors
    ///
    /// The write's error; a frame over 4 GiB in IVF.
    pub fn write_frame(&mut self, data: &[u8], pts: u64) -> io::Result<()> {
        if self.container == Container::Ivf {
            let size = u32::try_from(data.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a frame over 4 GiB"))?;
            let pts = match self.last_pts {
                Some(last) if pts <= last => last + 1,
                _ => pts,
            };
            self.last_pts = Some(pts);
            let mut h = [0u8; IVF_FRAME_HEADER];
            h[..4].copy_from_slice(&size.to_le_bytes());
            h[4..].copy_from_slice(&pts.to_le_bytes());
            self.out.write_all(&h)?;
            self.bytes += IVF_FRAME_HEADER as u64;
        }
        self.out.write_all(data)?;
        self.bytes += data.len() as u64;
        self.frames = self.frames.saturating_add(1);
        Ok(())
    }

    /// Frames written.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Bytes written, headers included.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Flushes and gives the output back.
    ///
    /// # Errors
    ///
    /// The flush's error.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes `count` into the frame count of the IVF file `out` (which is left at its end).
///
/// # Errors
///
/// The seek's or the write's error.
pub fn patch_ivf_frame_count<S: Write + Seek>(out: &mut S, count: u32) -> io::Result<()> {
    let end = out.seek(SeekFrom::End(0))?;
    out.seek(SeekFrom::Start(24))?;
    out.write_all(&count.to_le_bytes())?;
    out.seek(SeekFrom::Start(end))?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const SPS: &[u8] = &[
        0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8,
    ];
    const PPS: &[u8] = &[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80];

    /// An IDR access unit: SPS, PPS, an IDR slice with `first_mb_in_slice` 0.
    fn idr(payload: &[u8]) -> Vec<u8> {
        let mut au = [SPS, PPS].concat();
        au.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88]);
        au.extend_from_slice(payload);
        au
    }

    /// A P access unit: one non-IDR slice with `first_mb_in_slice` 0.
    fn p(payload: &[u8]) -> Vec<u8> {
        let mut au = vec![0, 0, 0, 1, 0x41, 0x9a];
        au.extend_from_slice(payload);
        au
    }

    /// Bytes without a start code (no `00 00` run) of a given length.
    fn payload(seed: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed) | 0x10)
            .collect()
    }

    fn read_all(bytes: &[u8]) -> Result<(StreamInfo, Vec<Frame>), VideoError> {
        let mut reader = FrameReader::new(Cursor::new(bytes.to_vec()))?;
        let mut frames = Vec::new();
        while let Some(f) = reader.next_frame()? {
            frames.push(f);
        }
        assert_eq!(reader.frames, frames.len() as u64);
        Ok((reader.info().clone(), frames))
    }

    /// A reader that hands out at most `n` bytes per read, to cross every chunk boundary.
    struct Dribble<'a>(&'a [u8], usize);

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(self.1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn stream(aus: &[Vec<u8>]) -> Vec<u8> {
        aus.concat()
    }

    #[test]
    fn annex_b_splits_into_access_units() {
        let aus = vec![
            idr(&payload(1, 40)),
            p(&payload(2, 30)),
            p(&payload(3, 5)),
            idr(&payload(4, 300)),
            p(&[0x11]),
        ];
        let bytes = stream(&aus);
        let (info, frames) = read_all(&bytes).unwrap();
        assert_eq!(info.container, Container::AnnexB);
        assert_eq!(info.codec, Codec::H264);
        assert_eq!(frames.len(), aus.len());
        for (frame, au) in frames.iter().zip(&aus) {
            assert_eq!(&frame.data, au);
            assert_eq!(frame.pts, None);
        }
        let keys: Vec<bool> = frames.iter().map(|f| f.keyframe).collect();
        assert_eq!(keys, [true, false, false, true, false]);
        // Frame by frame through a one-byte reader: the same.
        for dribble in [1, 2, 3, 7] {
            let mut reader = FrameReader::new(Dribble(&bytes, dribble)).unwrap();
            for au in &aus {
                assert_eq!(&reader.next_frame().unwrap().unwrap().data, au);
            }
            assert!(reader.next_frame().unwrap().is_none());
            assert!(reader.next_frame().unwrap().is_none(), "stays at the end");
        }
    }

    #[test]
    fn a_long_stream_crosses_many_chunks() {
        // Access units of many sizes, one larger than a read chunk, several chunks in all:
        // every unit comes back whole, whatever the reads.
        let aus: Vec<Vec<u8>> = (0..300)
            .map(|i| match i {
                0 => idr(&payload(0, 10)),
                150 => idr(&payload(9, 3 * CHUNK + 17)),
                i if i % 50 == 0 => idr(&payload(i as u8, 900)),
                i => p(&payload(i as u8, (i * 37) % 2000)),
            })
            .collect();
        let bytes = stream(&aus);
        assert!(bytes.len() > 6 * CHUNK);
        for dribble in [usize::MAX, 4096, 1000] {
            let mut reader = FrameReader::new(Dribble(&bytes, dribble)).unwrap();
            for (n, au) in aus.iter().enumerate() {
                let frame = reader.next_frame().unwrap().unwrap();
                assert_eq!(frame.data.len(), au.len(), "frame {n}");
                assert!(frame.data == *au, "frame {n}");
                assert_eq!(frame.keyframe, n % 50 == 0, "frame {n}");
            }
            assert!(reader.next_frame().unwrap().is_none());
        }
    }

    #[test]
    fn synthetic_streams_read_back_as_made() {
        let aus = synthetic_h264(45, 30);
        let (_, frames) = read_all(&aus.concat()).unwrap();
        assert_eq!(frames.len(), 45);
        for (i, (frame, au)) in frames.iter().zip(&aus).enumerate() {
            assert_eq!(&frame.data, au, "{i}");
            assert_eq!(frame.keyframe, i % 30 == 0, "{i}");
        }
        assert_ne!(aus[1], aus[2], "each frame differs");
    }

    #[test]
    fn annex_b_boundaries() {
        // Three-byte start codes, an AUD before each picture, a second slice of the same
        // picture (first_mb_in_slice != 0: top bit clear), SEI before a picture.
        let aud = [0u8, 0, 1, 0x09, 0xf0];
        let sei = [0u8, 0, 1, 0x06, 0x05, 0x02, 0xaa, 0x80];
        let slice_a = [0u8, 0, 1, 0x65, 0x88, 0x84, 0x21];
        let slice_b = [0u8, 0, 1, 0x65, 0x2c, 0x33, 0x44]; // same picture
        let p1 = [0u8, 0, 1, 0x41, 0x9a, 0x12];
        let au1 = [&aud[..], SPS, PPS, &slice_a, &slice_b].concat();
        let au2 = [&aud[..], &sei, &p1].concat();
        let au3 = [&sei[..], &p1].concat(); // no AUD: the SEI opens it
        let au4 = p1.to_vec(); // a slice with first_mb 0 after a slice
        let bytes = [au1.clone(), au2.clone(), au3.clone(), au4.clone()].concat();
        let (_, frames) = read_all(&bytes).unwrap();
        let got: Vec<&[u8]> = frames.iter().map(|f| &f.data[..]).collect();
        assert_eq!(got, [&au1[..], &au2, &au3, &au4]);
        assert!(frames[0].keyframe && !frames[1].keyframe);
    }

    #[test]
    fn annex_b_edges() {
        // Leading zero bytes before the first start code are dropped; the rest is kept as is.
        let body = stream(&[idr(b"\x11\x22"), p(b"\x33")]);
        let mut padded = vec![0u8; 40];
        padded.extend_from_slice(&body);
        let (_, frames) = read_all(&padded).unwrap();
        assert_eq!(frames.concat_data(), body);

        // Trailing zero bytes stay with the last unit.
        let mut trailing = body.clone();
        trailing.extend_from_slice(&[0, 0, 0]);
        let (_, frames) = read_all(&trailing).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames.concat_data(), trailing);

        // Parameter sets after the last picture are left out.
        let mut tail = body.clone();
        tail.extend_from_slice(SPS);
        let (_, frames) = read_all(&tail).unwrap();
        assert_eq!(frames.concat_data(), body);

        // A stream of parameter sets only has no picture.
        let only = [SPS, PPS].concat();
        let e = read_all(&only).unwrap_err();
        assert!(e.to_string().contains("no coded picture"), "{e}");

        // Empty units (a start code right after another) stay in their access unit.
        let mut empty = vec![0, 0, 1];
        empty.extend_from_slice(&idr(b"\x44"));
        let (_, frames) = read_all(&empty).unwrap();
        assert_eq!(frames.concat_data(), empty);

        // A start code split over reads, at the chunk boundary.
        let mut big = idr(&payload(5, CHUNK - 2 - SPS.len() - PPS.len() - 6));
        big.extend_from_slice(&p(b"\x55"));
        let (_, frames) = read_all(&big).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames.concat_data(), big);
    }

    trait ConcatData {
        fn concat_data(&self) -> Vec<u8>;
    }

    impl ConcatData for Vec<Frame> {
        fn concat_data(&self) -> Vec<u8> {
            self.iter().flat_map(|f| f.data.iter().copied()).collect()
        }
    }

    #[test]
    fn annex_b_refusals() {
        assert!(matches!(read_all(b""), Err(VideoError::Empty)));
        let e = read_all(b"hello, this is not a video at all").unwrap_err();
        assert!(
            matches!(e, VideoError::Unrecognized { looks_like: None }),
            "{e}"
        );
        assert!(e.to_string().contains("00 00 01"), "{e}");
        let mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom";
        let e = read_all(mp4).unwrap_err();
        assert!(e.to_string().contains("MP4"), "{e}");
        // Only zeros.
        let e = read_all(&[0u8; 100]).unwrap_err();
        assert!(e.to_string().contains("zero bytes"), "{e}");
        // Zeros then something else than 01.
        let mut z = vec![0u8; 40];
        z.push(7);
        assert!(matches!(read_all(&z), Err(VideoError::Unrecognized { .. })));
        // A start code, then garbage with the forbidden bit.
        let e = read_all(b"\x00\x00\x00\x01\xff garbage").unwrap_err();
        assert!(e.to_string().contains("forbidden bit"), "{e}");
        // A start code, then text (a "PPS" of text): no picture.
        let e = read_all(b"\x00\x00\x00\x01hello world").unwrap_err();
        assert!(matches!(e, VideoError::Invalid { .. }), "{e}");
    }

    #[test]
    fn annex_b_refuses_an_access_unit_over_the_limit() {
        let mut huge = idr(&[]);
        huge.resize(MAX_FRAME + 10, 0x42);
        let e = read_all(&huge).unwrap_err();
        assert!(matches!(e, VideoError::TooLarge { frame: 1, .. }), "{e:?}");
        assert!(e.to_string().contains("8 MiB"), "{e}");
        // Many NAL units that add up to more than the limit in one access unit.
        let mut many = idr(&[0x42; 1000]);
        let slice = [&[0u8, 0, 1, 0x65, 0x22][..], &[0x42; 100_000]].concat();
        while many.len() <= MAX_FRAME {
            many.extend_from_slice(&slice);
        }
        let e = read_all(&many).unwrap_err();
        assert!(matches!(e, VideoError::TooLarge { frame: 1, .. }), "{e:?}");
        // Just under the limit is fine.
        let mut under = idr(&[]);
        under.resize(MAX_FRAME - 100, 0x42);
        under.extend_from_slice(&p(b"\x10"));
        let (_, frames) = read_all(&under).unwrap();
        assert_eq!(frames.len(), 2);
    }

    fn ivf_bytes(codec: Codec, frames: &[(&[u8], u64)]) -> Vec<u8> {
        let header = IvfHeader {
            codec,
            width: 640,
            height: 360,
            timebase: (1, 25),
        };
        let mut w = FrameWriter::new(Cursor::new(Vec::new()), Container::Ivf, header).unwrap();
        for (data, pts) in frames {
            w.write_frame(data, *pts).unwrap();
        }
        let count = w.frames();
        let mut cursor = w.finish().unwrap();
        patch_ivf_frame_count(&mut cursor, count).unwrap();
        cursor.into_inner()
    }

    #[test]
    fn ivf_round_trip() {
        let vp8 = [
            (&b"\x10\x02\x00key"[..], 0),
            (&b"\x31delta"[..], 1),
            (&b""[..], 2),
        ];
        let bytes = ivf_bytes(Codec::Vp8, &vp8);
        assert_eq!(&bytes[..4], b"DKIF");
        assert_eq!(&bytes[8..12], b"VP80");
        let (info, frames) = read_all(&bytes).unwrap();
        assert_eq!(
            info,
            StreamInfo {
                container: Container::Ivf,
                codec: Codec::Vp8,
                size: Some((640, 360)),
                announced_frames: Some(3),
            }
        );
        let got: Vec<(&[u8], Option<u64>, bool)> = frames
            .iter()
            .map(|f| (&f.data[..], f.pts, f.keyframe))
            .collect();
        assert_eq!(
            got,
            [
                (&b"\x10\x02\x00key"[..], Some(0), true),
                (&b"\x31delta"[..], Some(1), false),
                (&b""[..], Some(2), false),
            ]
        );

        // H.264 in IVF: the access units, keyframes by their IDR slice.
        let (a, b) = (idr(b"\x11"), p(b"\x22"));
        let bytes = ivf_bytes(Codec::H264, &[(&a, 0), (&b, 0)]);
        let (info, frames) = read_all(&bytes).unwrap();
        assert_eq!(info.codec, Codec::H264);
        assert_eq!(frames[0].data, a);
        assert!(frames[0].keyframe && !frames[1].keyframe);
        assert_eq!(frames[1].pts, Some(1), "timestamps made to increase");

        // Through a dribbling reader.
        let mut reader = FrameReader::new(Dribble(&bytes, 5)).unwrap();
        assert_eq!(reader.next_frame().unwrap().unwrap().data, a);
        assert_eq!(reader.next_frame().unwrap().unwrap().data, b);
        assert!(reader.next_frame().unwrap().is_none());

        // Another fourcc is carried as it is.
        let bytes = ivf_bytes(Codec::Other(*b"XYZ\x01"), &[(b"x", 0)]);
        let (info, _) = read_all(&bytes).unwrap();
        assert_eq!(info.codec, Codec::Other(*b"XYZ\x01"));
        assert_eq!(info.codec.to_string(), "fourcc XYZ?");
    }

    #[test]
    fn ivf_refusals() {
        let good = ivf_bytes(Codec::Vp8, &[(b"\x10frame one", 0), (b"\x11frame two", 1)]);
        // Every truncation of a valid file is refused or read short, never a panic.
        for cut in 4..good.len() {
            match read_all(&good[..cut]) {
                Err(VideoError::Truncated { what }) => assert!(!what.is_empty()),
                Err(e) => panic!("cut at {cut}: {e:?}"),
                Ok((_, frames)) => {
                    // A cut exactly between frames.
                    assert!(cut == IVF_HEADER || cut == IVF_HEADER + 12 + 10, "{cut}");
                    assert!(frames.len() < 2);
                }
            }
        }
        let e = read_all(&good[..20]).unwrap_err();
        assert!(e.to_string().contains("20 of its 32 bytes"), "{e}");
        // A frame announcing more bytes than remain.
        let mut lying = good.clone();
        lying[32..36].copy_from_slice(&1000u32.to_le_bytes());
        let e = read_all(&lying).unwrap_err();
        assert!(
            e.to_string()
                .contains("frame 1 at byte 32 announces 1000 bytes"),
            "{e}"
        );
        // A frame over the limit is refused before anything is allocated for it.
        let mut huge = good.clone();
        huge[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            read_all(&huge),
            Err(VideoError::TooLarge { frame: 1, size }) if size == u64::from(u32::MAX)
        ));
        // A bad version or header length.
        let mut v1 = good.clone();
        v1[4] = 1;
        assert!(matches!(read_all(&v1), Err(VideoError::Invalid { .. })));
        let mut short = good.clone();
        short[6] = 16;
        assert!(matches!(read_all(&short), Err(VideoError::Invalid { .. })));
        // A longer header is skipped.
        let mut long = good[..32].to_vec();
        long[6] = 40;
        long.extend_from_slice(&[0xee; 8]);
        long.extend_from_slice(&good[32..]);
        let (_, frames) = read_all(&long).unwrap();
        assert_eq!(frames.len(), 2);
        let e = read_all(&long[..36]).unwrap_err();
        assert!(matches!(e, VideoError::Truncated { .. }), "{e}");
        // DKIF alone.
        assert!(matches!(
            read_all(b"DKIF"),
            Err(VideoError::Truncated { .. })
        ));
    }

    #[test]
    fn no_panic_on_arbitrary_bytes() {
        // A small deterministic generator: garbage, and garbage behind each signature.
        let mut x: u32 = 0x1234_5678;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for round in 0..2000 {
            let len = (next() % 300) as usize;
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    // Plenty of zeros and ones, to make start codes.
                    if r % 4 == 0 {
                        0
                    } else if r % 7 == 0 {
                        1
                    } else {
                        r as u8
                    }
                })
                .collect();
            let prefix = match round % 3 {
                0 => vec![0, 0, 0, 1],
                1 => good_ivf_head(),
                _ => Vec::new(),
            };
            bytes.splice(0..0, prefix);
            let _ = read_all(&bytes);
        }
    }

    fn good_ivf_head() -> Vec<u8> {
        ivf_bytes(Codec::Vp8, &[])
    }

    #[test]
    fn annex_b_output_is_the_access_units_end_to_end() {
        let aus = [idr(b"\x11"), p(b"\x22\x33")];
        let mut w = FrameWriter::new(Vec::new(), Container::AnnexB, IvfHeader::default()).unwrap();
        for au in &aus {
            w.write_frame(au, 0).unwrap();
        }
        assert_eq!((w.frames(), w.bytes()), (2, aus.concat().len() as u64));
        let out = w.finish().unwrap();
        assert_eq!(out, aus.concat());
        let (_, frames) = read_all(&out).unwrap();
        assert_eq!(frames.len(), 2);
    }

    #[test]
    fn ivf_header_defaults_and_containers() {
        let w = FrameWriter::new(Vec::new(), Container::Ivf, IvfHeader::default()).unwrap();
        assert_eq!(w.bytes(), 32);
        let out = w.finish().unwrap();
        assert_eq!(&out[8..12], b"H264");
        assert_eq!(u16::from_le_bytes([out[12], out[13]]), 1280);
        assert_eq!(u16::from_le_bytes([out[14], out[15]]), 720);
        assert_eq!(u32::from_le_bytes([out[16], out[17], out[18], out[19]]), 30);
        assert_eq!(u32::from_le_bytes([out[20], out[21], out[22], out[23]]), 1);
        let (info, frames) = read_all(&out).unwrap();
        assert_eq!((info.announced_frames, frames.len()), (Some(0), 0));

        assert_eq!(Container::for_output(Path::new("a.IVF")), Container::Ivf);
        assert_eq!(
            Container::for_output(Path::new("a.h264")),
            Container::AnnexB
        );
        assert_eq!(Container::for_output(Path::new("-")), Container::AnnexB);
        assert_eq!(Codec::from_fourcc(*b"vp80"), Codec::Vp8);
        assert_eq!(Codec::from_fourcc(*b"avc1"), Codec::H264);
        assert!(has_idr(&idr(b"")) && !has_idr(&p(b"")) && !has_idr(b""));
    }
}
