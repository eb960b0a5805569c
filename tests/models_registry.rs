//! The model registry: every entry of the API contract's section 7, lookups, lists, aliases and
//! custom models. (Deprecation warnings are checked in `models_deprecation.rs`, which owns its
//! process-wide logger.)

use decart::models::{self, list, list_all, resolve_alias};
use decart::{InputSchema, Model, ModelKind, ModelStatus, RealtimeSpeed};

type Row = (
    ModelKind,
    &'static str,
    &'static str,
    u32,
    u32,
    u32,
    Option<InputSchema>,
);

const VE: Option<InputSchema> = Some(InputSchema::VideoEdit);
const VR: Option<InputSchema> = Some(InputSchema::VideoRestyle);
const IE: Option<InputSchema> = Some(InputSchema::ImageEdit);

/// Section 7 of the contract, one row per (kind, name).
const EXPECTED: &[Row] = &[
    (
        ModelKind::Realtime,
        "lucy-2.1",
        "/v1/stream",
        30,
        1280,
        720,
        None,
    ),
    (
        ModelKind::Realtime,
        "lucy-2.5",
        "/v1/stream",
        30,
        1280,
        720,
        None,
    ),
    (
        ModelKind::Realtime,
        "lucy-2.6",
        "/v1/stream",
        30,
        1280,
        720,
        None,
    ),
    (
        ModelKind::Realtime,
        "lucy-vton-3.5",
        "/v1/stream",
        30,
        1280,
        720,
        None,
    ),
    (
        ModelKind::Realtime,
        "lucy-vton-3.6",
        "/v1/stream",
        30,
        1280,
        720,
        None,
    ),
    (
        ModelKind::Realtime,
        "lucy-latest",
        "/v1/stream",
        30,
        1280,
        720,
        None,
    ),
    (
        ModelKind::Realtime,
        "lucy-vton-latest",
        "/v1/stream",
        30,
        1280,
        720,
        None,
    ),
    (
        ModelKind::Realtime,
        "lucy-restyle-2",
        "/v1/stream",
        30,
        1280,
        704,
        None,
    ),
    (
        ModelKind::Realtime,
        "lucy-restyle-latest",
        "/v1/stream",
        30,
        1280,
        704,
        None,
    ),
    (
        ModelKind::Video,
        "lucy-2.1",
        "/v1/jobs/lucy-2.1",
        20,
        1280,
        720,
        VE,
    ),
    (
        ModelKind::Video,
        "lucy-2.5",
        "/v1/jobs/lucy-2.5",
        20,
        1280,
        720,
        VE,
    ),
    (
        ModelKind::Video,
        "lucy-2.6",
        "/v1/jobs/lucy-2.6",
        20,
        1280,
        720,
        VE,
    ),
    (
        ModelKind::Video,
        "lucy-vton-3.5",
        "/v1/jobs/lucy-vton-3.5",
        20,
        1280,
        720,
        VE,
    ),
    (
        ModelKind::Video,
        "lucy-vton-3.6",
        "/v1/jobs/lucy-vton-3.6",
        20,
        1280,
        720,
        VE,
    ),
    (
        ModelKind::Video,
        "lucy-latest",
        "/v1/jobs/lucy-latest",
        20,
        1280,
        720,
        VE,
    ),
    (
        ModelKind::Video,
        "lucy-vton-latest",
        "/v1/jobs/lucy-vton-latest",
        20,
        1280,
        720,
        VE,
    ),
    (
        ModelKind::Video,
        "lucy-restyle-2",
        "/v1/jobs/lucy-restyle-2",
        22,
        1280,
        704,
        VR,
    ),
    (
        ModelKind::Video,
        "lucy-restyle-latest",
        "/v1/jobs/lucy-restyle-latest",
        22,
        1280,
        704,
        VR,
    ),
    (
        ModelKind::Video,
        "lucy-restyle-v2v",
        "/v1/jobs/lucy-restyle-v2v",
        22,
        1280,
        704,
        VR,
    ),
    (
        ModelKind::Image,
        "lucy-image-2",
        "/v1/generate/lucy-image-2",
        25,
        1280,
        704,
        IE,
    ),
    (
        ModelKind::Image,
        "lucy-image-latest",
        "/v1/generate/lucy-image-latest",
        25,
        1280,
        704,
        IE,
    ),
    (
        ModelKind::Image,
        "lucy-pro-i2i",
        "/v1/generate/lucy-pro-i2i",
        25,
        1280,
        704,
        IE,
    ),
];

