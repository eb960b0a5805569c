//! The flavour-neutral description of a `multipart/form-data` body.
//!
//! The body is a list of segments: bytes (boundaries, part heads, text values) and file sources
//! (a path, bytes, a one-shot reader, an http(s) URL). Each flavour opens the sources when the
//! request is sent and streams them; nothing here reads a file.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use crate::models::{Field, FieldValue, FileSource};

/// One piece of the body, in order.
pub(crate) enum Segment {
    /// Literal bytes: a boundary, a part head, a text value, a line break.
    Bytes(Arc<[u8]>),
    /// A file, opened when sent.
    Path(PathBuf),
    /// A one-shot reader, with its length when known.
    Reader(Box<dyn Read + Send>, Option<u64>),
    /// An http(s) URL fetched when sent.
    Url(url::Url),
}

enum Source {
    Bytes(Arc<[u8]>),
    Path(PathBuf),
    /// `None` once handed out: a reader is sent once. With its declared length.
    Reader(Option<Box<dyn Read + Send>>, Option<u64>),
    Url(url::Url),
}

/// A multipart body that can produce its segments once per attempt (or once only, when a part
/// is a one-shot reader).
pub(crate) struct Multipart {
    boundary: String,
    parts: Vec<(Arc<[u8]>, Source)>,
    tail: Arc<[u8]>,
}

impl Multipart {
    /// Encodes the fields in order.
    pub(crate) fn new(fields: Vec<Field>) -> Self {
        let boundary = format!("decart-{}", random_token(24));
        let parts = fields
            .into_iter()
            .map(|field| {
                let mut head = format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"",
                    escape(&field.name)
                );
                let source = match field.value {
                    FieldValue::Text(text) => {
                        head.push_str("\r\n\r\n");
                        let mut bytes = head.into_bytes();
                        bytes.extend_from_slice(text.as_bytes());
                        return (Arc::from(bytes), Source::Bytes(Arc::from(&b""[..])));
                    }
                    FieldValue::File(file) => {
                        let filename = file
                            .filename()
                            .map(|f| f.into_owned())
                            .unwrap_or_else(|| field.name.clone());
                        let content_type = file.content_type();
                        head.push_str(&format!(
                            "; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                            escape(&filename),
                            content_type.replace(['\r', '\n'], "")
                        ));
                        match file.into_source() {
                            FileSource::Bytes(b) => Source::Bytes(b),
                            FileSource::Path(p) => Source::Path(p),
                            FileSource::Reader { reader, len } => Source::Reader(Some(reader), len),
                            FileSource::Url(u) => Source::Url(u),
                            #[allow(unreachable_patterns)]
                            _ => Source::Bytes(Arc::from(&b""[..])),
                        }
                    }
                };
                (Arc::from(head.into_bytes()), source)
            })
            .collect();
        let tail = Arc::from(format!("--{boundary}--\r\n").into_bytes());
        Multipart {
            boundary,
            parts,
            tail,
        }
    }

    /// The `Content-Type` header value.
    pub(crate) fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// The segments of one attempt, or `None` if a one-shot reader was already sent.
    pub(crate) fn segments(&mut self) -> Option<Vec<Segment>> {
        if self
            .parts
            .iter()
            .any(|(_, s)| matches!(s, Source::Reader(None, _)))
        {
            return None;
        }
        let crlf: Arc<[u8]> = Arc::from(&b"\r\n"[..]);
        let mut out = Vec::with_capacity(self.parts.len() * 3 + 1);
        for (head, source) in &mut self.parts {
            out.push(Segment::Bytes(head.clone()));
            match source {
                Source::Bytes(b) if b.is_empty() => {}
                Source::Bytes(b) => out.push(Segment::Bytes(b.clone())),
                Source::Path(p) => out.push(Segment::Path(p.clone())),
                Source::Reader(r, len) => out.push(Segment::Reader(r.take()?, *len)),
                Source::Url(u) => out.push(Segment::Url(u.clone())),
            }
            out.push(Segment::Bytes(crlf.clone()));
        }
        out.push(Segment::Bytes(self.tail.clone()));
        Some(out)
    }
}

/// Quotes and line breaks cannot appear in a quoted header parameter; encode them the way
/// browsers do.
fn escape(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..len)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

/// The whole body as bytes, for tests of the exact encoding (paths read, URLs refused).
#[cfg(test)]
fn to_bytes(segments: Vec<Segment>) -> Vec<u8> {
    let mut out = Vec::new();
    for s in segments {
        match s {
            Segment::Bytes(b) => out.extend_from_slice(&b),
            Segment::Path(p) => out.extend(std::fs::read(p).unwrap()),
            Segment::Reader(mut r, _) => {
                r.read_to_end(&mut out).unwrap();
            }
            Segment::Url(_) => panic!("no URL in unit tests"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{CustomInput, FileInput};

    #[test]
    fn exact_bytes_for_each_value_type() {
        let fields = CustomInput::new()
            .text("prompt", "a \"cat\"")
            .bool("enhance_prompt", false)
            .int("seed", 42)
            .json("extra", serde_json::json!({"a": [1, true]}))
            .file(
                "data",
                FileInput::bytes(b"PNG!".to_vec())
                    .with_filename("in.png")
                    .with_content_type("image/png"),
            )
            .into_fields();
        let mut m = Multipart::new(fields);
        let b = m.boundary.clone();
        let body = String::from_utf8(to_bytes(m.segments().unwrap())).unwrap();
        let expected = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na \"cat\"\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"enhance_prompt\"\r\n\r\nfalse\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"seed\"\r\n\r\n42\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"extra\"\r\n\r\n{{\"a\":[1,true]}}\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"in.png\"\r\nContent-Type: image/png\r\n\r\nPNG!\r\n\
             --{b}--\r\n"
        );
        assert_eq!(body, expected);
        assert_eq!(
            m.content_type(),
            format!("multipart/form-data; boundary={b}")
        );
    }

    #[test]
    fn replayable_sources_replay_and_readers_do_not() {
        let fields = CustomInput::new()
            .file("data", FileInput::bytes(b"x".to_vec()))
            .into_fields();
        let mut m = Multipart::new(fields);
        assert!(m.segments().is_some());
        assert!(m.segments().is_some());
        let fields = CustomInput::new()
            .file(
                "data",
                FileInput::reader(std::io::Cursor::new(b"y".to_vec())),
            )
            .into_fields();
        let mut m = Multipart::new(fields);
        assert!(m.segments().is_some());
        assert!(m.segments().is_none());
    }

    #[test]
    fn filenames_are_escaped() {
        let fields = CustomInput::new()
            .file(
                "data",
                FileInput::bytes(b"x".to_vec()).with_filename("a\"b\r\nc.png"),
            )
            .into_fields();
        let mut m = Multipart::new(fields);
        let body = String::from_utf8(to_bytes(m.segments().unwrap())).unwrap();
        assert!(body.contains("filename=\"a%22b%0D%0Ac.png\""), "{body}");
    }
}
