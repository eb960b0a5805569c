//! The emulated API: state, routing, and one function per endpoint.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use super::fault::{Action, Fault};
use super::http::{self, Body, Handler, Outcome, RequestHead, Response, ResponseBody, Stopper};
use super::log::{Credential, LoggedPart, LoggedRequest, REDACTED_HEADERS};
use super::multipart::{self, Multipart, MultipartError, PartHead};
use super::results::{DerivedResult, Digest, Hasher, IMAGE_MAGIC, VIDEO_MAGIC};
use super::tokens::{self, Identity, KeyRing};
use super::util::{hex, lock, random_bytes, random_id, rfc3339};
use crate::{InputSchema, ModelKind};

/// A JSON request body, at most.
pub(crate) const MAX_JSON_BODY: usize = 1024 * 1024;
/// The leading bytes of each multipart part kept in memory (text values, the echoed prefix).
const PART_KEEP: usize = 4 * 1024;
/// A prompt, at most, in characters.
const MAX_PROMPT_CHARS: usize = 1000;
/// `ttl_seconds` bounds and default.
pub(crate) const MIN_TTL: u64 = 60;
pub(crate) const MAX_TTL: u64 = 2_592_000;
pub(crate) const DEFAULT_TTL: u64 = 86_400;
/// Bounds on what the emulator remembers.
const MAX_CLIENT_KEYS: usize = 100_000;
const MAX_JOBS: usize = 10_000;
const MAX_FILES: usize = 10_000;
/// A non-multipart body of at most this size is kept in the log.
const LOG_BODY_TEXT: usize = 64 * 1024;

/// A prompt containing this marker makes its job fail.
pub const JOB_FAIL_MARKER: &str = "[emulator:fail]";

/// Everything fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub api_keys: Vec<String>,
    pub polls: u32,
    pub sign_tokens: bool,
    pub jwks_max_age: u64,
    pub identity: Identity,
    pub log_capacity: usize,
    pub fail_all_jobs: Option<String>,
}

/// A bounded map that forgets its oldest entries.
struct Store<T> {
    map: HashMap<String, T>,
    order: VecDeque<String>,
    cap: usize,
}

