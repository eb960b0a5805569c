//! Inputs of image edits and video jobs (see [`Input`]).

use serde_json::Value;

use super::file::FileInput;
use super::registry::{InputSchema, Model};
use crate::Error;

/// The longest prompt, in characters.
pub const MAX_PROMPT_CHARS: usize = 1000;

/// One multipart field: a name and a text or file value.
#[derive(Debug)]
pub struct Field {
    /// The field (part) name.
    pub name: String,
    /// The value.
    pub value: FieldValue,
}

impl Field {
    /// A text field.
    pub fn text(name: impl Into<String>, value: impl Into<String>) -> Field {
        Field {
            name: name.into(),
            value: FieldValue::Text(value.into()),
        }
    }

    /// A file field.
    pub fn file(name: impl Into<String>, file: impl Into<FileInput>) -> Field {
        Field {
            name: name.into(),
            value: FieldValue::File(file.into()),
        }
    }
}

/// The value of a multipart [`Field`].
#[derive(Debug)]
pub enum FieldValue {
    /// A text part, already encoded (`true`, `42`, `{"a":1}`, …).
    Text(String),
    /// A file part.
    File(FileInput),
}

impl FieldValue {
    /// The text, for a text value.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            FieldValue::Text(t) => Some(t),
            FieldValue::File(_) => None,
        }
    }

    /// The file, for a file value.
    pub fn as_file(&self) -> Option<&FileInput> {
        match self {
            FieldValue::Text(_) => None,
            FieldValue::File(f) => Some(f),
        }
    }
}

/// The wire text of a boolean: `true` or `false`.
fn bool_text(b: bool) -> String {
    if b { "true" } else { "false" }.to_owned()
}

/// Checks that the model's schema (if it has one) is the input's.
fn check_schema(model: &Model, schema: InputSchema) -> Result<(), Error> {
    match model.input_schema() {
        Some(expected) if expected != schema => Err(Error::invalid_input(
            "input",
            format!(
                "{}: this {} model takes {} input ({}), got {} input ({})",
                model.name(),
                model.kind(),
                expected,
                expected.input_type_name(),
                schema,
                schema.input_type_name()
            ),
        )),
        _ => Ok(()),
    }
}

/// Checks the length of a prompt: `min..=1000` characters.
fn check_prompt(model: &Model, prompt: &str, min: usize) -> Result<(), Error> {
    let n = prompt.chars().count();
    if n < min || n > MAX_PROMPT_CHARS {
        let rule = if min == 0 {
            format!("at most {MAX_PROMPT_CHARS}")
        } else {
            format!("{min}–{MAX_PROMPT_CHARS}")
        };
        return Err(Error::invalid_input(
            "prompt",
            format!(
                "{}: prompt must be {rule} characters, got {n}",
                model.name()
            ),
        ));
    }
    Ok(())
}

fn required(model: &Model, field: &str) -> Error {
    Error::invalid_input(field, format!("{}: {field} is required", model.name()))
}

fn check_file(file: Option<&FileInput>, field: &str) -> Result<(), Error> {
    match file {
        Some(f) => f.check(field),
        None => Ok(()),
    }
}

/// The options every schema shares, pushed in wire order.
fn push_common(
    fields: &mut Vec<Field>,
    prompt: Option<String>,
    seed: Option<u64>,
    resolution: Option<String>,
    enhance_prompt: Option<bool>,
    data: Option<FileInput>,
    reference_image: Option<FileInput>,
) {
    if let Some(p) = prompt {
        fields.push(Field::text("prompt", p));
    }
    if let Some(s) = seed {
        fields.push(Field::text("seed", s.to_string()));
    }
    if let Some(r) = resolution {
        fields.push(Field::text("resolution", r));
    }
    if let Some(e) = enhance_prompt {
        fields.push(Field::text("enhance_prompt", bool_text(e)));
    }
    if let Some(d) = data {
        fields.push(Field::file("data", d));
    }
    if let Some(r) = reference_image {
        fields.push(Field::file("reference_image", r));
    }
}

macro_rules! common_setters {
    () => {
        /// Sets the file to edit (field `data`): a path, bytes, a reader or a URL.
        pub fn data(mut self, data: impl Into<FileInput>) -> Self {
            self.data = Some(data.into());
            self
        }

        /// Sets a reference image (field `reference_image`).
        pub fn reference_image(mut self, image: impl Into<FileInput>) -> Self {
            self.reference_image = Some(image.into());
            self
        }

        /// Sets the random seed (field `seed`).
        pub fn seed(mut self, seed: u64) -> Self {
            self.seed = Some(seed);
            self
        }

        /// Sets the output resolution, e.g. `720p` (field `resolution`).
        pub fn resolution(mut self, resolution: impl Into<String>) -> Self {
            self.resolution = Some(resolution.into());
            self
        }

        /// Sets whether the server may enhance the prompt (field `enhance_prompt`).
        pub fn enhance_prompt(mut self, enhance: bool) -> Self {
            self.enhance_prompt = Some(enhance);
            self
        }
    };
}