const FAST_TIER: &[&str] = &[
    "lucy-2.5",
    "lucy-2.6",
    "lucy-latest",
    "lucy-vton-3.5",
    "lucy-vton-3.6",
    "lucy-vton-latest",
];

#[test]
fn every_entry_of_the_contract() {
    for &(kind, name, path, fps, width, height, schema) in EXPECTED {
        let m = Model::lookup(kind, name).unwrap_or_else(|e| panic!("{kind} {name}: {e}"));
        assert_eq!(m.kind(), kind, "{name}");
        assert_eq!(m.name(), name);
        assert_eq!(m.url_path(), path, "{kind} {name}");
        assert_eq!(m.fps(), fps, "{kind} {name}");
        assert_eq!((m.width(), m.height()), (width, height), "{kind} {name}");
        assert_eq!(m.input_schema(), schema, "{kind} {name}");
        assert!(!m.is_custom());
        let fast = kind == ModelKind::Realtime && FAST_TIER.contains(&name);
        assert_eq!(m.supports_speed(RealtimeSpeed::Fast), fast, "{kind} {name}");
        assert_eq!(m.speeds().is_empty(), !fast, "{kind} {name}");
    }
}

#[test]
fn the_registry_has_nothing_else() {
    let mut all = 0;
    for kind in ModelKind::ALL {
        for m in list_all(kind) {
            all += 1;
            assert!(
                EXPECTED.iter().any(|r| r.0 == kind && r.1 == m.name()),
                "unexpected {kind} model {}",
                m.name()
            );
        }
    }
    assert_eq!(all, EXPECTED.len());
}

#[test]
fn kind_specific_helpers() {
    assert_eq!(models::video("lucy-2.1").unwrap().fps(), 20);
    assert_eq!(models::realtime("lucy-2.1").unwrap().fps(), 30);
    assert_eq!(
        models::image("lucy-image-2").unwrap().url_path(),
        "/v1/generate/lucy-image-2"
    );
    // A name of one kind is not found in another.
    assert!(matches!(
        models::image("lucy-2.1"),
        Err(decart::Error::ModelNotFound { .. })
    ));
    assert!(models::realtime("lucy-image-2").is_err());
    assert!(models::realtime("lucy-restyle-v2v").is_err());
    assert!(models::video("lucy-pro-i2i").is_err());
}

#[test]
fn unknown_model() {
    let err = models::video("foo").unwrap_err();
    assert_eq!(err.to_string(), "Model foo not found");
    assert_eq!(err.code(), "MODEL_NOT_FOUND");
    assert!(matches!(&err, decart::Error::ModelNotFound { name, .. } if name == "foo"));
    assert!(!err.is_retryable());
    // Names are exact: no trimming, no case folding.
    assert!(models::video(" lucy-2.1").is_err());
    assert!(models::video("LUCY-2.1").is_err());
    assert!(models::video("").is_err());
}

