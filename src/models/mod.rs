//! Request and response models shared by both flavours.
//!
//! - the model registry ([`Model`], [`video`], [`image`], [`realtime()`], [`list`]);
//! - file inputs ([`FileInput`]);
//! - inputs of image edits and video jobs, their validation and multipart fields ([`Input`]);
//! - realtime subscribe tokens ([`encode_subscribe_token`], [`decode_subscribe_token`]).

// Without an HTTP flavour the wire (de)serialisers here are unused.
#![cfg_attr(not(any(feature = "blocking", feature = "async")), allow(dead_code))]

pub mod files;
pub mod jobs;
pub mod tokens;

pub mod file;
pub mod inputs;
pub mod realtime;
pub mod registry;

pub use file::{DEFAULT_CONTENT_TYPE, FileInput, FileSource};
pub use inputs::{
    CustomInput, Field, FieldValue, ImageEditInput, Input, MAX_PROMPT_CHARS, VideoEditInput,
    VideoRestyleInput,
};
pub use realtime::{decode_subscribe_token, encode_subscribe_token};
pub use registry::{
    InputSchema, Model, ModelKind, ModelStatus, RealtimeSpeed, image, list, list_all, realtime,
    resolve_alias, video,
};

pub use files::{FileRef, FileTtl};
pub use jobs::{CancelHandle, CompletedJob, JobState, JobStatus, WaitOptions};
