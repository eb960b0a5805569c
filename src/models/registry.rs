//! The model registry (documented on [`crate::models`]).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use crate::Error;

/// What a model does, and so which endpoint serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ModelKind {
    /// A realtime (WebRTC) model, served at `/v1/stream`.
    Realtime,
    /// A video model: jobs submitted to `/v1/jobs/{model}` and polled.
    Video,
    /// An image model: edited synchronously at `/v1/generate/{model}`.
    Image,
}

impl ModelKind {
    /// Every kind, in a stable order.
    pub const ALL: [ModelKind; 3] = [ModelKind::Realtime, ModelKind::Video, ModelKind::Image];

    /// The lower-case name of the kind: `realtime`, `video` or `image`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Realtime => "realtime",
            ModelKind::Video => "video",
            ModelKind::Image => "image",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelKind {
    type Err = Error;

    /// Parses `realtime`, `video` or `image` (case-insensitive).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `kind`) for any other string.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::invalid_input(
                    "kind",
                    format!("unknown model kind {s:?}: expected realtime, video or image"),
                )
            })
    }
}

/// The shape of the inputs a model accepts, checked on the client before any request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InputSchema {
    /// Image edit: [`ImageEditInput`](crate::ImageEditInput).
    ImageEdit,
    /// Video edit: [`VideoEditInput`](crate::VideoEditInput).
    VideoEdit,
    /// Video restyle: [`VideoRestyleInput`](crate::VideoRestyleInput).
    VideoRestyle,
}

impl InputSchema {
    /// A short human name: `image edit`, `video edit` or `video restyle`.
    pub fn as_str(self) -> &'static str {
        match self {
            InputSchema::ImageEdit => "image edit",
            InputSchema::VideoEdit => "video edit",
            InputSchema::VideoRestyle => "video restyle",
        }
    }

    /// The name of the SDK type that carries inputs of this schema (`ImageEditInput`, …).
    pub fn input_type_name(self) -> &'static str {
        match self {
            InputSchema::ImageEdit => "ImageEditInput",
            InputSchema::VideoEdit => "VideoEditInput",
            InputSchema::VideoRestyle => "VideoRestyleInput",
        }
    }
}

impl fmt::Display for InputSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A realtime speed tier a model may offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RealtimeSpeed {
    /// Served from a higher-compute tier for lower latency and higher throughput.
    Fast,
}

impl RealtimeSpeed {
    /// The wire value: `fast`.
    pub fn as_str(self) -> &'static str {
        match self {
            RealtimeSpeed::Fast => "fast",
        }
    }
}

impl fmt::Display for RealtimeSpeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a model's name stands: canonical, an alias, or custom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModelStatus {
    /// A canonical registry name.
    Canonical,
    /// A `-latest` name, resolved by the server to its newest model of that line.
    Latest,
    /// A deprecated alias that still works; use `replacement` instead.
    Deprecated {
        /// The canonical name to use instead.
        replacement: &'static str,
    },
    /// Built with [`Model::custom`]: not in the registry.
    Custom,
}

const FAST: &[RealtimeSpeed] = &[RealtimeSpeed::Fast];
const NONE: &[RealtimeSpeed] = &[];

/// One row of the static registry.
struct Entry {
    kind: ModelKind,
    name: &'static str,
    url_path: &'static str,
    fps: u32,
    width: u32,
    height: u32,
    schema: Option<InputSchema>,
    speeds: &'static [RealtimeSpeed],
    status: ModelStatus,
}

macro_rules! entry {
    ($kind:ident, $name:literal, $path:expr, $fps:literal, $w:literal x $h:literal,
     $schema:expr, $speeds:expr, $status:expr) => {
        Entry {
            kind: ModelKind::$kind,
            name: $name,
            url_path: $path,
            fps: $fps,
            width: $w,
            height: $h,
            schema: $schema,
            speeds: $speeds,
            status: $status,
        }
    };
}

use InputSchema::{ImageEdit, VideoEdit, VideoRestyle};
use ModelStatus::{Canonical, Latest};

const fn deprecated(replacement: &'static str) -> ModelStatus {
    ModelStatus::Deprecated { replacement }
}