#[test]
fn list_is_canonical_only() {
    let names = |kind| {
        list(kind)
            .into_iter()
            .map(|m| m.name().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(ModelKind::Realtime),
        [
            "lucy-2.1",
            "lucy-2.5",
            "lucy-2.6",
            "lucy-vton-3.5",
            "lucy-vton-3.6",
            "lucy-restyle-2"
        ]
    );
    assert_eq!(
        names(ModelKind::Video),
        [
            "lucy-2.1",
            "lucy-2.5",
            "lucy-2.6",
            "lucy-vton-3.5",
            "lucy-vton-3.6",
            "lucy-restyle-2"
        ]
    );
    assert_eq!(names(ModelKind::Image), ["lucy-image-2"]);
    for kind in ModelKind::ALL {
        for m in list(kind) {
            assert_eq!(m.status(), ModelStatus::Canonical);
            assert_eq!(m.canonical_name(), m.name());
        }
    }
}

#[test]
fn list_all_includes_aliases() {
    let video: Vec<String> = list_all(ModelKind::Video)
        .into_iter()
        .map(|m| m.name().to_owned())
        .collect();
    for name in [
        "lucy-latest",
        "lucy-vton-latest",
        "lucy-restyle-latest",
        "lucy-restyle-v2v",
    ] {
        assert!(video.iter().any(|n| n == name), "{name}");
    }
    let image: Vec<String> = list_all(ModelKind::Image)
        .into_iter()
        .map(|m| m.name().to_owned())
        .collect();
    assert_eq!(image, ["lucy-image-2", "lucy-image-latest", "lucy-pro-i2i"]);
}

#[test]
fn aliases_keep_their_name_and_path() {
    let m = models::video("lucy-restyle-v2v").unwrap();
    assert_eq!(m.name(), "lucy-restyle-v2v");
    assert_eq!(m.url_path(), "/v1/jobs/lucy-restyle-v2v");
    assert_eq!(m.canonical_name(), "lucy-restyle-2");
    assert!(m.is_deprecated());
    assert_eq!(
        m.status(),
        ModelStatus::Deprecated {
            replacement: "lucy-restyle-2"
        }
    );

    let m = models::image("lucy-pro-i2i").unwrap();
    assert_eq!(m.url_path(), "/v1/generate/lucy-pro-i2i");
    assert_eq!(m.canonical_name(), "lucy-image-2");

    let m = models::video("lucy-latest").unwrap();
    assert!(m.is_latest_alias());
    assert!(!m.is_deprecated());
    assert_eq!(m.canonical_name(), "lucy-latest");
    assert_eq!(m.to_string(), "lucy-latest");
}

#[test]
fn resolve_alias_helper() {
    assert_eq!(resolve_alias("lucy-restyle-v2v"), "lucy-restyle-2");
    assert_eq!(resolve_alias("lucy-pro-i2i"), "lucy-image-2");
    assert_eq!(resolve_alias("lucy-image-latest"), "lucy-image-latest");
    assert_eq!(resolve_alias("lucy-2.1"), "lucy-2.1");
    assert_eq!(resolve_alias("nope"), "nope");
}

#[test]
fn custom_model_without_schema() {
    let m = Model::custom(
        ModelKind::Video,
        "lucy_video_preview",
        "/v1/jobs/lucy_video_preview",
    )
    .unwrap();
    assert_eq!(m.name(), "lucy_video_preview");
    assert_eq!(m.url_path(), "/v1/jobs/lucy_video_preview");
    assert_eq!(m.kind(), ModelKind::Video);
    assert_eq!(m.input_schema(), None);
    assert_eq!(m.status(), ModelStatus::Custom);
    assert!(m.is_custom() && !m.is_deprecated() && !m.is_latest_alias());
    assert!(m.speeds().is_empty());
    assert_eq!((m.fps(), m.width(), m.height()), (20, 1280, 720));

    let rt = Model::custom(ModelKind::Realtime, "lucy_2_rt_preview", "/v1/stream")
        .unwrap()
        .with_fps(20)
        .with_size(1280, 720);
    assert_eq!((rt.fps(), rt.width(), rt.height()), (20, 1280, 720));
    // Any name, even a registry one, and a clone is equal.
    let c = Model::custom(ModelKind::Image, "lucy-pro-i2i", "/v1/generate/x").unwrap();
    assert_eq!(c.clone(), c);
    assert_eq!(c.canonical_name(), "lucy-pro-i2i");
    assert_ne!(c, models::image("lucy-pro-i2i").unwrap());
}

#[test]
fn kinds_and_schemas_display() {
    assert_eq!(ModelKind::Realtime.to_string(), "realtime");
    assert_eq!(ModelKind::Video.as_str(), "video");
    assert_eq!("image".parse::<ModelKind>().unwrap(), ModelKind::Image);
    let err = "audio".parse::<ModelKind>().unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert_eq!(InputSchema::VideoRestyle.to_string(), "video restyle");
    assert_eq!(InputSchema::ImageEdit.input_type_name(), "ImageEditInput");
    assert_eq!(RealtimeSpeed::Fast.as_str(), "fast");
}

#[test]
fn custom_model_paths_cannot_leave_the_base_url() {
    for bad in [
        ".example.com/x",
        "v1/jobs/x",
        "@evil.example/x",
        "//evil.example/x",
        "/v1/jobs/x?y=1",
        "/v1/jobs/x#y",
        "/v1/../admin",
        "/v1/./x",
        "/v1/%2e%2e/admin",
        "/v1/%2E./admin",
        "/v1/.%2e",
        "/v1\\x",
        "/v1/jobs/x y",
        "/v1/jobs/\nx",
        "",
    ] {
        let err = Model::custom(ModelKind::Video, "m", bad).unwrap_err();
        assert_eq!(err.code(), "INVALID_INPUT", "{bad:?}");
        assert!(err.to_string().contains("url_path"), "{err}");
    }
    let blank = Model::custom(ModelKind::Video, " ", "/v1/jobs/m").unwrap_err();
    assert_eq!(blank.code(), "INVALID_INPUT");
    for ok in [
        "/v1/jobs/m",
        "/v1/generate/lucy-pro-i2i",
        "/v1/stream",
        "/a..b/c",
    ] {
        assert!(Model::custom(ModelKind::Video, "m", ok).is_ok(), "{ok}");
    }
}
