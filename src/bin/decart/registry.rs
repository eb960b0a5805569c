//! `decart models`: the SDK's model registry (no API call).

use decart::ModelKind;
use decart::models;
use decart::{Model, ModelStatus};
use serde_json::{Value, json};

use crate::args::{Global, ModelsArgs};
use crate::fail::Failure;
use crate::output;

/// `decart models [--kind K] [--all]`.
pub fn list(global: &Global, a: ModelsArgs) -> Result<(), Failure> {
    let kinds: Vec<ModelKind> = match a.kind {
        Some(k) => vec![k.into()],
        None => ModelKind::ALL.to_vec(),
    };
    let models: Vec<Model> = kinds
        .into_iter()
        .flat_map(|k| {
            if a.all {
                models::list_all(k)
            } else {
                models::list(k)
            }
        })
        .collect();
    if global.json {
        output::json(&Value::Array(models.iter().map(to_json).collect()))?;
        return Ok(());
    }
    let rows: Vec<[String; 6]> = models
        .iter()
        .map(|m| {
            [
                m.kind().to_string(),
                m.name().to_owned(),
                m.url_path().to_owned(),
                format!("{} fps {}x{}", m.fps(), m.width(), m.height()),
                m.input_schema()
                    .map_or("-".to_owned(), |s| s.as_str().to_owned()),
                notes(m),
            ]
        })
        .collect();
    let header = ["KIND", "NAME", "PATH", "FORMAT", "INPUT", "NOTES"].map(str::to_owned);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:w$}"))
            .collect();
        output::line(line.join("  ").trim_end())?;
    }
    Ok(())
}

fn status_str(m: &Model) -> (&'static str, Option<&'static str>) {
    match m.status() {
        ModelStatus::Latest => ("latest", None),
        ModelStatus::Deprecated { replacement } => ("deprecated", Some(replacement)),
        ModelStatus::Custom => ("custom", None),
        _ => ("canonical", None),
    }
}

fn notes(m: &Model) -> String {
    let mut notes = Vec::new();
    match status_str(m) {
        ("latest", _) => notes.push("alias of the newest model of its line".to_owned()),
        (_, Some(replacement)) => notes.push(format!("deprecated: use {replacement}")),
        _ => {}
    }
    if !m.speeds().is_empty() {
        let speeds: Vec<&str> = m.speeds().iter().map(|s| s.as_str()).collect();
        notes.push(format!("speeds: {}", speeds.join(", ")));
    }
    notes.join("; ")
}

fn to_json(m: &Model) -> Value {
    let (status, replacement) = status_str(m);
    json!({
        "kind": m.kind().as_str(),
        "name": m.name(),
        "url_path": m.url_path(),
        "fps": m.fps(),
        "width": m.width(),
        "height": m.height(),
        "input_schema": m.input_schema().map(|s| s.as_str()),
        "status": status,
        "replacement": replacement,
        "speeds": m.speeds().iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    })
}