/// The rules shared by image and video edits: the schema, a required prompt of at least
/// `min_prompt` characters (at most 1000), a required `data` file, an optional reference image.
fn check_prompted(
    model: &Model,
    schema: InputSchema,
    prompt: Option<&str>,
    min_prompt: usize,
    data: Option<&FileInput>,
    reference_image: Option<&FileInput>,
) -> Result<(), Error> {
    check_schema(model, schema)?;
    let prompt = prompt.ok_or_else(|| required(model, "prompt"))?;
    check_prompt(model, prompt, min_prompt)?;
    check_file(Some(data.ok_or_else(|| required(model, "data"))?), "data")?;
    check_file(reference_image, "reference_image")
}

/// Inputs of an image edit ([`InputSchema::ImageEdit`]): a prompt of 1–1000 characters and
/// an image (`data`), both required; optional reference image, seed, resolution and
/// `enhance_prompt`.
#[derive(Debug, Default)]
pub struct ImageEditInput {
    prompt: Option<String>,
    data: Option<FileInput>,
    reference_image: Option<FileInput>,
    seed: Option<u64>,
    resolution: Option<String>,
    enhance_prompt: Option<bool>,
}

impl ImageEditInput {
    /// An image edit with its two required fields.
    pub fn new(prompt: impl Into<String>, data: impl Into<FileInput>) -> Self {
        ImageEditInput {
            prompt: Some(prompt.into()),
            data: Some(data.into()),
            ..Default::default()
        }
    }

    /// Sets the prompt (field `prompt`, 1–1000 characters).
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    common_setters!();

    /// Checks the inputs against the model's schema and the rules above.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the model takes another schema (field `input`), the prompt
    /// or the data is missing, the prompt is empty or longer than 1000 characters, or a URL
    /// given through `From<Url>` is not http(s).
    pub fn validate(&self, model: &Model) -> Result<(), Error> {
        check_prompted(
            model,
            InputSchema::ImageEdit,
            self.prompt.as_deref(),
            1,
            self.data.as_ref(),
            self.reference_image.as_ref(),
        )
    }

    /// The multipart fields, in wire order (no validation).
    pub fn into_fields(self) -> Vec<Field> {
        let mut fields = Vec::with_capacity(6);
        push_common(
            &mut fields,
            self.prompt,
            self.seed,
            self.resolution,
            self.enhance_prompt,
            self.data,
            self.reference_image,
        );
        fields
    }
}

/// Inputs of a video edit ([`InputSchema::VideoEdit`]): a prompt (required, may be empty, at
/// most 1000 characters) and a video (`data`, required); an optional reference image, which
/// may be combined with the prompt; optional seed, resolution and `enhance_prompt`.
#[derive(Debug, Default)]
pub struct VideoEditInput {
    prompt: Option<String>,
    data: Option<FileInput>,
    reference_image: Option<FileInput>,
    seed: Option<u64>,
    resolution: Option<String>,
    enhance_prompt: Option<bool>,
}

impl VideoEditInput {
    /// A video edit with its two required fields (the prompt may be empty, e.g. to edit from
    /// a reference image alone).
    pub fn new(prompt: impl Into<String>, data: impl Into<FileInput>) -> Self {
        VideoEditInput {
            prompt: Some(prompt.into()),
            data: Some(data.into()),
            ..Default::default()
        }
    }

    /// Sets the prompt (field `prompt`, 0–1000 characters; sent even when empty).
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    common_setters!();

    /// Checks the inputs against the model's schema and the rules above.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the model takes another schema (field `input`), the prompt
    /// or the data is missing, the prompt is longer than 1000 characters, or a URL given
    /// through `From<Url>` is not http(s).
    pub fn validate(&self, model: &Model) -> Result<(), Error> {
        check_prompted(
            model,
            InputSchema::VideoEdit,
            self.prompt.as_deref(),
            0,
            self.data.as_ref(),
            self.reference_image.as_ref(),
        )
    }

