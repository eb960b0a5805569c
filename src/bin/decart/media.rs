//! `decart image`, `decart video`, `decart jobs status|result`, `decart files upload|get|delete`.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use decart::{
    CancelHandle, FileInput, FileRef, ImageEditInput, Input, VideoEditInput, VideoRestyleInput,
    WaitOptions,
};
use decart::{InputSchema, Model, ModelKind};
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

/// A `FILE|URL|-` argument: an http(s) URL, stdin, or a readable file (checked now, for a
/// clear error).
pub fn file_input(flag: &str, arg: &str) -> Result<FileInput, Failure> {
    Ok(counted_input(flag, arg, false)?.0)
}

/// A `FILE|URL|-` argument, with a byte counter for the progress line when `show_progress`
/// and the bytes are streamed: stdin always, a file from [`UPLOAD_PROGRESS_MIN`] bytes (a
/// smaller one is sent from its path, which a retry can send again).
pub fn counted_input(
    flag: &str,
    arg: &str,
    show_progress: bool,
) -> Result<(FileInput, Option<Upload>), Failure> {
    let lower = arg.trim_start().to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let input = FileInput::url(arg).map_err(|e| Failure::from(e).context(flag))?;
        return Ok((input, None));
    }
    if arg == "-" {
        return stdin_input(flag, show_progress);
    }
    path_input(flag, Path::new(arg), show_progress)
}

/// A file to send, counted as [`counted_input`] says.
pub fn path_input(
    flag: &str,
    path: &Path,
    show_progress: bool,
) -> Result<(FileInput, Option<Upload>), Failure> {
    let len = check_file(flag, path)?;
    let input = FileInput::path(path);
    if !show_progress || len < UPLOAD_PROGRESS_MIN {
        return Ok((input, None));
    }
    let file = std::fs::File::open(path).map_err(|e| {
        Failure::new(
            "INVALID_INPUT",
            format!("{flag}: cannot read {}: {e}", path.display()),
        )
    })?;
    let (upload, reader) = Upload::counting(file, Some(len));
    let mut counted = FileInput::reader(reader).with_len(len);
    if let Some(name) = input.filename() {
        counted = counted.with_filename(name.into_owned());
    }
    let counted = counted.with_content_type(input.content_type());
    Ok((counted, Some(upload)))
}

/// Stdin as an input (`-`), streamed. Its first bytes name its type (PNG, JPEG, GIF, WebP,
/// MP4, QuickTime, WebM), for the part's filename and content type; it can be used once.
pub fn stdin_input(
    flag: &str,
    show_progress: bool,
) -> Result<(FileInput, Option<Upload>), Failure> {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    let fail = |why: &str| Failure::new("INVALID_INPUT", format!("{flag} -: {why}"));
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Err(fail("stdin is already another input"));
    }
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(fail(
            "stdin is a terminal; redirect a file into it (`< in.png`)",
        ));
    }
    let mut head = Vec::with_capacity(16);
    (&mut stdin)
        .take(16)
        .read_to_end(&mut head)
        .map_err(|e| fail(&format!("cannot read stdin: {e}")))?;
    let (name, content_type) = match sniff(&head) {
        Some((ext, mime)) => (format!("stdin.{ext}"), mime),
        None => ("stdin".to_owned(), "application/octet-stream"),
    };
    let reader = std::io::Cursor::new(head).chain(stdin);
    let (input, upload) = if show_progress {
        let (upload, counted) = Upload::counting(reader, None);
        (FileInput::reader(counted), Some(upload))
    } else {
        (FileInput::reader(reader), None)
    };
    Ok((
        input.with_filename(name).with_content_type(content_type),
        upload,
    ))
}

/// The type of a media file by its first bytes: `(extension, content type)`.
fn sniff(head: &[u8]) -> Option<(&'static str, &'static str)> {
    let at = |i: usize, sig: &[u8]| head.get(i..i + sig.len()) == Some(sig);
    if at(0, b"\x89PNG\r\n\x1a\n") {
        Some(("png", "image/png"))
    } else if at(0, b"\xff\xd8\xff") {
        Some(("jpg", "image/jpeg"))
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        Some(("gif", "image/gif"))
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        Some(("webp", "image/webp"))
    } else if at(4, b"ftypqt") {
        Some(("mov", "video/quicktime"))
    } else if at(4, b"ftyp") {
        Some(("mp4", "video/mp4"))
    } else if at(0, b"\x1a\x45\xdf\xa3") {
        Some(("webm", "video/webm"))
    } else {
        None
    }
}

/// Where a result goes: a file (written whole or not at all), or stdout (`-o -`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// `-o -`.
    Stdout,
    /// A file.
    Path(PathBuf),
}

