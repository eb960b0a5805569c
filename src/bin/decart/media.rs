//! `decart image`, `decart video`, `decart jobs status|result`, `decart files upload|get|delete`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use decart::models::{InputSchema, Model, ModelKind};
use decart::{
    CancelHandle, FileInput, FileRef, ImageEditInput, Input, VideoEditInput, VideoRestyleInput,
    WaitOptions,
};
use serde_json::json;

use crate::args::{
    EditArgs, FileIdArgs, FilesUploadArgs, Global, ImageArgs, JobResultArgs, JobStatusArgs,
    VideoArgs,
};
use crate::fail::Failure;
use crate::interrupt;
use crate::output::{self, Report};
use crate::progress::{self, Progress, Upload};

/// Inputs at least this large show upload progress (they are then sent as a one-shot stream).
const UPLOAD_PROGRESS_MIN: u64 = 16 * 1024 * 1024;

/// Looks a model up; for a name of another kind, says which command takes it.
pub fn lookup(kind: ModelKind, name: &str) -> Result<Model, Failure> {
    match Model::lookup(kind, name) {
        // A deprecated model: the SDK logs a warning, shown unless -q.
        Ok(model) => Ok(model),
        Err(e) => {
            let mut failure = Failure::from(e);
            let other = [ModelKind::Video, ModelKind::Image, ModelKind::Realtime]
                .into_iter()
                .filter(|k| *k != kind)
                .find(|k| {
                    decart::models::list_all(*k)
                        .iter()
                        .any(|m| m.name() == name)
                });
            let hint = match other {
                Some(ModelKind::Realtime) => {
                    format!(" among {kind} models: it is a realtime model (WebRTC only)")
                }
                Some(other) => {
                    let a = if other == ModelKind::Image { "an" } else { "a" };
                    format!(" among {kind} models: it is {a} {other} model, see `decart {other}`")
                }
                None => format!(" (list them: `decart models --kind {kind} --all`)"),
            };
            failure.message.push_str(&hint);
            Err(failure)
        }
    }
}

/// A `FILE|URL` argument: an http(s) URL, or a readable file (checked now, for a clear error).
pub fn file_input(flag: &str, arg: &str) -> Result<FileInput, Failure> {
    let lower = arg.trim_start().to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return FileInput::url(arg).map_err(|e| Failure::from(e).context(flag));
    }
    check_file(flag, Path::new(arg))?;
    Ok(FileInput::path(arg))
}

