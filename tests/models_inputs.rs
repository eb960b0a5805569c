//! Input validation (the Python SDK's test_process.py / test_queue.py / test_models.py cases)
//! and the ordered multipart fields with their text encodings.

use decart::Error;
use decart::models;
use decart::{
    CustomInput, Field, FieldValue, FileInput, ImageEditInput, Input, Model, ModelKind,
    VideoEditInput, VideoRestyleInput,
};
use serde_json::json;

fn bytes(b: &[u8]) -> FileInput {
    FileInput::bytes(b)
}

/// The field and message of an `InvalidInput` error.
fn invalid(result: Result<(), Error>) -> (String, String) {
    match result {
        Err(Error::InvalidInput { field, message, .. }) => (field, message),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

fn image2() -> Model {
    models::image("lucy-image-2").unwrap()
}

fn lucy21() -> Model {
    models::video("lucy-2.1").unwrap()
}

fn restyle2() -> Model {
    models::video("lucy-restyle-2").unwrap()
}

/// Names and text values (files shown as `<file name>`).
fn describe(fields: &[Field]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|f| {
            let v = match &f.value {
                FieldValue::Text(t) => t.clone(),
                FieldValue::File(file) => {
                    format!("<file {}>", file.filename().as_deref().unwrap_or("?"))
                }
            };
            (f.name.clone(), v)
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

// ---------------------------------------------------------------- image edit

#[test]
fn image_edit_ok() {
    let input =
        ImageEditInput::new("Apply an oil-painting treatment", bytes(b"img")).enhance_prompt(true);
    input.validate(&image2()).unwrap();
    // A deprecated alias and the -latest alias take the same schema.
    input
        .validate(&Model::lookup(ModelKind::Image, "lucy-image-latest").unwrap())
        .unwrap();
}

#[test]
fn image_edit_missing_prompt() {
    let input = ImageEditInput::default().data(bytes(b"img"));
    let (field, message) = invalid(input.validate(&image2()));
    assert_eq!(field, "prompt");
    assert_eq!(message, "lucy-image-2: prompt is required");
}

#[test]
fn image_edit_missing_data() {
    let input = ImageEditInput::default().prompt("a cat");
    let (field, message) = invalid(input.validate(&image2()));
    assert_eq!(field, "data");
    assert_eq!(message, "lucy-image-2: data is required");
}

#[test]
fn image_edit_missing_everything() {
    let (field, _) = invalid(ImageEditInput::default().validate(&image2()));
    assert_eq!(field, "prompt");
}

#[test]
fn image_edit_prompt_length() {
    let model = image2();
    let check = |p: String| ImageEditInput::new(p, bytes(b"img")).validate(&model);

    let (field, message) = invalid(check("a".repeat(1001)));
    assert_eq!(field, "prompt");
    assert_eq!(
        message,
        "lucy-image-2: prompt must be 1–1000 characters, got 1001"
    );
    check("a".repeat(1000)).unwrap();
    // Characters, not bytes: 1000 two-, three- and four-byte characters are fine.
    check("é".repeat(1000)).unwrap();
    check("日".repeat(1000)).unwrap();
    check("🦀".repeat(1000)).unwrap();
    let (_, message) = invalid(check("日".repeat(1001)));
    assert!(message.ends_with("got 1001"), "{message}");
    // Empty is too short for an image edit.
    let (field, message) = invalid(check(String::new()));
    assert_eq!(field, "prompt");
    assert_eq!(
        message,
        "lucy-image-2: prompt must be 1–1000 characters, got 0"
    );
}

#[test]
fn error_names_the_model_as_called() {
    let model = models::image("lucy-pro-i2i").unwrap();
    let err = ImageEditInput::new("a".repeat(1001), bytes(b"img"))
        .validate(&model)
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert_eq!(
        err.to_string(),
        "invalid input: prompt: lucy-pro-i2i: prompt must be 1–1000 characters, got 1001"
    );
}

// ---------------------------------------------------------------- video edit

#[test]
fn video_edit_ok_cases() {
    let model = lucy21();
    VideoEditInput::new("Restyle the scene", bytes(b"vid"))
        .enhance_prompt(true)
        .seed(42)
        .validate(&model)
        .unwrap();
    // Empty prompt plus reference image.
    VideoEditInput::new("", bytes(b"vid"))
        .reference_image(bytes(b"ref"))
        .validate(&model)
        .unwrap();
    // Prompt and reference image together.
    VideoEditInput::new("Transform the scene", bytes(b"vid"))
        .reference_image(bytes(b"ref"))
        .seed(123)
        .validate(&model)
        .unwrap();
    // Empty prompt alone is allowed too.
    VideoEditInput::new("", bytes(b"vid"))
        .validate(&model)
        .unwrap();
    VideoEditInput::new("x".repeat(1000), bytes(b"vid"))
        .validate(&model)
        .unwrap();
    for name in [
        "lucy-2.5",
        "lucy-2.6",
        "lucy-vton-3.5",
        "lucy-vton-3.6",
        "lucy-latest",
        "lucy-vton-latest",
    ] {
        VideoEditInput::new("p", bytes(b"vid"))
            .validate(&models::video(name).unwrap())
            .unwrap();
    }
}

#[test]
fn video_edit_rules() {
    let model = lucy21();
    let (field, message) =
        invalid(VideoEditInput::new("a".repeat(1001), bytes(b"vid")).validate(&model));
    assert_eq!(field, "prompt");
    assert_eq!(
        message,
        "lucy-2.1: prompt must be at most 1000 characters, got 1001"
    );

    let (field, message) = invalid(
        VideoEditInput::default()
            .data(bytes(b"vid"))
            .validate(&model),
    );
    assert_eq!(
        (field.as_str(), message.as_str()),
        ("prompt", "lucy-2.1: prompt is required")
    );

    let (field, message) = invalid(VideoEditInput::default().prompt("p").validate(&model));
    assert_eq!(
        (field.as_str(), message.as_str()),
        ("data", "lucy-2.1: data is required")
    );
}

// ---------------------------------------------------------------- video restyle

#[test]
fn restyle_either_prompt_or_reference_image() {
    let model = restyle2();
    VideoRestyleInput::new(bytes(b"vid"))
        .prompt("anime")
        .enhance_prompt(true)
        .validate(&model)
        .unwrap();
    VideoRestyleInput::new(bytes(b"vid"))
        .reference_image(bytes(b"ref"))
        .seed(7)
        .validate(&model)
        .unwrap();

    let (field, message) = invalid(
        VideoRestyleInput::new(bytes(b"vid"))
            .prompt("anime")
            .reference_image(bytes(b"ref"))
            .validate(&model),
    );
    assert_eq!(field, "reference_image");
    assert_eq!(
        message,
        "lucy-restyle-2: give either prompt or reference_image, not both"
    );

    let (field, message) = invalid(VideoRestyleInput::new(bytes(b"vid")).validate(&model));
    assert_eq!(field, "prompt");
    assert_eq!(
        message,
        "lucy-restyle-2: give either prompt or reference_image (neither was given)"
    );
}

#[test]
fn restyle_enhance_prompt_needs_a_prompt() {
    let model = models::video("lucy-restyle-v2v").unwrap();
    for enhance in [true, false] {
        let (field, message) = invalid(
            VideoRestyleInput::new(bytes(b"vid"))
                .reference_image(bytes(b"ref"))
                .enhance_prompt(enhance)
                .validate(&model),
        );
        assert_eq!(field, "enhance_prompt");
        assert_eq!(
            message,
            "lucy-restyle-v2v: enhance_prompt is only valid with a prompt, not with reference_image"
        );
    }
}

#[test]
fn restyle_prompt_length_and_data() {
    let model = models::video("lucy-restyle-latest").unwrap();
    let (field, message) = invalid(
        VideoRestyleInput::new(bytes(b"v"))
            .prompt("")
            .validate(&model),
    );
    assert_eq!(field, "prompt");
    assert_eq!(
        message,
        "lucy-restyle-latest: prompt must be 1–1000 characters, got 0"
    );
    let (_, message) = invalid(
        VideoRestyleInput::new(bytes(b"v"))
            .prompt("b".repeat(1001))
            .validate(&model),
    );
    assert!(message.ends_with("got 1001"));
    VideoRestyleInput::new(bytes(b"v"))
        .prompt("ü".repeat(1000))
        .validate(&model)
        .unwrap();

    let (field, message) = invalid(VideoRestyleInput::default().prompt("p").validate(&model));
    assert_eq!(field, "data");
    assert_eq!(message, "lucy-restyle-latest: data is required");
}

// ---------------------------------------------------------------- schema vs model

#[test]
fn wrong_schema_for_model() {
    let (field, message) = invalid(
        VideoRestyleInput::new(bytes(b"vid"))
            .prompt("anime")
            .validate(&lucy21()),
    );
    assert_eq!(field, "input");
    assert_eq!(
        message,
        "lucy-2.1: this video model takes video edit input (VideoEditInput), \
         got video restyle input (VideoRestyleInput)"
    );

    let (field, message) = invalid(VideoEditInput::new("p", bytes(b"v")).validate(&image2()));
    assert_eq!(field, "input");
    assert!(message.starts_with("lucy-image-2: this image model takes image edit input"));

    let (_, message) = invalid(ImageEditInput::new("p", bytes(b"v")).validate(&restyle2()));
    assert!(
        message.contains("video restyle input (VideoRestyleInput)"),
        "{message}"
    );

    let (_, message) = invalid(VideoEditInput::new("p", bytes(b"v")).validate(&restyle2()));
    assert!(message.starts_with("lucy-restyle-2:"), "{message}");

    // Through the Input enum, too; the schema check comes before the field rules.
    let input = Input::from(ImageEditInput::default());
    assert_eq!(invalid(input.validate(&lucy21())).0, "input");
}

#[test]
fn models_without_schema() {
    let custom = Model::custom(
        ModelKind::Video,
        "lucy_video_preview",
        "/v1/jobs/lucy_video_preview",
    )
    .unwrap();
    // A typed input with a schema-less model: its own rules still apply.
    VideoRestyleInput::new(bytes(b"v"))
        .prompt("p")
        .validate(&custom)
        .unwrap();
    let (field, message) = invalid(ImageEditInput::new("", bytes(b"v")).validate(&custom));
    assert_eq!(field, "prompt");
    assert_eq!(
        message,
        "lucy_video_preview: prompt must be 1–1000 characters, got 0"
    );
    // A realtime model has no schema either.
    VideoEditInput::new("", bytes(b"v"))
        .validate(&models::realtime("lucy-2.1").unwrap())
        .unwrap();

    // Custom inputs are not checked against any model.
    let input = Input::from(
        CustomInput::new()
            .text("prompt", "Use the custom video model")
            .file("data", bytes(b"fake video data"))
            .float("custom_strength", 0.7),
    );
    input.validate(&custom).unwrap();
    input.validate(&lucy21()).unwrap();
    assert_eq!(input.schema(), None);
}

#[test]
fn non_http_url_through_from_url_is_rejected() {
    let ftp = url::Url::parse("ftp://example.com/a.mp4").unwrap();
    let (field, message) =
        invalid(VideoEditInput::new("p", FileInput::from(ftp.clone())).validate(&lucy21()));
    assert_eq!(field, "data");
    assert!(message.contains("\"ftp\""), "{message}");

    let (field, _) = invalid(
        VideoEditInput::new("p", bytes(b"v"))
            .reference_image(ftp.clone())
            .validate(&lucy21()),
    );
    assert_eq!(field, "reference_image");

    let (field, _) = invalid(CustomInput::new().file("start", ftp).validate(&lucy21()));
    assert_eq!(field, "start");
}

// ---------------------------------------------------------------- wire fields

#[test]
fn image_edit_fields_in_order() {
    let input = ImageEditInput::new("a cat", FileInput::path("in/photo.jpg"))
        .reference_image(FileInput::path("ref.png"))
        .seed(42)
        .resolution("720p")
        .enhance_prompt(true);
    let fields = Input::from(input).into_fields_for(&image2()).unwrap();
    assert_eq!(
        describe(&fields),
        pairs(&[
            ("prompt", "a cat"),
            ("seed", "42"),
            ("resolution", "720p"),
            ("enhance_prompt", "true"),
            ("data", "<file photo.jpg>"),
            ("reference_image", "<file ref.png>"),
        ])
    );
    let data = fields[4].value.as_file().unwrap();
    assert_eq!(data.content_type(), "image/jpeg");
}

#[test]
fn absent_values_are_omitted() {
    let fields = ImageEditInput::new("a cat", FileInput::path("x.png")).into_fields();
    assert_eq!(
        describe(&fields),
        pairs(&[("prompt", "a cat"), ("data", "<file x.png>")])
    );
}

#[test]
fn video_edit_fields_keep_an_empty_prompt() {
    let input = VideoEditInput::new("", FileInput::path("in.mp4"))
        .reference_image(FileInput::path("look.webp"))
        .enhance_prompt(false)
        .seed(u64::MAX);
    let fields = Input::from(input).into_fields_for(&lucy21()).unwrap();
    assert_eq!(
        describe(&fields),
        pairs(&[
            ("prompt", ""),
            ("seed", "18446744073709551615"),
            ("enhance_prompt", "false"),
            ("data", "<file in.mp4>"),
            ("reference_image", "<file look.webp>"),
        ])
    );
}

#[test]
fn restyle_fields() {
    let with_prompt = VideoRestyleInput::new(FileInput::path("in.mp4"))
        .prompt("anime")
        .resolution("480p");
    assert_eq!(
        describe(&with_prompt.into_fields()),
        pairs(&[
            ("prompt", "anime"),
            ("resolution", "480p"),
            ("data", "<file in.mp4>")
        ])
    );
    let with_ref = VideoRestyleInput::new(FileInput::path("in.mp4"))
        .reference_image(FileInput::path("style.png"))
        .seed(0);
    assert_eq!(
        describe(&with_ref.into_fields()),
        pairs(&[
            ("seed", "0"),
            ("data", "<file in.mp4>"),
            ("reference_image", "<file style.png>"),
        ])
    );
}

#[test]
fn invalid_input_gives_no_fields() {
    let err = Input::from(ImageEditInput::new("", bytes(b"x")))
        .into_fields_for(&image2())
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
}

#[test]
fn custom_fields_as_given() {
    let input = CustomInput::new()
        .text("prompt", "Use the custom video model")
        .file("start", FileInput::path("first.png"))
        .file("end", FileInput::path("last.png"))
        .bool("flag_on", true)
        .bool("flag_off", false)
        .int("count", 7u8)
        .int("negative", -5i64)
        .int("big", u64::MAX)
        .float("custom_strength", 0.7)
        .float("whole", 2.0)
        .json("object", json!({"b": [true, null], "a": 1, "s": "x y"}))
        .json("array", json!([1, 2]))
        .json("string", json!("as is"))
        .json("bool", json!(true))
        .json("number", json!(1.5))
        .json("optional", serde_json::Value::Null)
        .text("prompt", "duplicates are kept")
        .field(Field::text("raw", "r"));
    let fields = Input::from(input).into_fields_for(&lucy21()).unwrap();
    assert_eq!(
        describe(&fields),
        pairs(&[
            ("prompt", "Use the custom video model"),
            ("start", "<file first.png>"),
            ("end", "<file last.png>"),
            ("flag_on", "true"),
            ("flag_off", "false"),
            ("count", "7"),
            ("negative", "-5"),
            ("big", "18446744073709551615"),
            ("custom_strength", "0.7"),
            ("whole", "2"),
            ("object", r#"{"a":1,"b":[true,null],"s":"x y"}"#),
            ("array", "[1,2]"),
            ("string", "as is"),
            ("bool", "true"),
            ("number", "1.5"),
            ("prompt", "duplicates are kept"),
            ("raw", "r"),
        ])
    );
}

#[test]
fn replayability() {
    let replayable = Input::from(
        VideoEditInput::new("p", FileInput::path("a.mp4")).reference_image(bytes(b"r")),
    );
    assert!(replayable.is_replayable());
    let one_shot = Input::from(VideoEditInput::new(
        "p",
        FileInput::reader(std::io::empty()),
    ));
    assert!(!one_shot.is_replayable());
    let custom = Input::from(CustomInput::new().file("data", FileInput::reader(&b"x"[..])));
    assert!(!custom.is_replayable());
    assert!(Input::from(CustomInput::new().text("a", "b")).is_replayable());
}

#[test]
fn field_value_accessors() {
    let t = Field::text("a", "b");
    assert_eq!(t.value.as_text(), Some("b"));
    assert!(t.value.as_file().is_none());
    let f = Field::file("data", bytes(b"xyz"));
    assert!(f.value.as_text().is_none());
    assert_eq!(f.value.as_file().unwrap().known_len(), Some(3));
}
