//! Realtime subscribe tokens: encode the JS way, decode both alphabets and both JSON spellings.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use decart::Error;
use decart::models::{decode_subscribe_token, encode_subscribe_token};

#[test]
fn encode_known_rooms() {
    assert_eq!(
        encode_subscribe_token("room-42"),
        "eyJyb29tX25hbWUiOiJyb29tLTQyIn0="
    );
    assert_eq!(
        encode_subscribe_token("my room"),
        "eyJyb29tX25hbWUiOiJteSByb29tIn0="
    );
    // Standard alphabet (`+`, `/`), padded, compact JSON, non-ASCII kept as UTF-8.
    assert_eq!(
        encode_subscribe_token("?>?>~~~ü"),
        "eyJyb29tX25hbWUiOiI/Pj8+fn5+w7wifQ=="
    );
    // JSON escaping of quotes and backslashes.
    let token = encode_subscribe_token("a\"b\\c");
    let json = String::from_utf8(STANDARD.decode(&token).unwrap()).unwrap();
    assert_eq!(json, r#"{"room_name":"a\"b\\c"}"#);
}

#[test]
fn round_trip() {
    for room in [
        "room-42",
        "r",
        "a\"b\\c",
        "日本語",
        "?>?>~~~ü",
        "with space",
    ] {
        assert_eq!(
            decode_subscribe_token(&encode_subscribe_token(room)).unwrap(),
            room
        );
    }
}

#[test]
fn decode_both_alphabets_with_and_without_padding() {
    let compact = br#"{"room_name":"?>?>~~~\u00fc"}"#;
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        let token = engine.encode(compact);
        assert_eq!(
            decode_subscribe_token(&token).unwrap(),
            "?>?>~~~ü",
            "{token}"
        );
    }
    // The specific strings: `+`/`/` versus `-`/`_`.
    assert_eq!(
        decode_subscribe_token("eyJyb29tX25hbWUiOiI/Pj8+fn5+w7wifQ==").unwrap(),
        "?>?>~~~ü"
    );
    assert_eq!(
        decode_subscribe_token("eyJyb29tX25hbWUiOiI_Pj8-fn5-w7wifQ").unwrap(),
        "?>?>~~~ü"
    );
    // Surrounding whitespace is ignored.
    assert_eq!(
        decode_subscribe_token(" eyJyb29tX25hbWUiOiJyb29tLTQyIn0=\n").unwrap(),
        "room-42"
    );
}

#[test]
fn decode_python_form_with_a_space() {
    // Python: base64.urlsafe_b64encode(json.dumps({"room_name": "room-42"}).encode())
    assert_eq!(
        decode_subscribe_token("eyJyb29tX25hbWUiOiAicm9vbS00MiJ9").unwrap(),
        "room-42"
    );
    assert_eq!(
        decode_subscribe_token("eyJyb29tX25hbWUiOiAiPz4_Pn5-flx1MDBmYyJ9").unwrap(),
        "?>?>~~~ü"
    );
}

#[test]
fn extra_keys_are_ignored() {
    let token = STANDARD.encode(br#"{"room_name":"r1","other":1}"#);
    assert_eq!(decode_subscribe_token(&token).unwrap(), "r1");
}

fn rejected(token: &str) -> String {
    match decode_subscribe_token(token) {
        Err(Error::InvalidInput { field, message, .. }) => {
            assert_eq!(field, "subscribe_token", "{token}");
            assert!(
                message.starts_with("invalid subscribe token: "),
                "{message}"
            );
            message
        }
        other => panic!("{token:?}: expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn rejections() {
    let enc = |json: &str| STANDARD.encode(json.as_bytes());

    assert!(rejected("").contains("empty"));
    assert!(rejected("   ").contains("empty"));
    assert!(rejected("!!!not base64!!!").contains("not valid base64"));
    assert!(rejected("a").contains("not valid base64"));
    // Mixed alphabets.
    assert!(rejected("ab+_").contains("not valid base64"));
    assert!(rejected(&enc("not json")).contains("does not hold JSON"));
    assert!(rejected(&enc("")).contains("empty")); // encodes to ""
    assert!(rejected(&enc(" ")).contains("does not hold JSON"));
    for not_object in [r#"["room_name"]"#, r#""room""#, "42", "null", "true"] {
        assert!(
            rejected(&enc(not_object)).contains("not hold a JSON object"),
            "{not_object}"
        );
    }
    assert!(rejected(&enc("{}")).contains("no room_name"));
    assert!(rejected(&enc(r#"{"room":"r"}"#)).contains("no room_name"));
    assert!(rejected(&enc(r#"{"room_name":""}"#)).contains("is empty"));
    for bad in [
        r#"{"room_name":null}"#,
        r#"{"room_name":42}"#,
        r#"{"room_name":["r"]}"#,
        r#"{"room_name":{"a":1}}"#,
    ] {
        assert!(rejected(&enc(bad)).contains("not a string"), "{bad}");
    }
    let err = decode_subscribe_token("").unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
}