/// The registry (Python SDK 0.2.4, the newest). Order within a kind is the listing order.
static REGISTRY: &[Entry] = &[
    // Realtime: /v1/stream, 30 fps, no input schema.
    entry!(Realtime, "lucy-2.1", "/v1/stream", 30, 1280 x 720, None, NONE, Canonical),
    entry!(Realtime, "lucy-2.5", "/v1/stream", 30, 1280 x 720, None, FAST, Canonical),
    entry!(Realtime, "lucy-2.6", "/v1/stream", 30, 1280 x 720, None, FAST, Canonical),
    entry!(Realtime, "lucy-vton-3.5", "/v1/stream", 30, 1280 x 720, None, FAST, Canonical),
    entry!(Realtime, "lucy-vton-3.6", "/v1/stream", 30, 1280 x 720, None, FAST, Canonical),
    entry!(Realtime, "lucy-restyle-2", "/v1/stream", 30, 1280 x 704, None, NONE, Canonical),
    entry!(Realtime, "lucy-latest", "/v1/stream", 30, 1280 x 720, None, FAST, Latest),
    entry!(Realtime, "lucy-vton-latest", "/v1/stream", 30, 1280 x 720, None, FAST, Latest),
    entry!(Realtime, "lucy-restyle-latest", "/v1/stream", 30, 1280 x 704, None, NONE, Latest),
    // Video: /v1/jobs/{name}.
    entry!(Video, "lucy-2.1", "/v1/jobs/lucy-2.1", 20, 1280 x 720, Some(VideoEdit), NONE, Canonical),
    entry!(Video, "lucy-2.5", "/v1/jobs/lucy-2.5", 20, 1280 x 720, Some(VideoEdit), NONE, Canonical),
    entry!(Video, "lucy-2.6", "/v1/jobs/lucy-2.6", 20, 1280 x 720, Some(VideoEdit), NONE, Canonical),
    entry!(Video, "lucy-vton-3.5", "/v1/jobs/lucy-vton-3.5", 20, 1280 x 720, Some(VideoEdit), NONE, Canonical),
    entry!(Video, "lucy-vton-3.6", "/v1/jobs/lucy-vton-3.6", 20, 1280 x 720, Some(VideoEdit), NONE, Canonical),
    entry!(Video, "lucy-restyle-2", "/v1/jobs/lucy-restyle-2", 22, 1280 x 704, Some(VideoRestyle), NONE, Canonical),
    entry!(Video, "lucy-latest", "/v1/jobs/lucy-latest", 20, 1280 x 720, Some(VideoEdit), NONE, Latest),
    entry!(Video, "lucy-vton-latest", "/v1/jobs/lucy-vton-latest", 20, 1280 x 720, Some(VideoEdit), NONE, Latest),
    entry!(Video, "lucy-restyle-latest", "/v1/jobs/lucy-restyle-latest", 22, 1280 x 704, Some(VideoRestyle), NONE, Latest),
    entry!(Video, "lucy-restyle-v2v", "/v1/jobs/lucy-restyle-v2v", 22, 1280 x 704, Some(VideoRestyle), NONE, deprecated("lucy-restyle-2")),
    // Image: /v1/generate/{name}.
    entry!(Image, "lucy-image-2", "/v1/generate/lucy-image-2", 25, 1280 x 704, Some(ImageEdit), NONE, Canonical),
    entry!(Image, "lucy-image-latest", "/v1/generate/lucy-image-latest", 25, 1280 x 704, Some(ImageEdit), NONE, Latest),
    entry!(Image, "lucy-pro-i2i", "/v1/generate/lucy-pro-i2i", 25, 1280 x 704, Some(ImageEdit), NONE, deprecated("lucy-image-2")),
];

/// A model: its kind, name, URL path, frame rate, frame size, input schema and speed tiers.
///
/// Cheap to clone (registry models borrow static data). Get one from the registry with
/// [`video`], [`image`], [`realtime`] or [`Model::lookup`], or describe an unlisted one with
/// [`Model::custom`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Model {
    kind: ModelKind,
    name: Cow<'static, str>,
    url_path: Cow<'static, str>,
    fps: u32,
    width: u32,
    height: u32,
    schema: Option<InputSchema>,
    speeds: &'static [RealtimeSpeed],
    status: ModelStatus,
}

