//! A local emulator of the Decart API, for tests, CI and demos without network or API key.
//!
//! [`Emulator::start`] serves the whole HTTP API of the contract on `127.0.0.1` on a free port,
//! on plain std threads (no async runtime), until the [`Emulator`] is dropped. It mints client
//! tokens whose JWTs are really signed (Ed25519) and serves their JWKS, runs video jobs through
//! their states, answers image edits and file uploads, enforces the documented server rules,
//! injects [faults](Fault) on request, and logs every request for assertions.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//!
//! use decart::emulator::Emulator;
//!
//! let emu = Emulator::start()?;
//! println!("API {}  JWKS {}  key {}", emu.base_url(), emu.jwks_url(), emu.api_key());
//!
//! // Any HTTP client works; here a bare socket fetches the public keys.
//! let mut s = TcpStream::connect(emu.addr()).unwrap();
//! s.write_all(b"GET /api/auth/jwks HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
//! let mut answer = String::new();
//! s.read_to_string(&mut answer).unwrap();
//! assert!(answer.starts_with("HTTP/1.1 200 OK"));
//! assert!(answer.contains("\"crv\":\"Ed25519\""));
//! assert_eq!(emu.count("GET", "/api/auth/jwks"), 1);
//! # Ok::<(), decart::Error>(())
//! ```
//!
//! With the SDK's client, point it at [`Emulator::base_url`] with [`Emulator::api_key`]; to
//! verify the client-token JWTs, use [`Emulator::jwks_url`], and [`Emulator::issuer`] and
//! [`Emulator::audience`] as the expected issuer and audience.
//!
//! # Endpoints and rules
//!
//! Every `/v1/…` call needs `X-API-KEY`: a permanent key of the emulator
//! ([`DEFAULT_API_KEY`] unless [`EmulatorBuilder::api_key`] says otherwise), an `ek_…` client key
//! it minted, or a client-token JWT it signed, until they expire. No key, or an unknown one:
//! `401 {"detail": …}`. Error answers are `{"detail": "…"}`.
//!
//! | call | answer |
//! |---|---|
//! | `GET /api/auth/jwks` (no key) | `{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid":…,"x":…}]}`, newest first, `Cache-Control: public, max-age=300` |
//! | `POST /v1/client/tokens` | `{"apiKey":"ek_…","token":"<JWT>","expiresAt":"<RFC 3339>","permissions":…,"constraints":…}`; 403 `Cannot create token from client token` with a client key or JWT; 400 when `expiresIn` is not 1–3600, `allowedModels` or `allowedOrigins` has more than 20 entries, an origin is not `scheme://host[:port]`, or the body is not a JSON object (empty body: `{}`); 413 over 1 MiB |
//! | `POST /v1/generate/{model}` | the [derived image](expected_image_result), with the `data` part's content type when it is `image/*`, else `image/png` |
//! | `POST /v1/jobs/{model}` | `{"job_id":"job_…","status":"pending"}` |
//! | `GET /v1/jobs/{id}` | `{"job_id":…,"status":…}`: the first request answers `pending`, the next ones `processing`, and from request *N*+1 on (*N* = [`polls_before_completion`](EmulatorBuilder::polls_before_completion), default 2) `completed`, or `failed` with the reason in `"error"`: `{"job_id":…,"status":"failed","error":"…"}` |
//! | `GET /v1/jobs/{id}/content` | once completed: the [derived video](expected_video_result) as `video/mp4`, streamed; 409 before, or if the job failed |
//! | `POST /v1/files` | part `file` (required) and `ttl_seconds` (60–2 592 000 or `persistent`, default 86 400; else 400): `{"id":"file_…","filename":…,"mime_type":…,"size_bytes":…,"created_at":…,"expires_at":…\|null}` |
//! | `GET /v1/files/{id}` | the same reference; 404 once deleted or expired |
//! | `DELETE /v1/files/{id}` | 204, no body |
//! | `GET /v1/stream` (WebSocket; feature `realtime`) | the realtime control channel, key in the `api_key` query parameter: `livekit_join` → queue positions, then `livekit_room_info` (a loopback `livekit_url`, a fake token); `prompt_ack` / `set_image_ack`; `generation_started` and ticks; played per `RealtimeScript` (refusal, server error, dropped socket, close codes, silence, garbage); sessions logged in `Emulator::realtime_sessions` |
//! | `GET /livekit/rtc` (WebSocket + UDP; feature `realtime`) | the session's LiveKit room (token from the room info or `watch-stream`): protobuf signalling, one UDP socket for both peer connections; once the session has a state (a prompt or image acknowledged, passthrough included) every frame goes back transformed ([`transformed_frame`]) and to the viewers; faults per `MediaAnswer` |
//!
//! - Unknown model: `404 {"detail":"Model X not found"}` (image models for `generate`, video
//!   models for `jobs`, from the crate's registry). Unknown job or file: 404. Wrong method: 405.
//!   Other paths: 404.
//! - Multipart bodies: a content type other than `multipart/form-data` is 415; a malformed body
//!   is 400. The model schemas are enforced with 422: `data` required; image edit `prompt` 1–1000
//!   characters; video edit `prompt` required, may be empty, at most 1000; restyle exactly one
//!   of `prompt` (1–1000) and `reference_image`, `enhance_prompt` only with a prompt; `seed` an
//!   integer; `enhance_prompt` a boolean; a field given twice. Other fields are accepted and
//!   logged.
//! - A job fails, with a reason, when [`Emulator::fail_next_job`] asked for it, when its prompt
//!   contains [`JOB_FAIL_MARKER`], or always with [`EmulatorBuilder::fail_jobs`].
//! - Uploads are consumed as streams: each part is hashed (SHA-256) and counted as it arrives,
//!   and only its first 4 KiB are kept. A 1 GiB upload costs no more memory than a small one.
//! - Ids in paths are percent-decoded.
//!
//! # Client tokens
//!
//! The JWT's header is `{"alg":"EdDSA","kid":…,"typ":"JWT"}`; its claims: `sub`, `iss` and `aud`
//! ([`Emulator::issuer`], [`Emulator::audience`]: the base URL unless set), `iat`, `exp`
//! (`iat` + `expiresIn`), `jti`, `organizationId`, `parent_api_key_id`, `api_key_name`, `models`
//! and `origins` (when allowed models or origins were set), `constraints` (when set), and,
//! copied verbatim from `metadata`, `service_tier`, `priority` and `attribution`.
//! [`Emulator::rotate_keys`] signs with a new key from then on and keeps publishing the old ones;
//! [`Emulator::drop_old_keys`] stops publishing them (their tokens stop verifying).
//!
//! # Results derived from the upload
//!
//! An image edit answers [`expected_image_result`] of the uploaded `data` bytes; a job's content
//! is [`expected_video_result`] of its `data` bytes: a fixed first line, `len=<n>
//! sha256=<hex>`, then the first [`ECHO_LEN`] bytes of the input. The video size can be set
//! ([`EmulatorBuilder::video_result_size`]) to any size, 200 MiB included: the content is
//! generated as it is sent, never held.
//!
//! # Bounds
//!
//! Request heads at most 16 KiB and 64 header fields (431), JSON bodies at most 1 MiB (413),
//! multipart part heads at most 8 KiB and 16 fields, at most 64 parts (400). Every socket read
//! and write times out ([`EmulatorBuilder::read_timeout`], default 30 s; an idle keep-alive
//! connection is closed then). At most 256 connections at once (503 beyond). At most 10 000
//! jobs and files and 100 000 client keys are remembered (the oldest are forgotten), and the
//! request log keeps the last 10 000 requests. Bad input never panics the emulator.

