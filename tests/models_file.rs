//! FileInput: sources, filename and content-type guessing, replayability and Debug.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use decart::Error;
use decart::models::DEFAULT_CONTENT_TYPE;
use decart::{FileInput, FileSource};

#[test]
fn path_gives_filename_and_guessed_content_type() {
    let cases = [
        ("clips/input.mp4", "input.mp4", "video/mp4"),
        ("/tmp/photo.jpg", "photo.jpg", "image/jpeg"),
        ("photo.JPEG", "photo.JPEG", "image/jpeg"),
        ("ref.png", "ref.png", "image/png"),
        ("ref.PNG", "ref.PNG", "image/png"),
        ("look.webp", "look.webp", "image/webp"),
        ("clip.mov", "clip.mov", "video/quicktime"),
        ("clip.webm", "clip.webm", "video/webm"),
        ("notes.unknownext", "notes.unknownext", DEFAULT_CONTENT_TYPE),
        ("Makefile", "Makefile", DEFAULT_CONTENT_TYPE),
        ("dir/.hidden", ".hidden", DEFAULT_CONTENT_TYPE),
    ];
    for (path, name, ct) in cases {
        let f = FileInput::path(path);
        assert_eq!(f.filename().as_deref(), Some(name), "{path}");
        assert_eq!(f.content_type(), ct, "{path}");
        assert!(f.is_replayable());
        assert_eq!(f.known_len(), None);
        assert_eq!(f.explicit_content_type(), None);
    }
    assert_eq!(DEFAULT_CONTENT_TYPE, "application/octet-stream");
}

#[test]
fn path_is_not_touched_at_construction() {
    let f = FileInput::path("/definitely/not/here/video.mp4");
    assert_eq!(f.filename().as_deref(), Some("video.mp4"));
    match f.into_source() {
        FileSource::Path(p) => assert_eq!(p, PathBuf::from("/definitely/not/here/video.mp4")),
        other => panic!("{other:?}"),
    }
    // A path with no file name.
    assert_eq!(FileInput::path("/").filename(), None);
    assert_eq!(FileInput::path("/").content_type(), DEFAULT_CONTENT_TYPE);
}

#[test]
fn given_filename_and_content_type_win() {
    let f = FileInput::path("a.mp4")
        .with_filename("b.png")
        .with_content_type("video/x-custom");
    assert_eq!(f.filename().as_deref(), Some("b.png"));
    assert_eq!(f.content_type(), "video/x-custom");
    assert_eq!(f.explicit_content_type(), Some("video/x-custom"));

    let f = FileInput::path("a.mp4").with_filename("b.png");
    assert_eq!(f.content_type(), "image/png");
}