/// Fails unless `path` is a file that can be opened.
pub fn check_file(what: &str, path: &Path) -> Result<u64, Failure> {
    let fail = |why: String| {
        Failure::new(
            "INVALID_INPUT",
            format!("{what}: cannot read {}: {why}", path.display()),
        )
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if meta.is_dir() {
        return Err(fail("it is a directory".into()));
    }
    std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    Ok(meta.len())
}

/// Fails unless the directory `output` goes in exists, so that no (billed) call is made for
/// a result that could not be saved.
pub fn check_output(output: &Path) -> Result<(), Failure> {
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if dir.is_dir() && !output.is_dir() {
        return Ok(());
    }
    let why = if output.is_dir() {
        "it is a directory"
    } else {
        "its directory does not exist"
    };
    Err(Failure::new(
        "INVALID_INPUT",
        format!("-o: cannot write {}: {why}", output.display()),
    ))
}

/// Applies the options every edit input has (they are inherent methods of each input type).
macro_rules! edit_options {
    ($input:expr, $edit:expr) => {{
        let edit: &EditArgs = $edit;
        let mut input = $input;
        if let Some(r) = &edit.reference_image {
            input = input.reference_image(file_input("--reference-image", r)?);
        }
        if let Some(seed) = edit.seed {
            input = input.seed(seed);
        }
        if let Some(res) = &edit.resolution {
            input = input.resolution(res.clone());
        }
        if let Some(enhance) = edit.enhance_prompt {
            input = input.enhance_prompt(enhance);
        }
        input
    }};
}

/// `decart image`.
pub fn image(global: &Global, a: ImageArgs) -> Result<(), Failure> {
    let model = lookup(ModelKind::Image, &a.model)?;
    let data = file_input("--input", &a.edit.input)?;
    let input = edit_options!(ImageEditInput::new(a.prompt, data), &a.edit);
    check_output(&a.output)?;
    let client = crate::client(global)?;
    let started = Instant::now();
    let bytes = client.process().image_to_path(&model, input, &a.output)?;
    let elapsed = started.elapsed();
    if global.json {
        output::json(&json!({
            "model": model.name(),
            "output": a.output.display().to_string(),
            "bytes": bytes,
            "elapsed_ms": output::millis(elapsed),
        }))?;
    } else {
        Report::new()
            .row("model", model.name())
            .row(
                "output",
                format!("{} ({})", a.output.display(), output::size(bytes)),
            )
            .row("elapsed", output::duration(elapsed))
            .print()?;
    }
    Ok(())
}

/// The `data` part of a video job: streamed with a byte count when progress is shown and the
/// file is large, else a plain path (or URL).
fn video_data(arg: &str, show_progress: bool) -> Result<(FileInput, Option<Upload>), Failure> {
    let input = file_input("--input", arg)?;
    let path = Path::new(arg);
    if !show_progress || !path.exists() {
        return Ok((input, None));
    }
    let len = check_file("--input", path)?;
    if len < UPLOAD_PROGRESS_MIN {
        return Ok((input, None));
    }
    let file = std::fs::File::open(path).map_err(|e| {
        Failure::new(
            "INVALID_INPUT",
            format!("--input: cannot read {}: {e}", path.display()),
        )
    })?;
    let (upload, reader) = Upload::counting(file, len);
    let mut counted = FileInput::reader(reader).with_len(len);
    if let Some(name) = input.filename() {
        counted = counted.with_filename(name.into_owned());
    }
    let counted = counted.with_content_type(input.content_type());
    Ok((counted, Some(upload)))
}

/// The typed input a video model takes.
fn video_input(model: &Model, a: &VideoArgs, data: FileInput) -> Result<Input, Failure> {
    Ok(match model.input_schema() {
        Some(InputSchema::VideoRestyle) => {
            let mut input = VideoRestyleInput::new(data);
            if let Some(p) = &a.prompt {
                input = input.prompt(p.clone());
            }
            edit_options!(input, &a.edit).into()
        }
        _ => {
            if a.prompt.is_none() && a.edit.reference_image.is_none() {
                return Err(Failure::new(
                    "INVALID_INPUT",
                    format!(
                        "--prompt: {} takes a prompt (it may be empty with --reference-image)",
                        model.name()
                    ),
                ));
            }
            let prompt = a.prompt.clone().unwrap_or_default();
            edit_options!(VideoEditInput::new(prompt, data), &a.edit).into()
        }
    })
}

/// `decart video`.
pub fn video(global: &Global, a: VideoArgs) -> Result<(), Failure> {
    let model = lookup(ModelKind::Video, &a.model)?;
    let show = progress::wanted(global.json) && !a.no_wait;
    let (data, upload) = video_data(&a.edit.input, show)?;
    let input = video_input(&model, &a, data)?;
    if let Some(out) = &a.output {
        check_output(out)?;
    }
    let client = crate::client(global)?;
    if a.no_wait {
        let status = client.queue().submit(&model, input)?;
        if global.json {
            output::json(&json!({
                "job_id": status.job_id,
                "model": model.name(),
                "status": status.state.as_str(),
            }))?;
        } else {
            output::line(&status.job_id)?;
        }
        return Ok(());
    }
    let Some(out) = a.output.as_deref() else {
        return Err(Failure::new("INVALID_INPUT", "-o OUT is required"));
    };
    let cancel = CancelHandle::new();
    let guard = interrupt::cancel_on_interrupt(cancel.clone());
    let started = Instant::now();
    let progress = Progress::start(show, model.name(), started, upload);
    let updater = progress.updater();
    let history = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&history);
    let mut options = WaitOptions::new()
        .cancel_handle(cancel)
        .on_status(move |s| {
            updater.status(&s.job_id, s.state.as_str());
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.last().map(String::as_str) != Some(s.state.as_str()) {
                seen.push(s.state.to_string());
            }
        });
    if let Some(deadline) = a.timeout {
        options = options.deadline(Some(deadline));
    }
    let outcome = client.queue().submit_and_wait(&model, input, options);
    progress.finish();
    drop(guard);
    let job = outcome?;
    let bytes = client
        .queue()
        .result_to_path(&job.job_id, out)
        .map_err(|e| {
            let id = &job.job_id;
            Failure::from(e).context(&format!(
                "job {id} completed (download it again: `decart jobs result {id} -o OUT`)"
            ))
        })?;
    let elapsed = started.elapsed();
    let statuses = history.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if global.json {
        output::json(&json!({
            "job_id": job.job_id,
            "model": model.name(),
            "status": "completed",
            "statuses": statuses,
            "polls": job.polls,
            "waited_ms": output::millis(job.waited),
            "elapsed_ms": output::millis(elapsed),
            "output": out.display().to_string(),
            "bytes": bytes,
        }))?;
    } else {
        Report::new()
            .row("job_id", &job.job_id)
            .row("model", model.name())
            .row(
                "status",
                format!(
                    "{} ({} polls, {})",
                    statuses.join(" -> "),
                    job.polls,
                    output::duration(job.waited)
                ),
            )
            .row(
                "output",
                format!("{} ({})", out.display(), output::size(bytes)),
            )
            .row("elapsed", output::duration(elapsed))
            .print()?;
    }
    Ok(())
}