mod api;
mod fault;
mod http;
#[cfg(feature = "realtime")]
mod livekit;
mod log;
mod multipart;
#[cfg(feature = "realtime")]
mod realtime;
mod results;
mod tokens;
mod util;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use api::JOB_FAIL_MARKER;
pub use fault::{Fault, GARBAGE_BODY, HTML_BODY};
#[cfg(feature = "realtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "realtime")))]
pub use livekit::transformed_frame;
pub use log::{Credential, LoggedPart, LoggedRequest};
#[cfg(feature = "realtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "realtime")))]
pub use realtime::{
    AckAnswer, AfterTicks, JoinAnswer, MediaAnswer, RealtimeScript, RealtimeSessionLog,
};
pub use results::{
    DerivedResult, ECHO_LEN, IMAGE_MAGIC, VIDEO_MAGIC, expected_image_result,
    expected_video_result, video_result_reader,
};

use crate::Error;
use api::{Config, State};
use http::{Limits, Server};
use tokens::Identity;
use util::lock;

/// The permanent API key an emulator accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "decart-emulator-key";
/// Status requests a job answers before its final state, by default.
pub const DEFAULT_POLLS: u32 = 2;

/// A running emulator. Dropping it stops the server: every thread is joined and the port freed.
pub struct Emulator {
    state: Arc<State>,
    server: Server,
    base_url: String,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts an emulator with the default settings on `127.0.0.1`, on a free port.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `address`) when no port can be bound or no thread started.
    pub fn start() -> Result<Emulator, Error> {
        Emulator::builder().start()
    }

    /// A builder for other settings.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// The base URL, `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The socket address the emulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The port the emulator listens on.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// The JWKS URL, `{base_url}/api/auth/jwks`.
    pub fn jwks_url(&self) -> String {
        format!("{}/api/auth/jwks", self.base_url)
    }

    /// The `iss` claim of the tokens it mints: the base URL unless
    /// [`EmulatorBuilder::issuer`] set another.
    pub fn issuer(&self) -> &str {
        &self.state.config.identity.issuer
    }

    /// The `aud` claim of the tokens it mints: the base URL unless
    /// [`EmulatorBuilder::audience`] set another.
    pub fn audience(&self) -> &str {
        &self.state.config.identity.audience
    }

    /// A permanent API key it accepts (the first one configured).
    pub fn api_key(&self) -> &str {
        self.state
            .config
            .api_keys
            .first()
            .map_or(DEFAULT_API_KEY, String::as_str)
    }

    /// How the next realtime sessions (`/v1/stream`) are played, from now on (feature
    /// `realtime`). Sessions already open keep their script.
    #[cfg(feature = "realtime")]
    #[cfg_attr(docsrs, doc(cfg(feature = "realtime")))]
    pub fn set_realtime_script(&self, script: RealtimeScript) {
        *lock(&self.state.realtime.script) = script;
    }

    /// Every realtime session served (the last 1000), oldest first (feature `realtime`).
    #[cfg(feature = "realtime")]
    #[cfg_attr(docsrs, doc(cfg(feature = "realtime")))]
    pub fn realtime_sessions(&self) -> Vec<RealtimeSessionLog> {
        lock(&self.state.realtime.sessions).to_vec()
    }

    /// The `kid` of the key that signs new tokens.
    pub fn current_kid(&self) -> String {
        lock(&self.state.keys).current_kid().to_owned()
    }

    /// The `kid`s the JWKS lists, newest first.
    pub fn published_kids(&self) -> Vec<String> {
        lock(&self.state.keys).published_kids()
    }

    /// Adds a new signing key (a new `kid`) and signs with it from now on. The old public keys
    /// stay in the JWKS, so tokens signed before still verify. Returns the new `kid`.
    pub fn rotate_keys(&self) -> String {
        lock(&self.state.keys).rotate()
    }

    /// Removes every key but the current one from the JWKS (and stops accepting JWTs signed
    /// with them as credentials). Returns how many were removed.
    pub fn drop_old_keys(&self) -> usize {
        lock(&self.state.keys).unpublish_old()
    }

    /// Makes the next submitted job fail with this reason (queued: call it twice for two jobs).
    pub fn fail_next_job(&self, reason: impl Into<String>) {
        lock(&self.state.fail_next).push_back(reason.into());
    }

    /// The ids of the jobs submitted so far (and still remembered), oldest first: a job
    /// submitted twice shows twice.
    pub fn job_ids(&self) -> Vec<String> {
        self.state.job_ids()
    }

    /// The ids of the files uploaded and not deleted, oldest first.
    pub fn file_ids(&self) -> Vec<String> {
        self.state.file_ids()
    }

    /// Sets the size of the results of jobs submitted from now on (`None`: the natural size).
    pub fn set_video_result_size(&self, size: Option<u64>) {
        *lock(&self.state.video_size) = size;
    }

    /// Moves the emulator's clock by `seconds` (negative: into the past) from the system clock:
    /// token `iat`/`exp`, `expiresAt`, file dates and expiry checks all use it. Minting with an
    /// offset of -7200 gives tokens that are already expired.
    pub fn set_clock_offset(&self, seconds: i64) {
        self.state.clock_offset.store(seconds, Ordering::Relaxed);
    }

    /// Queues a fault; faults are tried in the order they were injected, and the first that
    /// matches a request acts on it. A fault with [`times(0)`](Fault::times) is ignored.
    pub fn inject(&self, fault: Fault) {
        if fault.remaining != Some(0) {
            lock(&self.state.faults).push(fault);
        }
    }

    /// Removes every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.state.faults).clear();
    }

    /// How many faults are still queued.
    pub fn pending_faults(&self) -> usize {
        lock(&self.state.faults).len()
    }

    /// Every logged request, oldest first (the last [`EmulatorBuilder::log_capacity`]).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.state.log).iter().cloned().collect()
    }

    /// How many logged requests have this method (`"*"` for any) and a path starting with
    /// `path_prefix`.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        lock(&self.state.log)
            .iter()
            .filter(|r| r.matches(method, path_prefix))
            .count()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        lock(&self.state.log).clear();
    }

    /// A handle that can stop the emulator from another thread (a Ctrl-C handler), ending
    /// [`wait`](Emulator::wait).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            state: Arc::clone(&self.state),
            addr: self.addr(),
        }
    }

    /// Serves until a [`ShutdownHandle`] stops the emulator, then shuts it down. For a binary
    /// that runs the emulator in the foreground.
    pub fn wait(self) {
        self.state.stopper.wait();
    }

    /// Stops the emulator now (the same as dropping it).
    pub fn shutdown(self) {}
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.shutdown();
    }
}