#[test]
fn bytes() {
    let f = FileInput::bytes(vec![1, 2, 3]);
    assert_eq!(f.filename(), None);
    assert_eq!(f.content_type(), DEFAULT_CONTENT_TYPE);
    assert_eq!(f.known_len(), Some(3));
    assert!(f.is_replayable());

    let f = FileInput::bytes(&b"abc"[..]).with_filename("x.jpg");
    assert_eq!(f.filename().as_deref(), Some("x.jpg"));
    assert_eq!(f.content_type(), "image/jpeg");

    // try_clone shares the bytes.
    let shared: Arc<[u8]> = Arc::from(&b"shared"[..]);
    let f = FileInput::bytes(Arc::clone(&shared)).with_content_type("image/png");
    let c = f.try_clone().unwrap();
    assert_eq!(c.content_type(), "image/png");
    match (f.source(), c.source()) {
        (FileSource::Bytes(a), FileSource::Bytes(b)) => {
            assert!(Arc::ptr_eq(a, b));
            assert!(Arc::ptr_eq(a, &shared));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn reader_is_one_shot() {
    let f = FileInput::reader(&b"hello"[..]);
    assert!(!f.is_replayable());
    assert!(f.try_clone().is_none());
    assert_eq!(f.known_len(), None);
    assert_eq!(f.filename(), None);
    assert_eq!(f.content_type(), DEFAULT_CONTENT_TYPE);

    let f = FileInput::reader(&b"hello"[..])
        .with_len(5)
        .with_filename("clip.mp4");
    assert_eq!(f.known_len(), Some(5));
    assert_eq!(f.content_type(), "video/mp4");
    assert_eq!(
        format!("{f:?}"),
        r#"FileInput { source: Reader { len: Some(5) }, filename: Some("clip.mp4"), content_type: None }"#
    );
    match f.into_source() {
        FileSource::Reader { mut reader, len } => {
            assert_eq!(len, Some(5));
            let mut s = String::new();
            reader.read_to_string(&mut s).unwrap();
            assert_eq!(s, "hello");
        }
        other => panic!("{other:?}"),
    }

    // with_len has no effect on other sources.
    assert_eq!(FileInput::path("a").with_len(9).known_len(), None);
    assert_eq!(
        FileInput::bytes(vec![0; 2]).with_len(9).known_len(),
        Some(2)
    );
}

#[test]
fn url_inputs() {
    let f = FileInput::url("https://example.com/media/cat.jpg?sig=abc").unwrap();
    assert_eq!(f.filename().as_deref(), Some("cat.jpg"));
    assert_eq!(f.content_type(), "image/jpeg");
    assert!(f.is_replayable());
    assert!(f.try_clone().is_some());
    match f.source() {
        FileSource::Url(u) => assert_eq!(u.as_str(), "https://example.com/media/cat.jpg?sig=abc"),
        other => panic!("{other:?}"),
    }

    let f = FileInput::url("http://example.com/videos/my%20clip.mp4").unwrap();
    assert_eq!(f.filename().as_deref(), Some("my clip.mp4"));
    assert_eq!(f.content_type(), "video/mp4");

    // No last segment: no filename, octet-stream.
    for u in [
        "https://example.com",
        "https://example.com/",
        "https://example.com/dir/",
    ] {
        let f = FileInput::url(u).unwrap();
        assert_eq!(f.filename(), None, "{u}");
        assert_eq!(f.content_type(), DEFAULT_CONTENT_TYPE);
    }

    // Surrounding whitespace is tolerated.
    assert!(FileInput::url("  https://example.com/a.png\n").is_ok());
}

#[test]
fn non_http_urls_are_rejected() {
    for (u, needle) in [
        ("ftp://example.com/a.mp4", "\"ftp\""),
        ("file:///etc/passwd", "\"file\""),
        ("data:text/plain,hi", "\"data\""),
        ("not a url", "not a valid URL"),
        ("example.com/a.mp4", "not a valid URL"),
        ("", "not a valid URL"),
    ] {
        match FileInput::url(u) {
            Err(Error::InvalidInput { field, message, .. }) => {
                assert_eq!(field, "url", "{u}");
                assert!(message.contains(needle), "{u}: {message}");
            }
            other => panic!("{u}: {other:?}"),
        }
    }
    let parsed = url::Url::parse("ws://example.com/x").unwrap();
    assert_eq!(
        FileInput::from_url(parsed).unwrap_err().code(),
        "INVALID_INPUT"
    );
}

#[test]
fn debug_never_dumps_bytes() {
    let f = FileInput::bytes(vec![0xAB; 1000]);
    let d = format!("{f:?}");
    assert_eq!(
        d,
        "FileInput { source: Bytes { len: 1000 }, filename: None, content_type: None }"
    );
    assert!(!d.contains("171"));

    let f = FileInput::path("a/b.mp4").with_content_type("video/mp4");
    assert_eq!(
        format!("{f:?}"),
        r#"FileInput { source: Path("a/b.mp4"), filename: None, content_type: Some("video/mp4") }"#
    );

    // Signed URLs: the query (and any password) is not printed.
    let f = FileInput::url("https://user:pw@example.com/a.mp4?X-Amz-Signature=secret").unwrap();
    let d = format!("{f:?}");
    assert!(!d.contains("secret") && !d.contains("pw@"), "{d}");
    assert!(d.contains("https://example.com/a.mp4?…"), "{d}");
    assert!(!d.contains("user"), "{d}");
}

#[test]
fn conversions() {
    let from_pathbuf: FileInput = PathBuf::from("x/y.png").into();
    assert_eq!(from_pathbuf.filename().as_deref(), Some("y.png"));
    let from_path: FileInput = Path::new("z.mp4").into();
    assert_eq!(from_path.content_type(), "video/mp4");
    let pb = PathBuf::from("w.gif");
    let from_ref: FileInput = (&pb).into();
    assert_eq!(from_ref.content_type(), "image/gif");
    let from_vec: FileInput = vec![1u8, 2].into();
    assert_eq!(from_vec.known_len(), Some(2));
    let from_slice: FileInput = (&[1u8, 2, 3][..]).into();
    assert_eq!(from_slice.known_len(), Some(3));
    let arc: Arc<[u8]> = Arc::from(vec![9u8; 4]);
    let from_arc: FileInput = arc.into();
    assert_eq!(from_arc.known_len(), Some(4));
    let from_url: FileInput = url::Url::parse("https://e.com/f.webp").unwrap().into();
    assert_eq!(from_url.content_type(), "image/webp");

    assert_eq!(FileInput::path("a").source().kind_str(), "path");
    assert_eq!(FileInput::bytes(vec![]).source().kind_str(), "bytes");
    assert_eq!(
        FileInput::reader(std::io::empty()).source().kind_str(),
        "reader"
    );
    assert_eq!(from_url.source().kind_str(), "url");
}

#[test]
fn file_input_is_send() {
    fn check<T: Send + 'static>() {}
    check::<FileInput>();
}