impl<T> Store<T> {
    fn new(cap: usize) -> Self {
        Store {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    /// The ids still present, oldest first.
    fn ids(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.order
            .iter()
            .filter(|id| self.map.contains_key(*id) && seen.insert(id.as_str()))
            .cloned()
            .collect()
    }

    fn insert(&mut self, id: String, value: T) {
        self.order.push_back(id.clone());
        self.map.insert(id, value);
        while self.map.len() > self.cap {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        if self.order.len() > 2 * self.cap {
            let map = &self.map;
            self.order.retain(|id| map.contains_key(id));
        }
    }
}

struct Job {
    input: Digest,
    polls: u32,
    failure: Option<String>,
    result_size: Option<u64>,
}

/// A stored file's reference.
struct StoredFile {
    filename: Option<String>,
    mime_type: String,
    size: u64,
    created_at: i64,
    expires_at: Option<i64>,
}

/// The whole mutable state of one emulator.
pub(crate) struct State {
    pub config: Config,
    pub stopper: Arc<Stopper>,
    pub keys: Mutex<KeyRing>,
    client_keys: Mutex<Store<i64>>,
    jobs: Mutex<Store<Job>>,
    files: Mutex<Store<StoredFile>>,
    pub faults: Mutex<Vec<Fault>>,
    pub log: Mutex<VecDeque<LoggedRequest>>,
    pub fail_next: Mutex<VecDeque<String>>,
    pub clock_offset: AtomicI64,
    pub video_size: Mutex<Option<u64>>,
    #[cfg(feature = "realtime")]
    pub realtime: super::realtime::RealtimeState,
}

impl State {
    pub(crate) fn new(config: Config, video_size: Option<u64>) -> Self {
        State {
            config,
            stopper: Arc::new(Stopper::default()),
            keys: Mutex::new(KeyRing::new()),
            client_keys: Mutex::new(Store::new(MAX_CLIENT_KEYS)),
            jobs: Mutex::new(Store::new(MAX_JOBS)),
            files: Mutex::new(Store::new(MAX_FILES)),
            faults: Mutex::new(Vec::new()),
            log: Mutex::new(VecDeque::new()),
            fail_next: Mutex::new(VecDeque::new()),
            clock_offset: AtomicI64::new(0),
            video_size: Mutex::new(video_size),
            #[cfg(feature = "realtime")]
            realtime: super::realtime::RealtimeState::default(),
        }
    }

    /// The emulator's clock: seconds since the epoch, plus the configured offset.
    pub(crate) fn now(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        real.saturating_add(self.clock_offset.load(Ordering::Relaxed))
    }

    fn take_fault(&self, method: &str, path: &str) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let i = faults.iter().position(|f| f.matches(method, path))?;
        let fault = faults[i].clone();
        if let Some(n) = &mut faults[i].remaining {
            *n -= 1;
            if *n == 0 {
                faults.remove(i);
            }
        }
        Some(fault)
    }

    fn push_log(&self, entry: LoggedRequest) {
        let cap = self.config.log_capacity;
        if cap == 0 {
            return;
        }
        let mut log = lock(&self.log);
        while log.len() >= cap {
            log.pop_front();
        }
        log.push_back(entry);
    }

    pub(crate) fn credential(&self, key: &str) -> Credential {
        let key = key.trim();
        if key.is_empty() {
            return Credential::Invalid;
        }
        if self.config.api_keys.iter().any(|k| k == key) {
            return Credential::Permanent;
        }
        let now = self.now();
        if key.starts_with("ek_") {
            return match lock(&self.client_keys).map.get(key) {
                Some(exp) if *exp > now => Credential::ClientKey,
                Some(_) => Credential::Expired,
                None => Credential::Invalid,
            };
        }
        if key.starts_with("eyJ") {
            let claims = lock(&self.keys).verify(key);
            return match claims.and_then(|c| c.get("exp").and_then(Value::as_i64)) {
                Some(exp) if exp > now => Credential::ClientJwt,
                Some(_) => Credential::Expired,
                None => Credential::Invalid,
            };
        }
        Credential::Invalid
    }

    /// The ids of the jobs the emulator knows, oldest first.
    pub(crate) fn job_ids(&self) -> Vec<String> {
        lock(&self.jobs).ids()
    }

    /// The ids of the files stored (not deleted; expired ones included), oldest first.
    pub(crate) fn file_ids(&self) -> Vec<String> {
        lock(&self.files).ids()
    }

    /// The status a job shows after `polls` status requests.
    fn job_status(&self, job: &Job) -> &'static str {
        let n = self.config.polls;
        if job.polls > n {
            if job.failure.is_some() {
                "failed"
            } else {
                "completed"
            }
        } else if job.polls <= 1 {
            "pending"
        } else {
            "processing"
        }
    }
}

impl Handler for State {
    fn handle(&self, head: &RequestHead, body: &mut Body<'_>) -> Outcome {
        #[cfg(feature = "realtime")]
        if head.path == "/v1/stream" {
            return self.stream(head, body);
        }
        #[cfg(feature = "realtime")]
        if head.path == "/livekit/rtc" {
            return self.livekit(head, body);
        }
        let api_key = head.header("x-api-key");
        let mut entry = LoggedRequest {
            method: head.method.clone(),
            path: head.path.clone(),
            query: head.query.clone(),
            headers: logged_headers(&head.headers),
            credential: api_key.map(|k| self.credential(k)),
            content_type: head.header("content-type").map(str::to_owned),
            body_size: 0,
            parts: Vec::new(),
            body_text: None,
            status: None,
            fault: None,
        };
        let fault = self.take_fault(&head.method, &head.path);
        if let Some(f) = &fault {
            entry.fault = Some(f.describe());
            if !f.delay.is_zero() {
                self.stopper.sleep(f.delay);
            }
        }
        let processed = match &fault {
            Some(f) if !f.processes() => None,
            _ => Some(self.route(head, body, &mut entry)),
        };
        let outcome = match (fault.map(|f| f.action), processed) {
            (None | Some(Action::Proceed), Some(resp)) => Outcome::Respond(resp),
            (Some(Action::Truncate), Some(resp)) => Outcome::Truncate(resp),
            (Some(Action::Drop), _) => Outcome::Drop,
            (
                Some(Action::Respond {
                    status,
                    content_type,
                    body,
                    headers,
                }),
                _,
            ) => {
                let mut resp = Response::new(status, &content_type, body);
                resp.headers.extend(headers);
                Outcome::Respond(resp)
            }
            // Unreachable: faults that do not process are `Respond` or `Drop`.
            (_, None) => Outcome::Drop,
        };
        // Read what is left, so the log has the whole size and the connection stays in step.
        let _ = body.drain();
        entry.body_size = body.bytes_read();
        entry.status = match &outcome {
            Outcome::Respond(r) | Outcome::Truncate(r) => Some(r.status),
            Outcome::Drop => None,
        };
        self.push_log(entry);
        outcome
    }
}

#[cfg(feature = "realtime")]
impl State {
    /// `GET /v1/stream`: the realtime WebSocket. The key is in the `api_key` query parameter,
    /// which the log never keeps.
    fn stream(&self, head: &RequestHead, body: &mut Body<'_>) -> Outcome {
        use super::realtime;
        let query = realtime::parse_query(head.query.as_deref());
        let credential = query
            .iter()
            .find(|(k, _)| k == "api_key")
            .map(|(_, v)| self.credential(v));
        let mut entry = LoggedRequest {
            method: head.method.clone(),
            path: head.path.clone(),
            query: head
                .query
                .as_ref()
                .map(|_| realtime::redacted_query(&query)),
            headers: logged_headers(&head.headers),
            credential,
            content_type: head.header("content-type").map(str::to_owned),
            body_size: 0,
            parts: Vec::new(),
            body_text: None,
            status: None,
            fault: None,
        };
        match realtime::upgrade(self, head, query, credential) {
            Err(resp) => {
                let _ = body.drain();
                entry.status = Some(resp.status);
                self.push_log(entry);
                Outcome::Respond(resp)
            }
            Ok(accepted) => {
                entry.status = Some(101);
                self.push_log(entry);
                accepted.run(self, body.socket());
                Outcome::Drop
            }
        }
    }