/// Stops an [`Emulator`] from another thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    state: Arc<State>,
    addr: SocketAddr,
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

impl ShutdownHandle {
    /// Stops accepting connections and ends [`Emulator::wait`]; open connections close after
    /// their current request. The emulator's threads are joined when it is dropped.
    pub fn shutdown(&self) {
        self.state.stopper.stop();
        http::wake(self.addr);
    }
}

/// Settings for [`Emulator`]; from [`Emulator::builder`].
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    addr: SocketAddr,
    api_keys: Vec<String>,
    polls: u32,
    video_result_size: Option<u64>,
    sign_tokens: bool,
    jwks_max_age: Duration,
    issuer: Option<String>,
    audience: Option<String>,
    user_id: String,
    organization_id: String,
    api_key_id: String,
    api_key_name: String,
    fail_jobs: Option<String>,
    read_timeout: Duration,
    write_timeout: Duration,
    max_connections: usize,
    log_capacity: usize,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        EmulatorBuilder {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            api_keys: vec![DEFAULT_API_KEY.to_owned()],
            polls: DEFAULT_POLLS,
            video_result_size: None,
            sign_tokens: true,
            jwks_max_age: Duration::from_secs(300),
            issuer: None,
            audience: None,
            user_id: "emulator-user".into(),
            organization_id: "emulator-org".into(),
            api_key_id: "emulator-key-id".into(),
            api_key_name: "emulator".into(),
            fail_jobs: None,
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_connections: 256,
            log_capacity: 10_000,
        }
    }
}