impl Model {
    /// Looks a model up by kind and name.
    ///
    /// The first lookup of a deprecated alias in the process logs a warning (see the
    /// [module docs](crate::models)); `-latest` names never warn.
    ///
    /// # Errors
    ///
    /// [`Error::ModelNotFound`] when no model of that kind has that name.
    ///
    /// ```
    /// use decart::{Model, ModelKind};
    ///
    /// let m = Model::lookup(ModelKind::Image, "lucy-image-2")?;
    /// assert_eq!(m.url_path(), "/v1/generate/lucy-image-2");
    ///
    /// let err = Model::lookup(ModelKind::Video, "foo").unwrap_err();
    /// assert_eq!(err.to_string(), "Model foo not found");
    /// assert_eq!(err.code(), "MODEL_NOT_FOUND");
    /// # Ok::<(), decart::Error>(())
    /// ```
    pub fn lookup(kind: ModelKind, name: &str) -> Result<Model, Error> {
        let entry = find(kind, name).ok_or_else(|| Error::ModelNotFound {
            name: name.to_owned(),
        })?;
        if let ModelStatus::Deprecated { replacement } = entry.status {
            warn_deprecated(entry.name, replacement);
        }
        Ok(Model::from_entry(entry))
    }

    /// Describes a model that is not in the registry: any name, any URL path (relative to the
    /// base URL, e.g. `/v1/jobs/my-preview-model`), and no input schema, so its inputs are sent
    /// as given.
    ///
    /// The frame rate and size default to those of the kind's current models (realtime 30 fps
    /// 1280×720, video 20 fps 1280×720, image 25 fps 1280×704); change them with
    /// [`with_fps`](Model::with_fps) and [`with_size`](Model::with_size).
    ///
    /// ```
    /// use decart::{Model, ModelKind};
    ///
    /// let m = Model::custom(ModelKind::Video, "lucy_video_preview", "/v1/jobs/lucy_video_preview")?
    ///     .with_fps(24);
    /// assert_eq!(m.name(), "lucy_video_preview");
    /// assert_eq!(m.input_schema(), None);
    /// assert!(m.is_custom());
    /// // A path must start with `/`: glued to the base URL, anything else could change the host.
    /// assert!(Model::custom(ModelKind::Video, "x", ".example.com/x").is_err());
    /// # Ok::<(), decart::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a blank name, or a URL path that does not start with `/`,
    /// starts with `//`, has a `..` or `.` segment, a query or fragment (`?`, `#`), a
    /// backslash, white space or control characters.
    pub fn custom(
        kind: ModelKind,
        name: impl Into<String>,
        url_path: impl Into<String>,
    ) -> Result<Model, Error> {
        let (name, url_path) = (name.into(), url_path.into());
        if name.trim().is_empty() {
            return Err(Error::invalid_input("name", "a model needs a name"));
        }
        if let Some(problem) = path_problem(&url_path) {
            return Err(Error::invalid_input(
                "url_path",
                format!("{url_path:?}: {problem}"),
            ));
        }
        let (fps, width, height) = match kind {
            ModelKind::Realtime => (30, 1280, 720),
            ModelKind::Video => (20, 1280, 720),
            ModelKind::Image => (25, 1280, 704),
        };
        Ok(Model {
            kind,
            name: Cow::Owned(name),
            url_path: Cow::Owned(url_path),
            fps,
            width,
            height,
            schema: None,
            speeds: NONE,
            status: ModelStatus::Custom,
        })
    }

    /// Sets the frame rate (useful for custom models).
    pub fn with_fps(mut self, fps: u32) -> Model {
        self.fps = fps;
        self
    }

    /// Sets the frame size in pixels (useful for custom models).
    pub fn with_size(mut self, width: u32, height: u32) -> Model {
        self.width = width;
        self.height = height;
        self
    }

    fn from_entry(e: &'static Entry) -> Model {
        Model {
            kind: e.kind,
            name: Cow::Borrowed(e.name),
            url_path: Cow::Borrowed(e.url_path),
            fps: e.fps,
            width: e.width,
            height: e.height,
            schema: e.schema,
            speeds: e.speeds,
            status: e.status,
        }
    }

    /// The model's kind.
    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    /// The model's name as sent to the API (an alias keeps its own name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The path of the model's endpoint, relative to the base URL: `/v1/jobs/lucy-2.1`,
    /// `/v1/generate/lucy-image-2`, `/v1/stream`.
    pub fn url_path(&self) -> &str {
        &self.url_path
    }