    /// `GET /livekit/rtc`: a session's LiveKit room. The token is in the `access_token` query
    /// parameter, which the log never keeps.
    fn livekit(&self, head: &RequestHead, body: &mut Body<'_>) -> Outcome {
        let mut entry = LoggedRequest {
            method: head.method.clone(),
            path: head.path.clone(),
            query: head
                .query
                .as_ref()
                .map(|q| super::realtime::redacted_query(&super::realtime::parse_query(Some(q)))),
            headers: logged_headers(&head.headers),
            credential: None,
            content_type: None,
            body_size: 0,
            parts: Vec::new(),
            body_text: None,
            status: None,
            fault: None,
        };
        match super::livekit::upgrade(self, head) {
            Err(resp) => {
                let _ = body.drain();
                entry.status = Some(resp.status);
                self.push_log(entry);
                Outcome::Respond(resp)
            }
            Ok((grant, key)) => {
                entry.status = Some(101);
                self.push_log(entry);
                super::livekit::run(self, grant, &key, body.socket());
                Outcome::Drop
            }
        }
    }
}

fn json_response(status: u16, value: &Value) -> Response {
    Response::new(status, "application/json", value.to_string().into_bytes())
}

fn error(status: u16, detail: impl AsRef<str>) -> Response {
    http::error_response(status, detail.as_ref())
}

/// Percent-decodes one path segment.
fn decode_segment(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// 400, or 408 when the body read timed out.
fn body_error(e: &io::Error) -> Response {
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        error(408, "Timed out reading the request body")
    } else {
        error(400, format!("Could not read the request body: {e}"))
    }
}

/// One received part: its head, digest and (short, UTF-8) text value.
struct Part {
    head: PartHead,
    digest: Digest,
    text: Option<String>,
}

struct Parts(Vec<Part>);

impl Parts {
    fn all(&self, name: &str) -> impl Iterator<Item = &Part> {
        self.0.iter().filter(move |p| p.head.name == name)
    }

