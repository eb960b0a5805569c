//! A streaming `multipart/form-data` reader over any [`Read`], with bounded memory.
//!
//! No maintained synchronous streaming parser exists on crates.io (`multer` and its kin are
//! async-only; `multipart` 0.18 is unmaintained and pulls unmaintained crates), so this is a
//! small one: part heads are parsed by `httparse`, boundaries found with `memchr::memmem`, and
//! part bodies handed to the caller piece by piece as they arrive, never collected. Memory is
//! one fixed buffer ([`BUF_SIZE`]) whatever the size of the upload.
//!
//! Bounds: boundary 1–70 characters (RFC 2046), part heads at most [`MAX_PART_HEAD`] bytes and
//! [`MAX_PART_HEADERS`] fields, at most [`MAX_PARTS`] parts.

use std::io::{self, Read};

use memchr::memmem::Finder;

/// The read buffer.
const BUF_SIZE: usize = 64 * 1024;
/// A part's header block, at most.
pub(crate) const MAX_PART_HEAD: usize = 8 * 1024;
/// A part's header fields, at most.
pub(crate) const MAX_PART_HEADERS: usize = 16;
/// Parts in one body, at most.
pub(crate) const MAX_PARTS: usize = 64;

/// What went wrong.
#[derive(Debug)]
pub(crate) enum MultipartError {
    /// The body is not well-formed multipart (answer 400).
    Malformed(String),
    /// Reading the body failed (a timeout, a reset): the connection is unusable.
    Io(io::Error),
}

impl std::fmt::Display for MultipartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MultipartError::Malformed(m) => write!(f, "malformed multipart body: {m}"),
            MultipartError::Io(e) => write!(f, "could not read the body: {e}"),
        }
    }
}

fn malformed(msg: impl Into<String>) -> MultipartError {
    MultipartError::Malformed(msg.into())
}

/// The head of one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartHead {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for the first delimiter (skipping any preamble).
    Preamble,
    /// Just past a delimiter: `--` (end) or a line break and a part head follow.
    AfterDelimiter,
    /// Inside a part's body.
    InBody,
    /// Past the closing delimiter.
    Finished,
}

/// The reader.
pub(crate) struct Multipart<R> {
    inner: R,
    finder: Finder<'static>,
    delimiter_len: usize,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    state: State,
    parts: usize,
}

/// The boundary of a `multipart/form-data` content type, if it is one.
///
/// `Err` with a reason for other content types or a missing or invalid boundary.
pub(crate) fn boundary(content_type: &str) -> Result<String, String> {
    let (mime, params) = split_params(content_type);
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return Err(format!(
            "Content-Type must be multipart/form-data, got {:?}",
            mime
        ));
    }
    let boundary = params
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v)
        .ok_or("multipart/form-data without a boundary")?;
    if boundary.is_empty() || boundary.len() > 70 {
        return Err("the multipart boundary must be 1 to 70 characters".into());
    }
    if !boundary.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err("the multipart boundary must be printable ASCII".into());
    }
    Ok(boundary)
}

