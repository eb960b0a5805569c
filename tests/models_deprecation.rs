//! Deprecated aliases warn once per alias per process through `log`; `-latest` names never
//! warn. One test function only: the logger and the warn-once state are process-wide.

use std::sync::Mutex;

use decart::ModelKind;
use decart::models::{self, list_all, resolve_alias};

struct Capture {
    records: Mutex<Vec<(log::Level, String)>>,
}

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        self.records
            .lock()
            .unwrap()
            .push((record.level(), record.args().to_string()));
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture {
    records: Mutex::new(Vec::new()),
};

fn warnings() -> Vec<String> {
    CAPTURE
        .records
        .lock()
        .unwrap()
        .iter()
        .filter(|(level, _)| *level == log::Level::Warn)
        .map(|(_, m)| m.clone())
        .collect()
}

#[test]
fn deprecated_aliases_warn_once_and_latest_never() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    // Listing and resolving never warn.
    for kind in ModelKind::ALL {
        let _ = list_all(kind);
    }
    assert_eq!(resolve_alias("lucy-pro-i2i"), "lucy-image-2");
    assert!(warnings().is_empty(), "{:?}", warnings());

    // -latest names and canonical names never warn.
    for _ in 0..2 {
        models::realtime("lucy-latest").unwrap();
        models::realtime("lucy-vton-latest").unwrap();
        models::realtime("lucy-restyle-latest").unwrap();
        models::video("lucy-latest").unwrap();
        models::video("lucy-vton-latest").unwrap();
        models::video("lucy-restyle-latest").unwrap();
        models::image("lucy-image-latest").unwrap();
        models::image("lucy-image-2").unwrap();
        models::video("lucy-restyle-2").unwrap();
    }
    assert!(warnings().is_empty(), "{:?}", warnings());

    // A failed lookup of an alias in the wrong kind does not warn (nor use up the warning).
    assert!(models::video("lucy-pro-i2i").is_err());
    assert!(warnings().is_empty(), "{:?}", warnings());

    // The first lookup warns, with the exact text; later ones are silent.
    let m = models::image("lucy-pro-i2i").unwrap();
    assert_eq!(m.name(), "lucy-pro-i2i");
    models::image("lucy-pro-i2i").unwrap();
    models::image("lucy-pro-i2i").unwrap();
    assert_eq!(
        warnings(),
        ["Model \"lucy-pro-i2i\" is deprecated. Use \"lucy-image-2\" instead."]
    );

    // Once per alias: the other alias warns once too.
    models::video("lucy-restyle-v2v").unwrap();
    decart::Model::lookup(ModelKind::Video, "lucy-restyle-v2v").unwrap();
    assert_eq!(
        warnings(),
        [
            "Model \"lucy-pro-i2i\" is deprecated. Use \"lucy-image-2\" instead.",
            "Model \"lucy-restyle-v2v\" is deprecated. Use \"lucy-restyle-2\" instead.",
        ]
    );

    // Also from other threads.
    std::thread::spawn(|| models::image("lucy-pro-i2i").unwrap())
        .join()
        .unwrap();
    assert_eq!(warnings().len(), 2);
}