    /// The multipart fields, in wire order (no validation).
    pub fn into_fields(self) -> Vec<Field> {
        let mut fields = Vec::with_capacity(6);
        push_common(
            &mut fields,
            self.prompt,
            self.seed,
            self.resolution,
            self.enhance_prompt,
            self.data,
            self.reference_image,
        );
        fields
    }
}

/// Inputs of a video restyle ([`InputSchema::VideoRestyle`]): a video (`data`, required) and
/// exactly one of a prompt (1–1000 characters) or a reference image; `enhance_prompt` only
/// with a prompt; optional seed and resolution.
///
/// ```
/// use decart::models;
/// use decart::{FileInput, VideoRestyleInput};
///
/// let model = models::video("lucy-restyle-2")?;
/// VideoRestyleInput::new(FileInput::path("in.mp4")).prompt("anime").validate(&model)?;
/// VideoRestyleInput::new(FileInput::path("in.mp4"))
///     .reference_image(FileInput::path("style.png"))
///     .validate(&model)?;
///
/// let neither = VideoRestyleInput::new(FileInput::path("in.mp4")).validate(&model);
/// assert!(neither.is_err());
/// # Ok::<(), decart::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct VideoRestyleInput {
    prompt: Option<String>,
    data: Option<FileInput>,
    reference_image: Option<FileInput>,
    seed: Option<u64>,
    resolution: Option<String>,
    enhance_prompt: Option<bool>,
}

impl VideoRestyleInput {
    /// A restyle of `data`; add exactly one of [`prompt`](Self::prompt) or
    /// [`reference_image`](Self::reference_image).
    pub fn new(data: impl Into<FileInput>) -> Self {
        VideoRestyleInput {
            data: Some(data.into()),
            ..Default::default()
        }
    }

    /// Sets the prompt (field `prompt`, 1–1000 characters).
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    common_setters!();

    /// Checks the inputs against the model's schema and the rules above.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the model takes another schema (field `input`), the data
    /// is missing, both or neither of prompt (field `reference_image` / `prompt`) and reference
    /// image are given, the prompt is empty or longer than 1000 characters, `enhance_prompt`
    /// is given without a prompt, or a URL given through `From<Url>` is not http(s).
    pub fn validate(&self, model: &Model) -> Result<(), Error> {
        check_schema(model, InputSchema::VideoRestyle)?;
        let name = model.name();
        match (&self.prompt, &self.reference_image) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid_input(
                    "reference_image",
                    format!("{name}: give either prompt or reference_image, not both"),
                ));
            }
            (None, None) => {
                return Err(Error::invalid_input(
                    "prompt",
                    format!("{name}: give either prompt or reference_image (neither was given)"),
                ));
            }
            (Some(prompt), None) => check_prompt(model, prompt, 1)?,
            (None, Some(_)) => {
                if self.enhance_prompt.is_some() {
                    return Err(Error::invalid_input(
                        "enhance_prompt",
                        format!(
                            "{name}: enhance_prompt is only valid with a prompt, not with reference_image"
                        ),
                    ));
                }
            }
        }
        check_file(
            Some(self.data.as_ref().ok_or_else(|| required(model, "data"))?),
            "data",
        )?;
        check_file(self.reference_image.as_ref(), "reference_image")
    }

    /// The multipart fields, in wire order (no validation).
    pub fn into_fields(self) -> Vec<Field> {
        let mut fields = Vec::with_capacity(6);
        push_common(
            &mut fields,
            self.prompt,
            self.seed,
            self.resolution,
            self.enhance_prompt,
            self.data,
            self.reference_image,
        );
        fields
    }
}

/// Inputs for any model, sent as given: an ordered list of fields with no schema check.
///
/// Meant for custom models ([`Model::custom`]) and for fields the SDK does not know yet. Files
/// go in file fields (`data`, `reference_image`, or `start` and `end` for first/last-frame
/// models); other values are encoded by the wire rules of [`Input`].
///
/// ```
/// use decart::{CustomInput, FileInput};
/// use serde_json::json;
///
/// let input = CustomInput::new()
///     .text("prompt", "a cat")
///     .float("custom_strength", 0.7)
///     .json("trajectory", json!([{"frame": 0, "x": 1, "y": 2}]))
///     .json("optional", serde_json::Value::Null) // omitted
///     .file("start", FileInput::path("first.png"))
///     .file("end", FileInput::path("last.png"));
/// let texts: Vec<_> = input.fields().iter().filter_map(|f| f.value.as_text()).collect();
/// assert_eq!(texts, ["a cat", "0.7", r#"[{"frame":0,"x":1,"y":2}]"#]);
/// ```
#[derive(Debug, Default)]
pub struct CustomInput {
    fields: Vec<Field>,
}