impl<R: Read> Multipart<R> {
    /// A reader of `inner`'s parts, delimited by `boundary` (from [`boundary`]).
    pub(crate) fn new(inner: R, boundary: &str) -> Self {
        let delimiter = format!("\r\n--{boundary}").into_bytes();
        let delimiter_len = delimiter.len();
        let mut buf = vec![0u8; BUF_SIZE].into_boxed_slice();
        // The body starts with `--boundary`, without the line break that precedes every later
        // delimiter: pretend there was one, so every delimiter looks the same.
        buf[..2].copy_from_slice(b"\r\n");
        Multipart {
            inner,
            finder: Finder::new(&delimiter).into_owned(),
            delimiter_len,
            buf,
            start: 0,
            end: 2,
            eof: false,
            state: State::Preamble,
            parts: 0,
        }
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads more; returns false at end of input.
    fn fill(&mut self) -> Result<bool, MultipartError> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(malformed("part head too large"));
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(MultipartError::Io(e)),
            }
        }
    }

    /// Moves to the next part and returns its head; `None` after the last part. Any unread
    /// body of the current part is skipped.
    pub(crate) fn next_part(&mut self) -> Result<Option<PartHead>, MultipartError> {
        loop {
            match self.state {
                State::Finished => return Ok(None),
                State::Preamble | State::InBody => {
                    self.skip_body()?;
                }
                State::AfterDelimiter => break,
            }
        }
        // After a delimiter: `--` closes the body; else optional white space and CRLF.
        loop {
            let avail = self.available();
            if avail.len() >= 2 && &avail[..2] == b"--" {
                self.state = State::Finished;
                return Ok(None);
            }
            let ws = avail
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t'))
                .count();
            if avail.len() >= ws + 2 {
                if &avail[ws..ws + 2] != b"\r\n" {
                    return Err(malformed("delimiter not followed by a line break"));
                }
                self.start += ws + 2;
                break;
            }
            if avail.len() > 256 {
                return Err(malformed("delimiter followed by junk"));
            }
            if !self.fill()? {
                return Err(malformed("body ends inside a delimiter"));
            }
        }
        self.parts += 1;
        if self.parts > MAX_PARTS {
            return Err(malformed(format!("more than {MAX_PARTS} parts")));
        }
        // The part's header block, up to and including the empty line.
        let head = loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_PART_HEADERS];
            match httparse::parse_headers(self.available(), &mut headers) {
                Ok(httparse::Status::Complete((used, _))) if used > MAX_PART_HEAD => {
                    return Err(malformed("part head too large"));
                }
                Ok(httparse::Status::Complete((used, headers))) => {
                    let head = part_head(headers)?;
                    self.start += used;
                    break head;
                }
                Ok(httparse::Status::Partial) => {
                    if self.available().len() >= MAX_PART_HEAD {
                        return Err(malformed("part head too large"));
                    }
                    if !self.fill()? {
                        return Err(malformed("body ends inside a part head"));
                    }
                }
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(malformed("too many header fields in a part"));
                }
                Err(_) => return Err(malformed("invalid part head")),
            }
        };
        self.state = State::InBody;
        Ok(Some(head))
    }

    fn skip_body(&mut self) -> Result<(), MultipartError> {
        while self.read_body(&mut |_| {})? {}
        Ok(())
    }

    /// Hands the next piece(s) of the current part's body to `sink`; returns false once the
    /// part has ended (its closing delimiter consumed).
    pub(crate) fn read_body(
        &mut self,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<bool, MultipartError> {
        if !matches!(self.state, State::InBody | State::Preamble) {
            return Ok(false);
        }
        let preamble = self.state == State::Preamble;
        loop {
            if let Some(i) = self.finder.find(self.available()) {
                if !preamble {
                    sink(&self.buf[self.start..self.start + i]);
                }
                self.start += i + self.delimiter_len;
                self.state = State::AfterDelimiter;
                return Ok(false);
            }
            // No delimiter: everything but a possible partial delimiter at the end is data.
            let keep = self.delimiter_len - 1;
            let avail = self.available().len();
            if avail > keep {
                let n = avail - keep;
                if !preamble {
                    sink(&self.buf[self.start..self.start + n]);
                }
                self.start += n;
                if !self.eof {
                    // Give the caller this piece before reading on.
                    if !self.fill()? && self.available().len() < self.delimiter_len {
                        return Err(malformed("body ends before the closing delimiter"));
                    }
                    return Ok(true);
                }
            }
            if !self.fill()? {
                return Err(malformed("body ends before the closing delimiter"));
            }
        }
    }
}

/// The name, filename and content type of a part, from its header fields.
fn part_head(headers: &[httparse::Header<'_>]) -> Result<PartHead, MultipartError> {
    let mut disposition = None;
    let mut content_type = None;
    for h in headers {
        let value = String::from_utf8_lossy(h.value).trim().to_owned();
        if h.name.eq_ignore_ascii_case("content-disposition") {
            disposition = Some(value);
        } else if h.name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value);
        }
    }
    let disposition = disposition.ok_or_else(|| malformed("a part has no Content-Disposition"))?;
    let (kind, params) = split_params(&disposition);
    if !kind.eq_ignore_ascii_case("form-data") {
        return Err(malformed("a part's Content-Disposition is not form-data"));
    }
    let mut name = None;
    let mut filename = None;
    let mut filename_ext = None;
    for (k, v) in params {
        match k.to_ascii_lowercase().as_str() {
            "name" => name = Some(v),
            "filename" => filename = Some(v),
            "filename*" => filename_ext = decode_ext_value(&v),
            _ => {}
        }
    }
    let name = name.ok_or_else(|| malformed("a part has no name"))?;
    Ok(PartHead {
        name,
        filename: filename_ext.or(filename),
        content_type: content_type.filter(|c| !c.is_empty()),
    })
}