/// `decart jobs status`.
pub fn job_status(global: &Global, a: JobStatusArgs) -> Result<(), Failure> {
    let client = crate::client(global)?;
    let status = client.queue().status(&a.id)?;
    if global.json {
        output::json(&json!({
            "job_id": status.job_id,
            "status": status.state.as_str(),
            "reason": status.reason,
        }))?;
    } else {
        Report::new()
            .row("job_id", &status.job_id)
            .row("status", status.state.as_str())
            .opt("reason", status.reason.as_deref())
            .print()?;
    }
    Ok(())
}

/// `decart jobs result`.
pub fn job_result(global: &Global, a: JobResultArgs) -> Result<(), Failure> {
    check_output(&a.output)?;
    let client = crate::client(global)?;
    let started = Instant::now();
    let bytes = client.queue().result_to_path(&a.id, &a.output)?;
    let elapsed = started.elapsed();
    if global.json {
        output::json(&json!({
            "job_id": a.id,
            "output": a.output.display().to_string(),
            "bytes": bytes,
            "elapsed_ms": output::millis(elapsed),
        }))?;
    } else {
        Report::new()
            .row("job_id", &a.id)
            .row(
                "output",
                format!("{} ({})", a.output.display(), output::size(bytes)),
            )
            .row("elapsed", output::duration(elapsed))
            .print()?;
    }
    Ok(())
}

/// Prints a file reference.
pub fn print_file(global: &Global, file: &FileRef) -> Result<(), Failure> {
    if global.json {
        return output::json(&json!({
            "id": file.id,
            "filename": file.filename,
            "mime_type": file.mime_type,
            "size_bytes": file.size_bytes,
            "created_at": file.created_at,
            "expires_at": file.expires_at,
        }));
    }
    file_report(file).print()
}

/// A file reference as a report.
pub fn file_report(file: &FileRef) -> Report {
    let mut r = Report::new();
    r.row("id", &file.id)
        .opt("filename", file.filename.as_deref())
        .row("mime_type", &file.mime_type)
        .row(
            "size",
            format!(
                "{} bytes ({})",
                file.size_bytes,
                output::size(file.size_bytes)
            ),
        )
        .row("created_at", &file.created_at)
        .row(
            "expires_at",
            file.expires_at.as_deref().unwrap_or("never (persistent)"),
        );
    r
}

/// `decart files upload`.
pub fn files_upload(global: &Global, a: FilesUploadArgs) -> Result<(), Failure> {
    check_file("FILE", &a.file)?;
    let client = crate::client(global)?;
    let file = client.files().upload(FileInput::path(&a.file), a.ttl)?;
    print_file(global, &file)
}

/// `decart files get`.
pub fn files_get(global: &Global, a: FileIdArgs) -> Result<(), Failure> {
    let client = crate::client(global)?;
    let file = client.files().get(&a.id)?;
    print_file(global, &file)
}

/// `decart files delete`.
pub fn files_delete(global: &Global, a: FileIdArgs) -> Result<(), Failure> {
    let client = crate::client(global)?;
    client.files().delete(&a.id)?;
    if global.json {
        output::json(&json!({"id": a.id, "deleted": true}))?;
    } else {
        output::line(format_args!("deleted {}", a.id))?;
    }
    Ok(())
}
