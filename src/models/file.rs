//! File inputs for image edits, video jobs and uploads (see [`FileInput`]).

use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use url::Url;

use crate::Error;

/// The content type sent when none is given and none can be guessed.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Where a [`FileInput`]'s bytes come from.
#[non_exhaustive]
pub enum FileSource {
    /// A file on disk, opened when the request is sent.
    Path(PathBuf),
    /// Bytes in memory, shared between retries.
    Bytes(Arc<[u8]>),
    /// A one-shot reader: it can be sent once, and is never retried.
    Reader {
        /// The reader.
        reader: Box<dyn Read + Send + 'static>,
        /// Its length in bytes, when known (lets the transport send a `Content-Length`).
        len: Option<u64>,
    },
    /// An `http`/`https` URL, fetched by the SDK when the request is sent.
    Url(Url),
}

impl FileSource {
    /// A short name of the variant: `path`, `bytes`, `reader` or `url`.
    pub fn kind_str(&self) -> &'static str {
        match self {
            FileSource::Path(_) => "path",
            FileSource::Bytes(_) => "bytes",
            FileSource::Reader { .. } => "reader",
            FileSource::Url(_) => "url",
        }
    }
}

impl fmt::Debug for FileSource {
    /// Never prints the bytes (only their length) nor a URL's query or password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileSource::Path(p) => f.debug_tuple("Path").field(p).finish(),
            FileSource::Bytes(b) => f.debug_struct("Bytes").field("len", &b.len()).finish(),
            FileSource::Reader { len, .. } => f.debug_struct("Reader").field("len", len).finish(),
            FileSource::Url(u) => f.debug_tuple("Url").field(&redacted_url(u)).finish(),
        }
    }
}

/// The URL as it may be shown in `Debug`, errors and logs: no user name or password, and the
/// query and fragment (where signed URLs keep their signatures) elided.
pub(crate) fn redacted_url(u: &Url) -> String {
    let mut shown = u.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    let had_query = shown.query().is_some() || shown.fragment().is_some();
    shown.set_query(None);
    shown.set_fragment(None);
    let mut s = shown.to_string();
    if had_query {
        s.push_str("?…");
    }
    s
}

/// File inputs for image edits, video jobs and uploads, shared by both flavours.
///
/// A [`FileInput`] is one of:
///
/// - a **path**, opened lazily when the request is sent and streamed, never read whole;
/// - **bytes** already in memory (shared, so a retry can send them again);
/// - a one-shot **reader** (anything `Read + Send + 'static`), streamed once;
/// - an **http(s) URL** the SDK fetches when the request is sent.
///
/// Each carries an optional filename and content type for its multipart part. When not
/// given, the filename comes from the path (or the URL's last segment) and the content type
/// is guessed from the filename's extension, else `application/octet-stream`.
///
/// ```
/// use decart::FileInput;
///
/// let video = FileInput::path("clips/input.mp4");
/// assert_eq!(video.filename().as_deref(), Some("input.mp4"));
/// assert_eq!(video.content_type(), "video/mp4");
///
/// let image = FileInput::bytes(vec![0x89, b'P', b'N', b'G']).with_filename("ref.png");
/// assert_eq!(image.content_type(), "image/png");
/// assert_eq!(format!("{image:?}"), r#"FileInput { source: Bytes { len: 4 }, filename: Some("ref.png"), content_type: None }"#);
///
/// let remote = FileInput::url("https://example.com/media/cat.jpg")?;
/// assert_eq!(remote.filename().as_deref(), Some("cat.jpg"));
/// assert!(FileInput::url("file:///etc/passwd").is_err());
/// # Ok::<(), decart::Error>(())
/// ```
pub struct FileInput {
    source: FileSource,
    filename: Option<String>,
    content_type: Option<String>,
}

impl FileInput {
    /// A file on disk. Nothing is opened or read now: the file is opened when the request is
    /// sent, and streamed.
    pub fn path(path: impl Into<PathBuf>) -> FileInput {
        FileInput::from_source(FileSource::Path(path.into()))
    }