/// RFC 5987 `UTF-8''percent%20encoded`.
fn decode_ext_value(v: &str) -> Option<String> {
    let mut it = v.splitn(3, '\'');
    let charset = it.next()?;
    let _lang = it.next()?;
    let value = it.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Splits `type; k=v; k="quoted \" value"` into the type and its parameters (keys as given).
pub(crate) fn split_params(value: &str) -> (&str, Vec<(String, String)>) {
    let (kind, mut rest) = match value.find(';') {
        Some(i) => (value[..i].trim(), &value[i + 1..]),
        None => (value.trim(), ""),
    };
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            break;
        }
        let Some(eq) = rest.find(['=', ';']) else {
            break;
        };
        if rest.as_bytes()[eq] == b';' {
            // A parameter without a value: skip it.
            rest = &rest[eq..];
            continue;
        }
        let key = rest[..eq].trim().to_owned();
        rest = rest[eq + 1..].trim_start();
        let val;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            out.push(next);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            val = out;
            rest = &quoted[end.min(quoted.len())..];
        } else {
            let stop = rest.find(';').unwrap_or(rest.len());
            val = rest[..stop].trim().to_owned();
            rest = &rest[stop..];
        }
        params.push((key, val));
    }
    (kind, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads in small, uneven pieces to exercise every buffer boundary.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
        n: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.n += 1;
            let k = (1 + (self.n * 7) % self.step)
                .min(out.len())
                .min(self.data.len());
            out[..k].copy_from_slice(&self.data[..k]);
            self.data = &self.data[k..];
            Ok(k)
        }
    }

    fn parse(body: &[u8], boundary: &str, step: usize) -> Result<Vec<(PartHead, Vec<u8>)>, String> {
        let mut mp = Multipart::new(
            Trickle {
                data: body,
                step,
                n: 0,
            },
            boundary,
        );
        let mut out = Vec::new();
        while let Some(head) = mp.next_part().map_err(|e| e.to_string())? {
            let mut data = Vec::new();
            while mp
                .read_body(&mut |b| data.extend_from_slice(b))
                .map_err(|e| e.to_string())?
            {}
            out.push((head, data));
        }
        Ok(out)
    }

    const BODY: &[u8] = b"preamble\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"prompt\"\r\n\r\n\
a cat\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"data\"; filename=\"in \\\"x\\\".png\"\r\n\
Content-Type: image/png\r\n\r\n\
\x89PNG\r\n--Xy not yet\r\n\r\n--XyZ  \r\n\
Content-Disposition: form-data; name=\"empty\"\r\n\r\n\
\r\n--XyZ--\r\nepilogue";

    #[test]
    fn parts_at_every_split() {
        for step in [1, 2, 3, 5, 13, 64, 100_000] {
            let parts = parse(BODY, "XyZ", step).unwrap();
            assert_eq!(parts.len(), 3, "step {step}");
            assert_eq!(parts[0].0.name, "prompt");
            assert_eq!(parts[0].1, b"a cat");
            assert_eq!(parts[1].0.name, "data");
            assert_eq!(parts[1].0.filename.as_deref(), Some("in \"x\".png"));
            assert_eq!(parts[1].0.content_type.as_deref(), Some("image/png"));
            assert_eq!(parts[1].1, b"\x89PNG\r\n--Xy not yet\r\n");
            assert_eq!(parts[2].0.name, "empty");
            assert_eq!(parts[2].1, b"");
        }
    }

    #[test]
    fn large_part_streams() {
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let mut body =
            b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n"
                .to_vec();
        body.extend_from_slice(&payload);
        body.extend_from_slice(b"\r\n--b--\r\n");
        let parts = parse(&body, "b", 100_000).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].1, payload);
    }

    #[test]
    fn malformed_bodies() {
        for (body, why) in [
            (&b""[..], "empty"),
            (
                b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxx",
                "no end",
            ),
            (
                b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--",
                "no disposition",
            ),
            (
                b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--",
                "no name",
            ),
            (
                b"--b\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--b--",
                "not form-data",
            ),
            (b"--bjunk\r\n", "junk after delimiter"),
            (b"--b\r\nno colon here\r\n\r\nx\r\n--b--", "bad header"),
        ] {
            assert!(parse(body, "b", 7).is_err(), "{why}");
        }
        let mut many = Vec::new();
        for _ in 0..=MAX_PARTS {
            many.extend_from_slice(b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n");
        }
        many.extend_from_slice(b"--b--\r\n");
        assert!(parse(&many, "b", 1000).is_err());
        let mut huge_head = b"--b\r\nContent-Disposition: form-data; name=a\r\nX-Pad: ".to_vec();
        huge_head.extend(std::iter::repeat_n(b'a', MAX_PART_HEAD));
        huge_head.extend_from_slice(b"\r\n\r\nx\r\n--b--");
        assert!(parse(&huge_head, "b", 1000).is_err());
    }

    #[test]
    fn content_types() {
        assert_eq!(
            boundary("multipart/form-data; boundary=\"a b\"").unwrap(),
            "a b"
        );
        assert_eq!(
            boundary("Multipart/Form-Data;charset=utf-8;BOUNDARY=xyz").unwrap(),
            "xyz"
        );
        assert!(boundary("application/json").is_err());
        assert!(boundary("multipart/form-data").is_err());
        assert!(boundary("multipart/form-data; boundary=").is_err());
        assert!(boundary(&format!("multipart/form-data; boundary={}", "x".repeat(71))).is_err());
    }

    #[test]
    fn extended_filename() {
        let body = b"--b\r\nContent-Disposition: form-data; name=f; filename=\"plain\"; filename*=UTF-8''caf%C3%A9.png\r\n\r\nx\r\n--b--";
        let parts = parse(body, "b", 1000).unwrap();
        assert_eq!(parts[0].0.filename.as_deref(), Some("café.png"));
    }
}