impl CustomInput {
    /// No fields yet.
    pub fn new() -> Self {
        CustomInput::default()
    }

    /// Adds a text field, sent as is.
    pub fn text(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push(Field::text(name, value));
        self
    }

    /// Adds a boolean field, sent as `true` or `false`.
    pub fn bool(mut self, name: impl Into<String>, value: bool) -> Self {
        self.fields.push(Field::text(name, bool_text(value)));
        self
    }

    /// Adds an integer field, sent in decimal.
    pub fn int(mut self, name: impl Into<String>, value: impl Into<i128>) -> Self {
        self.fields
            .push(Field::text(name, value.into().to_string()));
        self
    }

    /// Adds a number field, sent in Rust's shortest round-trip decimal form (`0.7`, `2`).
    pub fn float(mut self, name: impl Into<String>, value: f64) -> Self {
        self.fields.push(Field::text(name, value.to_string()));
        self
    }

    /// Adds a JSON value: objects and arrays are sent as compact JSON, strings as is, booleans
    /// as `true`/`false`, numbers in JSON form; `null` adds nothing.
    pub fn json(mut self, name: impl Into<String>, value: Value) -> Self {
        let text = match value {
            Value::Null => return self,
            Value::String(s) => s,
            Value::Bool(b) => bool_text(b),
            Value::Number(n) => n.to_string(),
            other @ (Value::Array(_) | Value::Object(_)) => other.to_string(),
        };
        self.fields.push(Field::text(name, text));
        self
    }

    /// Adds a file field.
    pub fn file(mut self, name: impl Into<String>, file: impl Into<FileInput>) -> Self {
        self.fields.push(Field::file(name, file));
        self
    }

    /// Adds a field as is.
    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }

    /// The fields so far, in order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Checks the only thing there is to check: that a URL given through `From<Url>` is
    /// http(s).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field: the field's name) for a non-http(s) URL.
    pub fn validate(&self, _model: &Model) -> Result<(), Error> {
        for f in &self.fields {
            if let FieldValue::File(file) = &f.value {
                file.check(&f.name)?;
            }
        }
        Ok(())
    }

    /// The fields, in the order they were added.
    pub fn into_fields(self) -> Vec<Field> {
        self.fields
    }
}

/// The inputs of an image edit or a video job, of any schema.
///
/// Build one with `From` from a typed input or a [`CustomInput`], then
/// [`validate`](Input::validate) it against the model and take its
/// [`fields`](Input::into_fields), or do both with [`into_fields_for`](Input::into_fields_for).
///
/// A typed input must match the model's schema; with a model that has none (custom and
/// realtime models) its own rules still apply. A [`CustomInput`] is accepted with any model
/// and is not checked: it is the escape hatch.
///
/// ```
/// use decart::models;
/// use decart::{FileInput, Input, VideoRestyleInput};
///
/// let model = models::video("lucy-2.1")?; // a video edit model
/// let input = Input::from(VideoRestyleInput::new(FileInput::path("in.mp4")).prompt("anime"));
/// let err = input.validate(&model).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid input: input: lucy-2.1: this video model takes video edit input \
///      (VideoEditInput), got video restyle input (VideoRestyleInput)"
/// );
/// # Ok::<(), decart::Error>(())
/// ```
///
/// Inputs of image edits and video jobs: typed builders per input schema, their validation,
/// and their encoding into an ordered list of multipart fields.
///
/// | type | schema | models |
/// |---|---|---|
/// | [`ImageEditInput`] | [`InputSchema::ImageEdit`] | image models |
/// | [`VideoEditInput`] | [`InputSchema::VideoEdit`] | lucy-2.x, lucy-vton-*, lucy-latest, lucy-vton-latest |
/// | [`VideoRestyleInput`] | [`InputSchema::VideoRestyle`] | lucy-restyle-2, lucy-restyle-latest, lucy-restyle-v2v |
/// | [`CustomInput`] | none | any model, custom models above all: fields sent as given |
///
/// Validation happens before any request and fails with [`Error::InvalidInput`], whose
/// `field` names the field and whose message names the model and the rule. Prompt lengths
/// count characters (Unicode scalar values), not bytes.
///
/// # Wire encoding
///
/// [`Input::into_fields`] gives the multipart fields in a fixed order: the text fields
/// `prompt`, `seed`, `resolution`, `enhance_prompt`, then the file fields `data`,
/// `reference_image`. Strings are sent as is, booleans as `true`/`false`, integers in decimal,
/// JSON objects and arrays as compact JSON; absent values are omitted.
///
/// ```
/// use decart::models;
/// use decart::{FieldValue, FileInput, ImageEditInput, Input};
///
/// let model = models::image("lucy-image-2")?;
/// let input = ImageEditInput::new("Make it a watercolor", FileInput::path("photo.jpg"))
///     .seed(42)
///     .enhance_prompt(false);
/// let fields = Input::from(input).into_fields_for(&model)?;
///
/// let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
/// assert_eq!(names, ["prompt", "seed", "enhance_prompt", "data"]);
/// assert_eq!(fields[1].value.as_text(), Some("42"));
/// assert_eq!(fields[2].value.as_text(), Some("false"));
/// assert!(matches!(fields[3].value, FieldValue::File(_)));
/// # Ok::<(), decart::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Input {
    /// An image edit.
    ImageEdit(ImageEditInput),
    /// A video edit.
    VideoEdit(VideoEditInput),
    /// A video restyle.
    VideoRestyle(VideoRestyleInput),
    /// Fields sent as given.
    Custom(CustomInput),
}