    /// The single part of this name; 422 when it is given twice.
    fn one(&self, name: &str) -> Result<Option<&Part>, Response> {
        let mut it = self.all(name);
        let first = it.next();
        if it.next().is_some() {
            return Err(error(422, format!("Field {name} given more than once")));
        }
        Ok(first)
    }

    /// The text value of a field, if present.
    fn text(&self, name: &str, max_chars: usize) -> Result<Option<String>, Response> {
        let Some(part) = self.one(name)? else {
            return Ok(None);
        };
        match &part.text {
            Some(t) => Ok(Some(t.clone())),
            None if part.digest.len as usize > PART_KEEP => Err(error(
                422,
                format!("{name} must be at most {max_chars} characters"),
            )),
            None => Err(error(422, format!("{name} must be UTF-8 text"))),
        }
    }
}

impl State {
    fn route(
        &self,
        head: &RequestHead,
        body: &mut Body<'_>,
        entry: &mut LoggedRequest,
    ) -> Response {
        let segments: Vec<String> = head
            .path
            .strip_prefix('/')
            .unwrap_or(&head.path)
            .split('/')
            .map(decode_segment)
            .collect();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = head.method.as_str();
        match segs.as_slice() {
            ["api", "auth", "jwks"] => {
                if method == "GET" {
                    self.jwks()
                } else {
                    error(405, "Method Not Allowed")
                }
            }
            ["v1", rest @ ..] => {
                match entry.credential {
                    None => return error(401, "Missing API key: send it in the X-API-KEY header"),
                    Some(Credential::Invalid) => return error(401, "Invalid API key"),
                    Some(Credential::Expired) => return error(401, "Client token expired"),
                    Some(_) => {}
                }
                match (method, rest) {
                    ("POST", ["client", "tokens"]) => self.create_token(body, entry),
                    ("POST", ["generate", model]) => self.generate(model, head, body, entry),
                    ("POST", ["jobs", model]) => self.submit_job(model, head, body, entry),
                    ("GET", ["jobs", id]) => self.job_status_answer(id),
                    ("GET", ["jobs", id, "content"]) => self.job_content(id),
                    ("POST", ["files"]) => self.upload_file(head, body, entry),
                    ("GET", ["files", id]) => self.get_file(id),
                    ("DELETE", ["files", id]) => self.delete_file(id),
                    (
                        _,
                        ["client", "tokens"]
                        | ["generate", _]
                        | ["jobs", _]
                        | ["jobs", _, "content"]
                        | ["files"]
                        | ["files", _],
                    ) => error(405, "Method Not Allowed"),
                    _ => error(404, "Not Found"),
                }
            }
            #[cfg(feature = "realtime")]
            ["watch-stream", room] => {
                match entry.credential {
                    None => return error(401, "Missing API key: send it in the X-API-KEY header"),
                    Some(Credential::Invalid) => return error(401, "Invalid API key"),
                    Some(Credential::Expired) => return error(401, "Client token expired"),
                    Some(_) => {}
                }
                if method != "POST" {
                    return error(405, "Method Not Allowed");
                }
                let port = head
                    .header("host")
                    .and_then(|h| h.rsplit(':').next())
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                super::realtime::watch(self, room, port)
            }
            _ => error(404, "Not Found"),
        }
    }

    fn jwks(&self) -> Response {
        let jwks = lock(&self.keys).jwks();
        json_response(200, &jwks).with_header(
            "cache-control",
            format!("public, max-age={}", self.config.jwks_max_age),
        )
    }