impl EmulatorBuilder {
    /// The address to listen on (default `127.0.0.1:0`: loopback, a free port).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Listens on this port of `127.0.0.1` (0: a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.addr.set_port(port);
        self
    }

    /// The permanent API key [`Emulator::api_key`] returns, replacing [`DEFAULT_API_KEY`].
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_keys[0] = key.into();
        self
    }

    /// One more permanent API key to accept.
    pub fn accept_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_keys.push(key.into());
        self
    }

    /// How many status requests a job answers `pending`/`processing` before its final state
    /// (default [`DEFAULT_POLLS`]; 0: the first status request already answers `completed`).
    pub fn polls_before_completion(mut self, polls: u32) -> Self {
        self.polls = polls;
        self
    }

    /// The size in bytes of every job result (default: the natural size of
    /// [`expected_video_result`]); results are generated as they are sent.
    pub fn video_result_size(mut self, bytes: u64) -> Self {
        self.video_result_size = Some(bytes);
        self
    }

    /// Whether token answers carry a signed JWT (default true; false: `token` is omitted, as
    /// when the platform cannot sign).
    pub fn sign_tokens(mut self, sign: bool) -> Self {
        self.sign_tokens = sign;
        self
    }

    /// The `max-age` of the JWKS answer's `Cache-Control` (default 300 s).
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = max_age;
        self
    }

    /// The `iss` claim (default: the base URL).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The `aud` claim (default: the base URL).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The `sub` claim (default `emulator-user`).
    pub fn user_id(mut self, sub: impl Into<String>) -> Self {
        self.user_id = sub.into();
        self
    }

    /// The `organizationId` claim (default `emulator-org`).
    pub fn organization_id(mut self, id: impl Into<String>) -> Self {
        self.organization_id = id.into();
        self
    }

    /// The `parent_api_key_id` and `api_key_name` claims (default `emulator-key-id`,
    /// `emulator`).
    pub fn api_key_identity(mut self, id: impl Into<String>, name: impl Into<String>) -> Self {
        self.api_key_id = id.into();
        self.api_key_name = name.into();
        self
    }

    /// Makes every job fail with this reason.
    pub fn fail_jobs(mut self, reason: impl Into<String>) -> Self {
        self.fail_jobs = Some(reason.into());
        self
    }

    /// How long any socket read may wait, an idle keep-alive connection's wait for its next
    /// request included (default 30 s).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long any socket write may wait (default 30 s).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Connections served at once, at most (default 256); more are answered 503 and closed.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How many requests the log keeps (default 10 000; 0 turns the log off).
    pub fn log_capacity(mut self, n: usize) -> Self {
        self.log_capacity = n;
        self
    }

    /// Binds and starts serving.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `address`) when the address cannot be bound (in use, not
    /// local) or the server thread cannot be started.
    pub fn start(self) -> Result<Emulator, Error> {
        let bind_error = |e: std::io::Error| {
            Error::invalid_input(
                "address",
                format!("the emulator cannot listen on {}: {e}", self.addr),
            )
        };
        let listener = TcpListener::bind(self.addr).map_err(bind_error)?;
        let local = listener.local_addr().map_err(bind_error)?;
        let mut shown = local;
        if shown.ip().is_unspecified() {
            shown.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let base_url = format!("http://{shown}");
        let config = Config {
            api_keys: self.api_keys.clone(),
            polls: self.polls,
            sign_tokens: self.sign_tokens,
            jwks_max_age: self.jwks_max_age.as_secs(),
            identity: Identity {
                issuer: self.issuer.clone().unwrap_or_else(|| base_url.clone()),
                audience: self.audience.clone().unwrap_or_else(|| base_url.clone()),
                user_id: self.user_id.clone(),
                organization_id: self.organization_id.clone(),
                api_key_id: self.api_key_id.clone(),
                api_key_name: self.api_key_name.clone(),
            },
            log_capacity: self.log_capacity,
            fail_all_jobs: self.fail_jobs.clone(),
        };
        let state = Arc::new(State::new(config, self.video_result_size));
        let limits = Limits {
            read_timeout: self.read_timeout,
            write_timeout: self.write_timeout,
            max_connections: self.max_connections,
        };
        let server = Server::start(
            listener,
            Arc::clone(&state),
            Arc::clone(&state.stopper),
            limits,
        )
        .map_err(bind_error)?;
        Ok(Emulator {
            state,
            server,
            base_url,
        })
    }
}