    /// Frames per second.
    pub fn fps(&self) -> u32 {
        self.fps
    }

    /// Frame width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Frame height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The input schema checked before a request, or `None` (realtime and custom models).
    pub fn input_schema(&self) -> Option<InputSchema> {
        self.schema
    }

    /// The realtime speed tiers this model offers (empty: standard mode only).
    pub fn speeds(&self) -> &'static [RealtimeSpeed] {
        self.speeds
    }

    /// Whether this model offers the speed tier.
    pub fn supports_speed(&self, speed: RealtimeSpeed) -> bool {
        self.speeds.contains(&speed)
    }

    /// Whether the name is canonical, an alias, or custom.
    pub fn status(&self) -> ModelStatus {
        self.status
    }

    /// Whether this is a deprecated alias.
    pub fn is_deprecated(&self) -> bool {
        matches!(self.status, ModelStatus::Deprecated { .. })
    }

    /// Whether this is a `-latest` name resolved by the server.
    pub fn is_latest_alias(&self) -> bool {
        self.status == ModelStatus::Latest
    }

    /// Whether this model was built with [`Model::custom`].
    pub fn is_custom(&self) -> bool {
        self.status == ModelStatus::Custom
    }

    /// The canonical name: a deprecated alias's replacement, else the model's own name
    /// (including `-latest` names, which only the server resolves).
    pub fn canonical_name(&self) -> &str {
        match self.status {
            ModelStatus::Deprecated { replacement } => replacement,
            _ => &self.name,
        }
    }
}

impl fmt::Display for Model {
    /// The model's name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

fn find(kind: ModelKind, name: &str) -> Option<&'static Entry> {
    REGISTRY.iter().find(|e| e.kind == kind && e.name == name)
}

/// Looks up a realtime model by name.
///
/// # Errors
///
/// [`Error::ModelNotFound`] when no realtime model has that name.
pub fn realtime(name: &str) -> Result<Model, Error> {
    Model::lookup(ModelKind::Realtime, name)
}

/// Looks up a video model by name.
///
/// # Errors
///
/// [`Error::ModelNotFound`] when no video model has that name.
///
/// ```
/// let m = decart::models::video("lucy-restyle-2")?;
/// assert_eq!((m.width(), m.height(), m.fps()), (1280, 704, 22));
/// # Ok::<(), decart::Error>(())
/// ```
pub fn video(name: &str) -> Result<Model, Error> {
    Model::lookup(ModelKind::Video, name)
}

/// Looks up an image model by name.
///
/// # Errors
///
/// [`Error::ModelNotFound`] when no image model has that name.
pub fn image(name: &str) -> Result<Model, Error> {
    Model::lookup(ModelKind::Image, name)
}

/// The canonical models of a kind, in registry order: no deprecated aliases and no `-latest`
/// names (those are aliases too, resolved by the server). See [`list_all`] for every name.
///
/// ```
/// let names: Vec<_> = decart::models::list(decart::ModelKind::Image)
///     .iter()
///     .map(|m| m.name().to_owned())
///     .collect();
/// assert_eq!(names, ["lucy-image-2"]);
/// ```
pub fn list(kind: ModelKind) -> Vec<Model> {
    REGISTRY
        .iter()
        .filter(|e| e.kind == kind && e.status == ModelStatus::Canonical)
        .map(Model::from_entry)
        .collect()
}

/// Every name the registry accepts for a kind, aliases included, in registry order
/// (canonical names, then `-latest` names, then deprecated aliases). Never warns.
pub fn list_all(kind: ModelKind) -> Vec<Model> {
    REGISTRY
        .iter()
        .filter(|e| e.kind == kind)
        .map(Model::from_entry)
        .collect()
}

/// Resolves a deprecated alias to its canonical name (`lucy-pro-i2i` → `lucy-image-2`);
/// any other name, `-latest` names and unknown names included, is returned unchanged.
/// Never warns.
///
/// ```
/// use decart::models::resolve_alias;
///
/// assert_eq!(resolve_alias("lucy-restyle-v2v"), "lucy-restyle-2");
/// assert_eq!(resolve_alias("lucy-latest"), "lucy-latest");
/// assert_eq!(resolve_alias("anything"), "anything");
/// ```
pub fn resolve_alias(name: &str) -> &str {
    REGISTRY
        .iter()
        .find_map(|e| match e.status {
            ModelStatus::Deprecated { replacement } if e.name == name => Some(replacement),
            _ => None,
        })
        .unwrap_or(name)
}