    fn create_token(&self, body: &mut Body<'_>, entry: &mut LoggedRequest) -> Response {
        if matches!(
            entry.credential,
            Some(Credential::ClientKey | Credential::ClientJwt)
        ) {
            return error(403, "Cannot create token from client token");
        }
        let mut bytes = Vec::new();
        if let Err(e) = (&mut *body)
            .take(MAX_JSON_BODY as u64 + 1)
            .read_to_end(&mut bytes)
        {
            return body_error(&e);
        }
        if bytes.len() > MAX_JSON_BODY {
            return error(413, format!("The JSON body exceeds {MAX_JSON_BODY} bytes"));
        }
        if bytes.len() <= LOG_BODY_TEXT {
            entry.body_text = String::from_utf8(bytes.clone()).ok();
        }
        let req = match tokens::parse_request(&bytes) {
            Ok(req) => req,
            Err(detail) => return error(400, detail),
        };
        let iat = self.now();
        let exp = iat + req.expires_in as i64;
        let api_key = format!("ek_{}", hex(&random_bytes::<16>()));
        let jti = hex(&random_bytes::<16>());
        let mut answer = Map::new();
        answer.insert("apiKey".into(), api_key.clone().into());
        if self.config.sign_tokens {
            let claims = tokens::claims(&self.config.identity, &req, iat, exp, &jti);
            answer.insert("token".into(), lock(&self.keys).sign(&claims).into());
        }
        answer.insert("expiresAt".into(), rfc3339(exp).into());
        let permissions = if req.models.is_some() || req.origins.is_some() {
            json!({ "models": req.models, "origins": req.origins })
        } else {
            Value::Null
        };
        answer.insert("permissions".into(), permissions);
        answer.insert(
            "constraints".into(),
            req.constraints.map_or(Value::Null, Value::Object),
        );
        lock(&self.client_keys).insert(api_key, exp);
        json_response(200, &Value::Object(answer))
    }

    /// Reads a multipart body, streaming every part through a digest.
    fn read_parts(
        &self,
        head: &RequestHead,
        body: &mut Body<'_>,
        entry: &mut LoggedRequest,
    ) -> Result<Parts, Response> {
        let ct = head.header("content-type").unwrap_or("");
        let boundary = multipart::boundary(ct).map_err(|why| {
            let (mime, _) = multipart::split_params(ct);
            let status = if mime.eq_ignore_ascii_case("multipart/form-data") {
                400
            } else {
                415
            };
            error(status, why)
        })?;
        let mut mp = Multipart::new(&mut *body, &boundary);
        let mut parts = Vec::new();
        let result = (|| -> Result<(), MultipartError> {
            while let Some(head) = mp.next_part()? {
                let mut hasher = Hasher::new(PART_KEEP);
                while mp.read_body(&mut |b| hasher.update(b))? {}
                let digest = hasher.finish();
                let text = (head.filename.is_none() && digest.len as usize <= PART_KEEP)
                    .then(|| String::from_utf8(digest.prefix.clone()).ok())
                    .flatten();
                parts.push(Part { head, digest, text });
            }
            Ok(())
        })();
        entry.parts = parts
            .iter()
            .map(|p| LoggedPart {
                name: p.head.name.clone(),
                filename: p.head.filename.clone(),
                content_type: p.head.content_type.clone(),
                size: p.digest.len,
                sha256: hex(&p.digest.sha256),
                value: p.text.clone(),
            })
            .collect();
        match result {
            Ok(()) => Ok(Parts(parts)),
            Err(MultipartError::Io(e)) => Err(body_error(&e)),
            Err(e @ MultipartError::Malformed(_)) => Err(error(400, e.to_string())),
        }
    }

    fn generate(
        &self,
        model: &str,
        head: &RequestHead,
        body: &mut Body<'_>,
        entry: &mut LoggedRequest,
    ) -> Response {
        let Some(schema) = find_model(ModelKind::Image, model) else {
            return error(404, format!("Model {model} not found"));
        };
        let parts = match self.read_parts(head, body, entry) {
            Ok(p) => p,
            Err(resp) => return resp,
        };
        let inputs = match validate(schema, &parts) {
            Ok(i) => i,
            Err(resp) => return resp,
        };
        let content_type = inputs
            .data
            .head
            .content_type
            .as_deref()
            .filter(|c| c.to_ascii_lowercase().starts_with("image/"))
            .unwrap_or("image/png");
        Response::new(200, content_type, inputs.data.digest.header(IMAGE_MAGIC))
    }