impl Input {
    /// The schema of a typed input; `None` for [`Input::Custom`].
    pub fn schema(&self) -> Option<InputSchema> {
        match self {
            Input::ImageEdit(_) => Some(InputSchema::ImageEdit),
            Input::VideoEdit(_) => Some(InputSchema::VideoEdit),
            Input::VideoRestyle(_) => Some(InputSchema::VideoRestyle),
            Input::Custom(_) => None,
        }
    }

    /// Checks the input against the model (see the type's docs).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the field, the model and the rule broken.
    pub fn validate(&self, model: &Model) -> Result<(), Error> {
        match self {
            Input::ImageEdit(i) => i.validate(model),
            Input::VideoEdit(i) => i.validate(model),
            Input::VideoRestyle(i) => i.validate(model),
            Input::Custom(i) => i.validate(model),
        }
    }

    /// The multipart fields in wire order, without validation.
    pub fn into_fields(self) -> Vec<Field> {
        match self {
            Input::ImageEdit(i) => i.into_fields(),
            Input::VideoEdit(i) => i.into_fields(),
            Input::VideoRestyle(i) => i.into_fields(),
            Input::Custom(i) => i.into_fields(),
        }
    }

    /// Validates against the model, then gives the multipart fields in wire order.
    ///
    /// # Errors
    ///
    /// As [`Input::validate`].
    pub fn into_fields_for(self, model: &Model) -> Result<Vec<Field>, Error> {
        self.validate(model)?;
        Ok(self.into_fields())
    }

    /// Whether every file can be sent again (no one-shot reader), so the request may be
    /// retried.
    pub fn is_replayable(&self) -> bool {
        let files: Vec<&FileInput> = match self {
            Input::ImageEdit(i) => [&i.data, &i.reference_image]
                .into_iter()
                .flatten()
                .collect(),
            Input::VideoEdit(i) => [&i.data, &i.reference_image]
                .into_iter()
                .flatten()
                .collect(),
            Input::VideoRestyle(i) => [&i.data, &i.reference_image]
                .into_iter()
                .flatten()
                .collect(),
            Input::Custom(i) => i.fields.iter().filter_map(|f| f.value.as_file()).collect(),
        };
        files.iter().all(|f| f.is_replayable())
    }
}

impl From<ImageEditInput> for Input {
    fn from(i: ImageEditInput) -> Self {
        Input::ImageEdit(i)
    }
}

impl From<VideoEditInput> for Input {
    fn from(i: VideoEditInput) -> Self {
        Input::VideoEdit(i)
    }
}

impl From<VideoRestyleInput> for Input {
    fn from(i: VideoRestyleInput) -> Self {
        Input::VideoRestyle(i)
    }
}

impl From<CustomInput> for Input {
    fn from(i: CustomInput) -> Self {
        Input::Custom(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::registry;

    #[test]
    fn prompt_rule_wording() {
        let m = registry::image("lucy-image-2").unwrap();
        let e = check_prompt(&m, &"a".repeat(1001), 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid input: prompt: lucy-image-2: prompt must be 1–1000 characters, got 1001"
        );
        let v = registry::video("lucy-2.1").unwrap();
        let e = check_prompt(&v, &"a".repeat(1001), 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid input: prompt: lucy-2.1: prompt must be at most 1000 characters, got 1001"
        );
        assert!(check_prompt(&v, "", 0).is_ok());
    }
}