    /// Bytes in memory (a `Vec<u8>`, an `Arc<[u8]>`, a `&[u8]` (copied), …).
    pub fn bytes(data: impl Into<Arc<[u8]>>) -> FileInput {
        FileInput::from_source(FileSource::Bytes(data.into()))
    }

    /// A one-shot reader, streamed once. A request carrying it is never retried, since its
    /// bytes cannot be sent again. Give its length with [`with_len`](FileInput::with_len)
    /// when you know it.
    pub fn reader(reader: impl Read + Send + 'static) -> FileInput {
        FileInput::from_source(FileSource::Reader {
            reader: Box::new(reader),
            len: None,
        })
    }

    /// An `http://` or `https://` URL, fetched by the SDK when the request is sent.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `url`) when the string is not a URL, or not an http(s)
    /// URL with a host.
    pub fn url(url: &str) -> Result<FileInput, Error> {
        let parsed = Url::parse(url.trim())
            .map_err(|e| Error::invalid_input("url", format!("not a valid URL: {e}")))?;
        FileInput::from_url(parsed)
    }

    /// An already parsed URL; see [`FileInput::url`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `url`) when the URL is not an http(s) URL with a host.
    pub fn from_url(url: Url) -> Result<FileInput, Error> {
        match url_problem(&url) {
            Some(problem) => Err(Error::invalid_input("url", problem)),
            None => Ok(FileInput::from_source(FileSource::Url(url))),
        }
    }

    fn from_source(source: FileSource) -> FileInput {
        FileInput {
            source,
            filename: None,
            content_type: None,
        }
    }

    /// Sets the filename sent in the multipart part (overrides the one from a path or URL).
    pub fn with_filename(mut self, filename: impl Into<String>) -> FileInput {
        self.filename = Some(filename.into());
        self
    }

    /// Sets the content type sent in the multipart part (overrides the guess).
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> FileInput {
        self.content_type = Some(content_type.into());
        self
    }

    /// Sets the length of a reader in bytes. Has no effect on other sources, whose length
    /// is known (bytes) or found when sent (path, URL).
    pub fn with_len(mut self, len: u64) -> FileInput {
        if let FileSource::Reader { len: l, .. } = &mut self.source {
            *l = Some(len);
        }
        self
    }

    /// The filename of the part: the one given, else a path's file name, else a URL's last
    /// non-empty path segment (percent-decoded); `None` for bytes and readers without one.
    pub fn filename(&self) -> Option<Cow<'_, str>> {
        if let Some(name) = &self.filename {
            return Some(Cow::Borrowed(name));
        }
        match &self.source {
            FileSource::Path(p) => p.file_name().map(|n| n.to_string_lossy()),
            FileSource::Url(u) => u
                .path_segments()
                .and_then(|mut segments| segments.next_back())
                .filter(|s| !s.is_empty())
                .map(|s| Cow::Owned(percent_decode(s))),
            FileSource::Bytes(_) | FileSource::Reader { .. } => None,
        }
    }

    /// The content type of the part: the one given, else guessed from the filename's
    /// extension, else `application/octet-stream`.
    pub fn content_type(&self) -> String {
        if let Some(ct) = &self.content_type {
            return ct.clone();
        }
        self.filename()
            .and_then(|name| {
                Path::new(name.as_ref())
                    .extension()
                    .and_then(|ext| ext.to_str())
                    .and_then(|ext| mime_guess::from_ext(ext).first_raw())
            })
            .unwrap_or(DEFAULT_CONTENT_TYPE)
            .to_owned()
    }

    /// The content type given by the caller, if any (no guessing). A URL fetcher can prefer
    /// the server's `Content-Type` when this is `None`.
    pub fn explicit_content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The length in bytes, when known without I/O: bytes, and readers given a length.
    pub fn known_len(&self) -> Option<u64> {
        match &self.source {
            FileSource::Bytes(b) => Some(b.len() as u64),
            FileSource::Reader { len, .. } => *len,
            FileSource::Path(_) | FileSource::Url(_) => None,
        }
    }

    /// Whether the bytes can be sent again (for a retry): paths, bytes and URLs can; a
    /// reader cannot.
    pub fn is_replayable(&self) -> bool {
        !matches!(self.source, FileSource::Reader { .. })
    }

    /// A copy, for a replayable source (paths, bytes (shared, not copied), URLs); `None` for a
    /// reader.
    pub fn try_clone(&self) -> Option<FileInput> {
        let source = match &self.source {
            FileSource::Path(p) => FileSource::Path(p.clone()),
            FileSource::Bytes(b) => FileSource::Bytes(Arc::clone(b)),
            FileSource::Url(u) => FileSource::Url(u.clone()),
            FileSource::Reader { .. } => return None,
        };
        Some(FileInput {
            source,
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
        })
    }

    /// Where the bytes come from.
    pub fn source(&self) -> &FileSource {
        &self.source
    }

    /// Takes the source out (to open the path, take the reader, fetch the URL). Read
    /// [`filename`](FileInput::filename) and [`content_type`](FileInput::content_type) first.
    pub fn into_source(self) -> FileSource {
        self.source
    }
}