    fn submit_job(
        &self,
        model: &str,
        head: &RequestHead,
        body: &mut Body<'_>,
        entry: &mut LoggedRequest,
    ) -> Response {
        let Some(schema) = find_model(ModelKind::Video, model) else {
            return error(404, format!("Model {model} not found"));
        };
        let parts = match self.read_parts(head, body, entry) {
            Ok(p) => p,
            Err(resp) => return resp,
        };
        let inputs = match validate(schema, &parts) {
            Ok(i) => i,
            Err(resp) => return resp,
        };
        let failure = lock(&self.fail_next).pop_front().or_else(|| {
            if inputs
                .prompt
                .as_deref()
                .is_some_and(|p| p.contains(JOB_FAIL_MARKER))
            {
                Some(format!(
                    "The prompt asked the emulator to fail ({JOB_FAIL_MARKER})"
                ))
            } else {
                self.config.fail_all_jobs.clone()
            }
        });
        let id = random_id("job_");
        let job = Job {
            input: inputs.data.digest.clone(),
            polls: 0,
            failure,
            result_size: *lock(&self.video_size),
        };
        lock(&self.jobs).insert(id.clone(), job);
        json_response(200, &json!({ "job_id": id, "status": "pending" }))
    }

    fn job_status_answer(&self, id: &str) -> Response {
        let mut jobs = lock(&self.jobs);
        let Some(job) = jobs.map.get_mut(id) else {
            return error(404, format!("Job {id} not found"));
        };
        job.polls = job.polls.saturating_add(1);
        let status = self.job_status(job);
        let mut answer = json!({ "job_id": id, "status": status });
        if status == "failed" {
            answer["error"] = job.failure.clone().unwrap_or_default().into();
        }
        json_response(200, &answer)
    }

    fn job_content(&self, id: &str) -> Response {
        let jobs = lock(&self.jobs);
        let Some(job) = jobs.map.get(id) else {
            return error(404, format!("Job {id} not found"));
        };
        match self.job_status(job) {
            "completed" => {
                let result = DerivedResult::new(job.input.header(VIDEO_MAGIC), job.result_size);
                let len = result.len();
                Response {
                    status: 200,
                    headers: vec![("content-type".into(), "video/mp4".into())],
                    body: ResponseBody::Stream(Box::new(result), len),
                }
            }
            "failed" => error(
                409,
                format!(
                    "Job {id} failed: {}",
                    job.failure.as_deref().unwrap_or_default()
                ),
            ),
            status => error(
                409,
                format!("Job {id} is not completed yet (status: {status})"),
            ),
        }
    }

    fn upload_file(
        &self,
        head: &RequestHead,
        body: &mut Body<'_>,
        entry: &mut LoggedRequest,
    ) -> Response {
        let parts = match self.read_parts(head, body, entry) {
            Ok(p) => p,
            Err(resp) => return resp,
        };
        let file = match parts.one("file") {
            Ok(Some(f)) => f,
            Ok(None) => return error(422, "Field required: file"),
            Err(resp) => return resp,
        };
        let ttl = match parts.text("ttl_seconds", 16) {
            Ok(t) => t,
            Err(_) => return error(400, ttl_rule()),
        };
        let ttl = match ttl.as_deref().map(str::trim) {
            None => Some(DEFAULT_TTL),
            Some("persistent") => None,
            Some(t) => match t.parse::<u64>() {
                Ok(s) if (MIN_TTL..=MAX_TTL).contains(&s) => Some(s),
                _ => return error(400, ttl_rule()),
            },
        };
        let now = self.now();
        let stored = StoredFile {
            filename: file.head.filename.clone(),
            mime_type: file
                .head
                .content_type
                .clone()
                .unwrap_or_else(|| crate::models::DEFAULT_CONTENT_TYPE.to_owned()),
            size: file.digest.len,
            created_at: now,
            expires_at: ttl.map(|t| now + t as i64),
        };
        let id = random_id("file_");
        let answer = file_reference(&id, &stored);
        lock(&self.files).insert(id, stored);
        json_response(200, &answer)
    }

