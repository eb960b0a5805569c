//! End to end against the crate's own emulator, written once for both flavours: tokens minted
//! with real signatures, jobs through their states, uploads, and every injected fault.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use decart::emulator::{Emulator, Fault, expected_image_result, expected_video_result};
use decart::jwt::{CacheConfig, VerifyError, VerifyOptions};
use decart::{
    CreateTokenOptions, Error, FileInput, FileTtl, ImageEditInput, TransportErrorKind,
    VideoEditInput, WaitOptions, models,
};

use super::common::{FakeClock, fast_retries};
use super::{Client, JwksVerifier, JwksVerifierBuilder, maybe_async};

fn emulator() -> Emulator {
    Emulator::builder()
        .polls_before_completion(2)
        .start()
        .unwrap()
}

fn client(emu: &Emulator) -> Client {
    Client::builder()
        .api_key(emu.api_key())
        .base_url(emu.base_url())
        .jwks_url(emu.jwks_url())
        .verify_options(
            VerifyOptions::new()
                .issuer(emu.issuer())
                .audience(emu.audience()),
        )
        .retry_policy(fast_retries())
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A verifier of the emulator's tokens, to finish building.
fn verifier_of(emu: &Emulator) -> JwksVerifierBuilder {
    JwksVerifier::builder().jwks_url(emu.jwks_url()).options(
        VerifyOptions::new()
            .issuer(emu.issuer())
            .audience(emu.audience()),
    )
}

fn fast_wait() -> WaitOptions {
    WaitOptions::new()
        .first_poll(Duration::from_millis(5))
        .interval(Duration::from_millis(5))
        .deadline(Some(Duration::from_secs(20)))
}

#[maybe_async]
pub async fn minted_token_verifies_against_the_emulator_jwks() {
    let emu = emulator();
    let c = client(&emu);
    let options = CreateTokenOptions::new()
        .expires_in(300)
        .allowed_models(["lucy-2.1"])
        .allowed_origins(["https://example.com"])
        .metadata(serde_json::json!({"service_tier": 0, "attribution": {"team": "qa"}}));
    let token = c.tokens().create(&options).await.unwrap();
    assert!(token.api_key.expose().starts_with("ek_"));
    let jwt = token.token.clone().expect("the emulator signs tokens");
    let verified = c.tokens().verify(jwt.expose()).await.unwrap();
    assert_eq!(verified.service_tier(), Some(0));
    assert_eq!(verified.pool().as_str(), "free");
    assert!(verified.allows_model("lucy-2.1"));
    assert!(!verified.allows_model("lucy-image-2"));
    assert!(verified.allows_origin("https://example.com"));
    assert_eq!(
        verified
            .attribution()
            .and_then(|a| a.get("team"))
            .map(String::as_str),
        Some("qa")
    );
    // The client key may call the API but not mint tokens.
    let as_client_key = Client::builder()
        .api_key(token.api_key.expose())
        .base_url(emu.base_url())
        .build()
        .unwrap();
    let denied = as_client_key
        .tokens()
        .create(&CreateTokenOptions::new())
        .await;
    assert_eq!(denied.unwrap_err().status(), Some(403));
}

#[maybe_async]
pub async fn rotated_key_is_picked_up() {
    let emu = emulator();
    let c = client(&emu);
    let mut cache = CacheConfig::default();
    cache.unknown_kid_cooldown = Duration::ZERO;
    let verifier = verifier_of(&emu).cache_config(cache).build().unwrap();
    let first = c.tokens().create(&CreateTokenOptions::new()).await.unwrap();
    let ok = verifier.verify(first.token.unwrap().expose()).await;
    assert!(ok.is_ok());
    let new_kid = emu.rotate_keys();
    let second = c.tokens().create(&CreateTokenOptions::new()).await.unwrap();
    let verified = verifier
        .verify(second.token.unwrap().expose())
        .await
        .unwrap();
    assert_eq!(verified.kid(), new_kid);
    assert_eq!(verifier.fetch_count(), 2);
}

/// The hardening issue's reproduction: a key rotated out and dropped from the emulator's JWKS
/// stops verifying at the first refresh after it is gone.
#[maybe_async]
pub async fn a_dropped_key_is_refused_after_the_cache_expires() {
    let emu = emulator();
    let c = client(&emu);
    let clock = FakeClock::new();
    let now = clock.clone();
    let verifier = verifier_of(&emu)
        .cache_clock(move || now.now())
        .build()
        .unwrap();
    let old = c.tokens().create(&CreateTokenOptions::new()).await.unwrap();
    let jwt = old.token.unwrap();
    let ok = verifier.verify(jwt.expose()).await;
    assert!(ok.is_ok(), "{ok:?}");
    emu.rotate_keys();
    assert_eq!(emu.drop_old_keys(), 1);
    // Past the emulator's 5-minute max-age, within the stale-if-error hour.
    clock.advance(Duration::from_secs(6 * 60));
    let err = verifier.verify(jwt.expose()).await.unwrap_err();
    assert!(
        matches!(err, Error::Token(VerifyError::UnknownKid { .. })),
        "{err:?}"
    );
    assert_eq!(verifier.fetch_count(), 2);
}

#[maybe_async]
pub async fn image_edit_round_trip() {
    let emu = emulator();
    let input = b"\x89PNG pretend image bytes".to_vec();
    let model = models::image("lucy-image-2").unwrap();
    let result = client(&emu)
        .process()
        .image(
            &model,
            ImageEditInput::new(
                "blue",
                FileInput::bytes(input.clone()).with_filename("a.png"),
            ),
        )
        .await
        .unwrap();
    assert_eq!(result, expected_image_result(&input));
}

#[maybe_async]
pub async fn video_job_with_status_callbacks() {
    let emu = emulator();
    let c = client(&emu);
    let input = vec![42u8; 100_000];
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let model = models::video("lucy-2.1").unwrap();
    let job = c
        .queue()
        .submit_and_wait(
            &model,
            VideoEditInput::new(
                "snow",
                FileInput::bytes(input.clone()).with_filename("v.mp4"),
            ),
            fast_wait().on_status(move |s| log.lock().unwrap().push(s.state.to_string())),
        )
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.first().map(String::as_str), Some("pending"));
    assert_eq!(seen.last().map(String::as_str), Some("completed"));
    assert!(seen.iter().any(|s| s == "processing"), "{seen:?}");
    let result = c.queue().result(&job.job_id).await.unwrap();
    assert_eq!(result, expected_video_result(&input, None));
    assert_eq!(emu.count("POST", "/v1/jobs/"), 1);
}