/// Remembers which deprecated aliases were already warned about.
struct WarnOnce {
    seen: Mutex<Vec<&'static str>>,
}

impl WarnOnce {
    const fn new() -> Self {
        WarnOnce {
            seen: Mutex::new(Vec::new()),
        }
    }

    /// True the first time a name is seen, false afterwards.
    fn first(&self, name: &'static str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(&name) {
            false
        } else {
            seen.push(name);
            true
        }
    }
}

static WARNED: WarnOnce = WarnOnce::new();

/// The warning text for a deprecated alias.
pub(crate) fn deprecation_message(name: &str, replacement: &str) -> String {
    format!("Model \"{name}\" is deprecated. Use \"{replacement}\" instead.")
}

/// Logs the deprecation warning the first time in the process; returns whether it did.
pub(crate) fn warn_deprecated(name: &'static str, replacement: &'static str) -> bool {
    warn_with(&WARNED, name, replacement)
}

fn warn_with(state: &WarnOnce, name: &'static str, replacement: &'static str) -> bool {
    if state.first(name) {
        log::warn!("{}", deprecation_message(name, replacement));
        true
    } else {
        false
    }
}

/// Why a custom model's URL path cannot be joined to the base URL, if it cannot.
fn path_problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        return Some("the path must start with `/`");
    }
    if path.starts_with("//") {
        return Some("the path must not start with `//`");
    }
    if path.contains(['?', '#']) {
        return Some("the path must not have a query or fragment");
    }
    if path.contains('\\') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("the path must not contain backslashes, white space or control characters");
    }
    // URL normalisation resolves `%2e` like `.`, in any case.
    let dots = |segment: &str| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    };
    if path.split('/').any(dots) {
        return Some("the path must not have `.` or `..` segments");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warn_once_per_alias() {
        let state = WarnOnce::new();
        assert!(warn_with(&state, "lucy-pro-i2i", "lucy-image-2"));
        assert!(!warn_with(&state, "lucy-pro-i2i", "lucy-image-2"));
        assert!(warn_with(&state, "lucy-restyle-v2v", "lucy-restyle-2"));
        assert!(!warn_with(&state, "lucy-restyle-v2v", "lucy-restyle-2"));
        assert!(!warn_with(&state, "lucy-pro-i2i", "lucy-image-2"));
    }

    #[test]
    fn message_text() {
        assert_eq!(
            deprecation_message("lucy-pro-i2i", "lucy-image-2"),
            "Model \"lucy-pro-i2i\" is deprecated. Use \"lucy-image-2\" instead."
        );
    }

    #[test]
    fn names_unique_per_kind_and_paths_consistent() {
        for (i, a) in REGISTRY.iter().enumerate() {
            for b in &REGISTRY[i + 1..] {
                assert!(!(a.kind == b.kind && a.name == b.name), "{}", a.name);
            }
            let expected = match a.kind {
                ModelKind::Realtime => "/v1/stream".to_owned(),
                ModelKind::Video => format!("/v1/jobs/{}", a.name),
                ModelKind::Image => format!("/v1/generate/{}", a.name),
            };
            assert_eq!(a.url_path, expected);
            assert_eq!(a.status == ModelStatus::Latest, a.name.ends_with("-latest"));
            if let ModelStatus::Deprecated { replacement } = a.status {
                let target = find(a.kind, replacement).expect("alias target exists");
                assert_eq!(target.status, ModelStatus::Canonical);
                assert_eq!(target.schema, a.schema);
            }
        }
    }

    #[test]
    fn kind_from_str() {
        assert_eq!("Video".parse::<ModelKind>().unwrap(), ModelKind::Video);
        assert_eq!(
            "realtime".parse::<ModelKind>().unwrap(),
            ModelKind::Realtime
        );
        assert_eq!(
            "bogus".parse::<ModelKind>().unwrap_err().code(),
            "INVALID_INPUT"
        );
    }
}