    fn live_file<'a>(&self, files: &'a Store<StoredFile>, id: &str) -> Option<&'a StoredFile> {
        let now = self.now();
        files
            .map
            .get(id)
            .filter(|f| f.expires_at.is_none_or(|e| e > now))
    }

    fn get_file(&self, id: &str) -> Response {
        let files = lock(&self.files);
        match self.live_file(&files, id) {
            Some(f) => json_response(200, &file_reference(id, f)),
            None => error(404, format!("File {id} not found")),
        }
    }

    fn delete_file(&self, id: &str) -> Response {
        let mut files = lock(&self.files);
        if self.live_file(&files, id).is_none() {
            return error(404, format!("File {id} not found"));
        }
        files.map.remove(id);
        Response::empty(204)
    }
}

fn ttl_rule() -> String {
    format!("ttl_seconds must be an integer from {MIN_TTL} to {MAX_TTL} or \"persistent\"")
}

fn file_reference(id: &str, f: &StoredFile) -> Value {
    json!({
        "id": id,
        "filename": f.filename,
        "mime_type": f.mime_type,
        "size_bytes": f.size,
        "created_at": rfc3339(f.created_at),
        "expires_at": f.expires_at.map(rfc3339),
    })
}

/// The schema of a registry model of this kind, looked up without the deprecation warning
/// (the emulator is the server: warning is the client's business).
fn find_model(kind: ModelKind, name: &str) -> Option<InputSchema> {
    crate::models::list_all(kind)
        .into_iter()
        .find(|m| m.name() == name)
        .and_then(|m| m.input_schema())
}

/// The validated inputs of an image edit or a video job.
struct Inputs<'a> {
    data: &'a Part,
    prompt: Option<String>,
}

/// Applies the model schema (section 4 of the API contract); `Err` is a 422.
fn validate(schema: InputSchema, parts: &Parts) -> Result<Inputs<'_>, Response> {
    let data = parts
        .one("data")?
        .ok_or_else(|| error(422, "Field required: data"))?;
    let reference = parts.one("reference_image")?;
    let prompt = parts.text("prompt", MAX_PROMPT_CHARS)?;
    if let Some(seed) = parts.text("seed", 20)? {
        if seed.trim().parse::<i64>().is_err() {
            return Err(error(422, "seed must be an integer"));
        }
    }
    let enhance = match parts.text("enhance_prompt", 5)? {
        None => None,
        Some(v) => {
            Some(parse_bool(&v).ok_or_else(|| error(422, "enhance_prompt must be true or false"))?)
        }
    };
    parts.text("resolution", 64)?;
    let chars = prompt.as_deref().map(|p| p.chars().count());
    let too_long = || {
        error(
            422,
            format!("prompt must be at most {MAX_PROMPT_CHARS} characters"),
        )
    };
    match schema {
        InputSchema::ImageEdit => match chars {
            None => return Err(error(422, "Field required: prompt")),
            Some(0) => return Err(error(422, "prompt must not be empty")),
            Some(n) if n > MAX_PROMPT_CHARS => return Err(too_long()),
            Some(_) => {}
        },
        InputSchema::VideoEdit => match chars {
            None => return Err(error(422, "Field required: prompt")),
            Some(n) if n > MAX_PROMPT_CHARS => return Err(too_long()),
            Some(_) => {}
        },
        InputSchema::VideoRestyle => {
            match chars {
                Some(0) => return Err(error(422, "prompt must not be empty")),
                Some(n) if n > MAX_PROMPT_CHARS => return Err(too_long()),
                _ => {}
            }
            if prompt.is_some() == reference.is_some() {
                return Err(error(
                    422,
                    "Exactly one of prompt or reference_image must be given",
                ));
            }
            if enhance.is_some() && prompt.is_none() {
                return Err(error(
                    422,
                    "enhance_prompt is only allowed together with a prompt",
                ));
            }
        }
    }
    Ok(Inputs { data, prompt })
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Request headers as the log keeps them: credentials redacted.
fn logged_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            let value = if REDACTED_HEADERS.contains(&n.as_str()) {
                "<redacted>".to_owned()
            } else {
                v.clone()
            };
            (n.clone(), value)
        })
        .collect()
}
