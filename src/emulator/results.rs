//! Results derived from the uploaded bytes, so a test can check the round trip.

use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

use super::util::hex;

/// The first line of every image-edit result.
pub const IMAGE_MAGIC: &[u8] = b"DECART-EMU-IMAGE\n";
/// The first line of every video-job result.
pub const VIDEO_MAGIC: &[u8] = b"DECART-EMU-VIDEO\n";
/// How many leading bytes of the input a result echoes, at most.
pub const ECHO_LEN: usize = 1024;

/// The length, SHA-256 and first bytes of an upload, computed as it streams.
#[derive(Clone)]
pub(crate) struct Digest {
    pub len: u64,
    pub sha256: [u8; 32],
    pub prefix: Vec<u8>,
}

/// Computes a [`Digest`] piece by piece.
pub(crate) struct Hasher {
    sha: Sha256,
    len: u64,
    prefix: Vec<u8>,
    keep: usize,
}

impl Hasher {
    /// Keeps the first `keep` bytes.
    pub(crate) fn new(keep: usize) -> Self {
        Hasher {
            sha: Sha256::new(),
            len: 0,
            prefix: Vec::new(),
            keep,
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.len += bytes.len() as u64;
        let room = self.keep.saturating_sub(self.prefix.len());
        self.prefix
            .extend_from_slice(&bytes[..room.min(bytes.len())]);
    }

    pub(crate) fn finish(self) -> Digest {
        Digest {
            len: self.len,
            sha256: self.sha.finalize().into(),
            prefix: self.prefix,
        }
    }
}

impl Digest {
    pub(crate) fn of(input: &[u8]) -> Digest {
        let mut h = Hasher::new(ECHO_LEN);
        h.update(input);
        h.finish()
    }

    /// `magic`, `len=<n> sha256=<hex>\n`, then the first [`ECHO_LEN`] bytes of the input.
    pub(crate) fn header(&self, magic: &[u8]) -> Vec<u8> {
        let mut out = magic.to_vec();
        out.extend_from_slice(
            format!("len={} sha256={}\n", self.len, hex(&self.sha256)).as_bytes(),
        );
        out.extend_from_slice(&self.prefix[..self.prefix.len().min(ECHO_LEN)]);
        out
    }
}

/// What `POST /v1/generate/{model}` answers for the uploaded `data` bytes `input`:
///
/// ```text
/// DECART-EMU-IMAGE\n
/// len=<decimal length of input> sha256=<64 lower-case hex digits>\n
/// <the first min(len, 1024) bytes of input>
/// ```
pub fn expected_image_result(input: &[u8]) -> Vec<u8> {
    Digest::of(input).header(IMAGE_MAGIC)
}

/// What `GET /v1/jobs/{id}/content` answers for a job whose `data` was `input`, when the
/// emulator's video result size is `size` (`None`: the natural size).
///
/// The natural result is built like [`expected_image_result`] with [`VIDEO_MAGIC`] as its first
/// line. A larger `size` pads it: the byte at offset `i` (counted from the start of the whole
/// result) is `i % 251`. A smaller `size` cuts it.
pub fn expected_video_result(input: &[u8], size: Option<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    // Reading a Vec-backed reader into a Vec cannot fail.
    let _ = video_result_reader(input, size).read_to_end(&mut out);
    out
}

/// The same bytes as [`expected_video_result`], produced on the fly (for results too large to
/// hold).
pub fn video_result_reader(input: &[u8], size: Option<u64>) -> DerivedResult {
    DerivedResult::new(Digest::of(input).header(VIDEO_MAGIC), size)
}

/// A derived result as a stream: a head, then a deterministic filler up to the size.
#[derive(Debug, Clone)]
pub struct DerivedResult {
    head: Vec<u8>,
    pos: u64,
    size: u64,
}

/// The filler's period (a prime, so it never lines up with buffer sizes).
const PERIOD: usize = 251;

impl DerivedResult {
    pub(crate) fn new(head: Vec<u8>, size: Option<u64>) -> Self {
        let size = size.unwrap_or(head.len() as u64);
        DerivedResult { head, pos: 0, size }
    }

    /// The total length in bytes.
    pub fn len(&self) -> u64 {
        self.size
    }

    /// Whether the result is empty.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
}

impl Read for DerivedResult {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let left = self.size - self.pos;
        let n = out.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let out = &mut out[..n];
        let mut i = 0;
        while i < n {
            let pos = self.pos + i as u64;
            if pos < self.head.len() as u64 {
                let from = pos as usize;
                let k = (self.head.len() - from).min(n - i);
                out[i..i + k].copy_from_slice(&self.head[from..from + k]);
                i += k;
            } else {
                let phase = (pos % PERIOD as u64) as usize;
                let k = (PERIOD - phase).min(n - i);
                out[i..i + k].copy_from_slice(&FILLER[phase..phase + k]);
                i += k;
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// `FILLER[i] == i`, for `i < 251`.
const FILLER: [u8; PERIOD] = {
    let mut t = [0u8; PERIOD];
    let mut i = 0;
    while i < PERIOD {
        t[i] = i as u8;
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_format() {
        let r = expected_image_result(b"abc");
        let expected = format!(
            "DECART-EMU-IMAGE\nlen=3 sha256={}\nabc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(r, expected.as_bytes());
        let big = vec![7u8; 5000];
        let r = expected_image_result(&big);
        assert!(r.ends_with(&[7u8; ECHO_LEN]));
        assert_eq!(
            r.len(),
            IMAGE_MAGIC.len() + "len=5000 sha256=\n".len() + 64 + ECHO_LEN
        );
    }

    #[test]
    fn video_sizes() {
        let natural = expected_video_result(b"xyz", None);
        assert!(natural.starts_with(VIDEO_MAGIC));
        assert_eq!(expected_video_result(b"xyz", Some(5)), &natural[..5]);
        let big = expected_video_result(b"xyz", Some(10_000));
        assert_eq!(big.len(), 10_000);
        assert_eq!(&big[..natural.len()], &natural[..]);
        for (i, b) in big.iter().enumerate().skip(natural.len()) {
            assert_eq!(usize::from(*b), i % 251, "offset {i}");
        }
        // Reading in odd pieces gives the same bytes.
        let mut r = video_result_reader(b"xyz", Some(10_000));
        let mut pieces = Vec::new();
        let mut buf = [0u8; 97];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            pieces.extend_from_slice(&buf[..n]);
        }
        assert_eq!(pieces, big);
        assert_eq!(expected_video_result(b"", Some(0)), b"");
    }

    #[test]
    fn streamed_digest_matches() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let mut h = Hasher::new(ECHO_LEN);
        for chunk in data.chunks(999) {
            h.update(chunk);
        }
        assert_eq!(h.finish().header(IMAGE_MAGIC), expected_image_result(&data));
    }
}