impl Dest {
    /// The `-o` argument, checked before any (billed) call: the directory of a file must
    /// exist; stdout must not be a terminal, nor carry `--json`.
    pub fn new(global: &Global, output: &Path) -> Result<Dest, Failure> {
        if output != Path::new("-") {
            check_output(output)?;
            return Ok(Dest::Path(output.to_owned()));
        }
        let fail = |why: &str| Failure::new("INVALID_INPUT", format!("-o -: {why}"));
        if global.json {
            return Err(fail(
                "the result goes to stdout, so --json cannot; write the result to a file",
            ));
        }
        if std::io::stdout().is_terminal() {
            return Err(fail(
                "stdout is a terminal; redirect it (`> out.png`) or pipe it",
            ));
        }
        Ok(Dest::Stdout)
    }

    /// How a report names it.
    pub fn display(&self) -> String {
        match self {
            Dest::Stdout => "-".to_owned(),
            Dest::Path(p) => p.display().to_string(),
        }
    }
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
    let dest = Dest::new(global, &a.output)?;
    let show = progress::wanted(global);
    let (data, upload) = counted_input("--input", &a.edit.input, show)?;
    let input = edit_options!(ImageEditInput::new(a.prompt, data), &a.edit);
    let client = crate::client(global)?;
    let started = Instant::now();
    let progress = Progress::start(show, model.name(), "editing", started, upload);
    let process = client.process();
    let bytes = match &dest {
        Dest::Path(path) => process.image_to_path(&model, input, path)?,
        Dest::Stdout => output::to_stdout(|sink| process.image_to_writer(&model, input, sink))?,
    };
    progress.finish();
    let elapsed = started.elapsed();
    if global.json {
        output::json(&json!({
            "model": model.name(),
            "output": dest.display(),
            "bytes": bytes,
            "elapsed_ms": output::millis(elapsed),
        }))?;
    } else if dest != Dest::Stdout {
        Report::new()
            .row("model", model.name())
            .row(
                "output",
                format!("{} ({})", dest.display(), output::size(bytes)),
            )
            .row("elapsed", output::duration(elapsed))
            .print()?;
    }
    Ok(())
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
    let dest = match &a.output {
        Some(out) => Some(Dest::new(global, out)?),
        None => None,
    };
    let show = progress::wanted(global) && !a.no_wait;
    let (data, upload) = counted_input("--input", &a.edit.input, show)?;
    let input = video_input(&model, &a, data)?;
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
    let Some(dest) = dest else {
        return Err(Failure::new("INVALID_INPUT", "-o OUT is required"));
    };
    let cancel = CancelHandle::new();
    let guard = interrupt::cancel_on_interrupt(cancel.clone());
    let started = Instant::now();
    let progress = Progress::start(show, model.name(), "submitting", started, upload);
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
    let queue = client.queue();
    let id = &job.job_id;
    let downloaded = match &dest {
        Dest::Path(path) => queue.result_to_path(id, path).map_err(Failure::from),
        Dest::Stdout => output::to_stdout(|sink| queue.result_to_writer(id, sink)),
    };
    let bytes = downloaded.map_err(|f| {
        f.context(&format!(
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
            "output": dest.display(),
            "bytes": bytes,
        }))?;
    } else if dest != Dest::Stdout {
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
                format!("{} ({})", dest.display(), output::size(bytes)),
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
    let dest = Dest::new(global, &a.output)?;
    let client = crate::client(global)?;
    let started = Instant::now();
    let queue = client.queue();
    let bytes = match &dest {
        Dest::Path(path) => queue.result_to_path(&a.id, path)?,
        Dest::Stdout => output::to_stdout(|sink| queue.result_to_writer(&a.id, sink))?,
    };
    let elapsed = started.elapsed();
    if global.json {
        output::json(&json!({
            "job_id": a.id,
            "output": dest.display(),
            "bytes": bytes,
            "elapsed_ms": output::millis(elapsed),
        }))?;
    } else if dest != Dest::Stdout {
        Report::new()
            .row("job_id", &a.id)
            .row(
                "output",
                format!("{} ({})", dest.display(), output::size(bytes)),
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
    let show = progress::wanted(global);
    let (input, upload) = if a.file == Path::new("-") {
        stdin_input("FILE", show)?
    } else {
        path_input("FILE", &a.file, show)?
    };
    let label = input
        .filename()
        .map_or_else(|| "file".to_owned(), |n| n.into_owned());
    let client = crate::client(global)?;
    let progress = Progress::start(show, &label, "uploading", Instant::now(), upload);
    let file = client.files().upload(input, a.ttl)?;
    progress.finish();
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