impl fmt::Debug for FileInput {
    /// Prints the source (a length for bytes, never their content), filename and content type.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileInput")
            .field("source", &self.source)
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .finish()
    }
}

impl From<PathBuf> for FileInput {
    fn from(path: PathBuf) -> Self {
        FileInput::path(path)
    }
}

impl From<&Path> for FileInput {
    fn from(path: &Path) -> Self {
        FileInput::path(path)
    }
}

impl From<&PathBuf> for FileInput {
    fn from(path: &PathBuf) -> Self {
        FileInput::path(path.as_path())
    }
}

impl From<Vec<u8>> for FileInput {
    fn from(data: Vec<u8>) -> Self {
        FileInput::bytes(data)
    }
}

impl From<Arc<[u8]>> for FileInput {
    fn from(data: Arc<[u8]>) -> Self {
        FileInput::bytes(data)
    }
}

impl From<&[u8]> for FileInput {
    /// Copies the bytes.
    fn from(data: &[u8]) -> Self {
        FileInput::bytes(data)
    }
}

impl From<Url> for FileInput {
    /// A URL of any scheme. Prefer [`FileInput::from_url`], which rejects non-http(s) URLs at
    /// once; a non-http(s) URL given this way is rejected when the input is validated.
    fn from(url: Url) -> Self {
        FileInput::from_source(FileSource::Url(url))
    }
}

impl FileInput {
    /// Checks what construction through `From<Url>` could not.
    pub(crate) fn check(&self, field: &str) -> Result<(), Error> {
        match &self.source {
            FileSource::Url(u) => match url_problem(u) {
                Some(problem) => Err(Error::invalid_input(field, problem)),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

/// Why the SDK cannot fetch this URL, if it cannot.
fn url_problem(url: &Url) -> Option<String> {
    match url.scheme() {
        "http" | "https" if url.host_str().is_none_or(str::is_empty) => {
            Some("the URL has no host".to_owned())
        }
        "http" | "https" => None,
        other => Some(format!(
            "unsupported URL scheme {other:?}: only http and https URLs can be fetched"
        )),
    }
}

/// Percent-decodes a URL path segment (lossy UTF-8).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("my%20cat.jpg"), "my cat.jpg");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz.png"), "%zz.png");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
    }

    #[test]
    fn redaction() {
        let u = Url::parse("https://user:secret@example.com/a.mp4?sig=abc#x").unwrap();
        let s = redacted_url(&u);
        assert!(!s.contains("secret") && !s.contains("sig"), "{s}");
        assert_eq!(s, "https://example.com/a.mp4?…");
    }
}