#[maybe_async]
pub async fn failed_job_reason_comes_through() {
    let emu = emulator();
    emu.fail_next_job("content policy violation");
    let model = models::video("lucy-2.1").unwrap();
    let err = client(&emu)
        .queue()
        .submit_and_wait(
            &model,
            VideoEditInput::new("x", FileInput::bytes(vec![1u8; 10])),
            fast_wait(),
        )
        .await
        .unwrap_err();
    match err {
        Error::JobFailed { reason, .. } => assert!(reason.contains("content policy"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[maybe_async]
pub async fn file_upload_round_trip() {
    let emu = emulator();
    let c = client(&emu);
    let file = c
        .files()
        .upload(
            FileInput::bytes(b"hello file".to_vec()).with_filename("hello.txt"),
            Some(FileTtl::Seconds(120)),
        )
        .await
        .unwrap();
    assert!(file.id.starts_with("file_"));
    assert_eq!(file.size_bytes, 10);
    assert_eq!(file.filename.as_deref(), Some("hello.txt"));
    assert!(file.expires_at.is_some());
    let again = c.files().get(&file.id).await.unwrap();
    assert_eq!(again.id, file.id);
    c.files().delete(&file.id).await.unwrap();
    let gone = c.files().get(&file.id).await;
    assert_eq!(gone.unwrap_err().status(), Some(404));
}

#[maybe_async]
pub async fn injected_503_is_retried_after_retry_after() {
    let emu = emulator();
    emu.inject(
        Fault::status(503)
            .retry_after(1)
            .times(2)
            .on("POST", "/v1/client/tokens"),
    );
    let token = client(&emu)
        .tokens()
        .create(&CreateTokenOptions::new())
        .await;
    assert!(token.is_ok(), "{token:?}");
    assert_eq!(emu.count("POST", "/v1/client/tokens"), 3);
}

#[maybe_async]
pub async fn injected_500_on_submit_is_not_retried() {
    let emu = emulator();
    emu.inject(Fault::status(500).on("POST", "/v1/jobs/"));
    let model = models::video("lucy-2.1").unwrap();
    let err = client(&emu)
        .queue()
        .submit(
            &model,
            VideoEditInput::new("x", FileInput::bytes(vec![1u8; 10])),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(emu.count("POST", "/v1/jobs/"), 1);
    assert!(emu.job_ids().is_empty());
}

#[maybe_async]
pub async fn lost_answer_to_a_submit_never_duplicates_the_job() {
    let emu = emulator();
    emu.inject(
        Fault::drop_connection()
            .after_processing()
            .on("POST", "/v1/jobs/"),
    );
    let model = models::video("lucy-2.1").unwrap();
    let err = client(&emu)
        .queue()
        .submit(
            &model,
            VideoEditInput::new("x", FileInput::bytes(vec![1u8; 10])),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(emu.count("POST", "/v1/jobs/"), 1);
    assert_eq!(emu.job_ids().len(), 1);
}

#[maybe_async]
pub async fn injected_bad_bodies_are_typed_errors() {
    let emu = emulator();
    let c = client(&emu);
    for fault in [Fault::garbage(), Fault::html(), Fault::empty()] {
        emu.inject(fault.on("POST", "/v1/client/tokens"));
        let result = c.tokens().create(&CreateTokenOptions::new()).await;
        assert!(matches!(result, Err(Error::Decode { .. })), "{result:?}");
    }
    emu.inject(Fault::truncated().times(3).on("POST", "/v1/client/tokens"));
    let result = c.tokens().create(&CreateTokenOptions::new()).await;
    match result {
        Err(Error::Transport { source, .. }) => assert_eq!(source.kind(), TransportErrorKind::Io),
        other => panic!("{other:?}"),
    }
    emu.inject(Fault::drop_connection().times(3).on("GET", "/v1/jobs/"));
    let result = c.queue().status("job_missing").await;
    assert!(matches!(result, Err(Error::Transport { .. })), "{result:?}");
}

#[maybe_async]
pub async fn injected_delay_hits_the_timeout() {
    let emu = emulator();
    emu.inject(Fault::delay(Duration::from_secs(3)).on("POST", "/v1/client/tokens"));
    let c = Client::builder()
        .api_key(emu.api_key())
        .base_url(emu.base_url())
        .request_timeout(Duration::from_millis(300))
        .no_retries()
        .build()
        .unwrap();
    let result = c.tokens().create(&CreateTokenOptions::new()).await;
    match result {
        Err(Error::Transport { source, .. }) => {
            assert_eq!(source.kind(), TransportErrorKind::Timeout)
        }
        other => panic!("{other:?}"),
    }
}

#[maybe_async]
pub async fn emulator_enforces_auth_and_limits() {
    let emu = emulator();
    let wrong = Client::builder()
        .api_key("wrong-key")
        .base_url(emu.base_url())
        .no_retries()
        .build()
        .unwrap();
    let denied = wrong.tokens().create(&CreateTokenOptions::new()).await;
    assert_eq!(denied.unwrap_err().status(), Some(401));
    // A custom model the emulator does not know.
    let model = decart::Model::custom(decart::ModelKind::Video, "nope", "/v1/jobs/nope").unwrap();
    let input = decart::CustomInput::new().file("data", FileInput::bytes(vec![1]));
    let err = client(&emu)
        .queue()
        .submit(&model, input)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[macro_export]
macro_rules! e2e_tests {
    ($async_test:ident) => {
        $async_test!(e2e:
            minted_token_verifies_against_the_emulator_jwks,
            rotated_key_is_picked_up,
            a_dropped_key_is_refused_after_the_cache_expires,
            image_edit_round_trip,
            video_job_with_status_callbacks,
            failed_job_reason_comes_through,
            file_upload_round_trip,
            injected_503_is_retried_after_retry_after,
            injected_500_on_submit_is_not_retried,
            lost_answer_to_a_submit_never_duplicates_the_job,
            injected_bad_bodies_are_typed_errors,
            injected_delay_hits_the_timeout,
            emulator_enforces_auth_and_limits
        );
    };
}
