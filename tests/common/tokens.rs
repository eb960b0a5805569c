//! Client tokens and client construction, written once for both flavours.

use std::time::{Duration, Instant};

use decart::{CreateTokenOptions, Error, TransportErrorKind};
use mockito::Matcher;
use serde_json::json;

use super::common::raw::{Behaviour, RawServer};
use super::common::{KEY, TOKEN_OK, fast_retries, user_agent, with_env};
use super::{Client, assert_mock, create, maybe_async, server};

const PATH: &str = "/v1/client/tokens";

fn client(url: &str) -> Client {
    Client::builder()
        .api_key(KEY)
        .base_url(url)
        .retry_policy(fast_retries())
        .build()
        .unwrap()
}

/// A mock of the token endpoint that checks every header of the wire.
fn token_mock(server: &mut mockito::Server, body: Matcher) -> mockito::Mock {
    server
        .mock("POST", PATH)
        .match_header("x-api-key", KEY)
        .match_header("user-agent", user_agent().as_str())
        .match_header("content-type", "application/json")
        .match_header("accept", "application/json")
        .match_body(body)
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(TOKEN_OK)
        .expect(1)
}

#[maybe_async]
async fn expect_body(options: CreateTokenOptions, wire: serde_json::Value) {
    let mut server = server().await;
    let mock = create(token_mock(&mut server, Matcher::Json(wire))).await;
    let token = client(&server.url()).tokens().create(&options).await;
    let token = token.unwrap();
    assert_eq!(token.api_key.expose(), "ek_test123456789");
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn create_without_options_sends_empty_object() {
    let mut server = server().await;
    let mock = create(token_mock(&mut server, Matcher::Exact("{}".into()))).await;
    let token = client(&server.url())
        .tokens()
        .create(&CreateTokenOptions::new())
        .await
        .unwrap();
    assert_eq!(token.api_key.expose(), "ek_test123456789");
    assert_eq!(
        token.token.as_ref().map(|t| t.expose()),
        Some("eyJhbGciOiJFZERTQSJ9.e30.sig")
    );
    assert_eq!(token.expires_at, "2024-12-15T12:10:00Z");
    assert!(token.expires_at_time().is_some());
    assert_eq!(token.permissions, None);
    assert_eq!(token.constraints, None);
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn create_sends_metadata() {
    expect_body(
        CreateTokenOptions::new()
            .metadata(json!({"service_tier": 2, "attribution": {"team": "a"}})),
        json!({"metadata": {"service_tier": 2, "attribution": {"team": "a"}}}),
    )
    .await;
}

#[maybe_async]
pub async fn create_sends_expires_in() {
    expect_body(
        CreateTokenOptions::new().expires_in(120),
        json!({"expiresIn": 120}),
    )
    .await;
}

#[maybe_async]
pub async fn create_sends_allowed_models() {
    expect_body(
        CreateTokenOptions::new().allowed_models(["lucy-2.1", "lucy-image-2"]),
        json!({"allowedModels": ["lucy-2.1", "lucy-image-2"]}),
    )
    .await;
}

#[maybe_async]
pub async fn create_sends_allowed_origins() {
    expect_body(
        CreateTokenOptions::new().allowed_origins(["https://example.com", "http://localhost:3000"]),
        json!({"allowedOrigins": ["https://example.com", "http://localhost:3000"]}),
    )
    .await;
}

#[maybe_async]
pub async fn create_sends_constraints() {
    expect_body(
        CreateTokenOptions::new().max_session_duration(300),
        json!({"constraints": {"realtime": {"maxSessionDuration": 300}}}),
    )
    .await;
}

#[maybe_async]
pub async fn create_sends_all_options_together() {
    expect_body(
        CreateTokenOptions::new()
            .metadata(json!({"priority": true}))
            .expires_in(3600)
            .allowed_models(["lucy-2.1"])
            .allowed_origins(["https://example.com"])
            .max_session_duration(60),
        json!({
            "metadata": {"priority": true},
            "expiresIn": 3600,
            "allowedModels": ["lucy-2.1"],
            "allowedOrigins": ["https://example.com"],
            "constraints": {"realtime": {"maxSessionDuration": 60}}
        }),
    )
    .await;
}

#[maybe_async]
pub async fn response_without_jwt_is_still_a_success() {
    let mut server = server().await;
    let body = r#"{"apiKey":"ek_abc123456","expiresAt":"2024-12-15T12:10:00Z","permissions":{"models":["lucy-2.1"],"origins":["https://example.com"]},"constraints":{"realtime":{"maxSessionDuration":120}}}"#;
    let mock = create(
        server
            .mock("POST", PATH)
            .with_status(200)
            .with_body(body)
            .expect(1),
    )
    .await;
    let token = client(&server.url())
        .tokens()
        .create(&CreateTokenOptions::new())
        .await
        .unwrap();
    assert!(token.token.is_none());
    let perms = token.permissions.clone().unwrap();
    assert_eq!(perms.models, Some(vec!["lucy-2.1".to_string()]));
    assert_eq!(perms.origins, Some(vec!["https://example.com".to_string()]));
    assert_eq!(
        token.constraints,
        Some(json!({"realtime": {"maxSessionDuration": 120}}))
    );
    assert_mock(&mock).await;
}

#[maybe_async]
async fn expect_api_error(status: usize, body: &str, detail: Option<&str>, hits: usize) -> Error {
    let mut server = server().await;
    let mock = create(
        server
            .mock("POST", PATH)
            .with_status(status)
            .with_body(body)
            .expect(hits),
    )
    .await;
    let result = client(&server.url())
        .tokens()
        .create(&CreateTokenOptions::new())
        .await;
    let err = result.unwrap_err();
    assert_eq!(err.code(), "TOKEN_CREATE_ERROR");
    assert_eq!(err.status(), Some(status as u16));
    match &err {
        Error::Api(api) => assert_eq!(api.detail.as_deref(), detail),
        other => panic!("expected an API error, got {other:?}"),
    }
    assert_mock(&mock).await;
    err
}

#[maybe_async]
pub async fn invalid_key_401_is_not_retried() {
    let err = expect_api_error(
        401,
        r#"{"detail":"Invalid API key"}"#,
        Some("Invalid API key"),
        1,
    )
    .await;
    assert_eq!(
        err.to_string(),
        "create client token failed: HTTP 401: Invalid API key"
    );
    assert!(!err.is_retryable());
}

#[maybe_async]
pub async fn client_key_403_cannot_mint() {
    let err = expect_api_error(
        403,
        r#"{"detail":"Cannot create token from client token"}"#,
        Some("Cannot create token from client token"),
        1,
    )
    .await;
    assert!(
        err.to_string()
            .contains("Cannot create token from client token")
    );
}

#[maybe_async]
pub async fn persistent_500_gives_up_after_max_attempts() {
    let err = expect_api_error(500, r#"{"detail":"boom"}"#, Some("boom"), 3).await;
    assert!(err.is_retryable());
}

#[maybe_async]
pub async fn html_502_keeps_a_snippet() {
    let html = "<html><body>Bad Gateway</body></html>";
    let err = expect_api_error(502, html, None, 3).await;
    match err {
        Error::Api(api) => assert_eq!(api.body_snippet, html),
        other => panic!("{other:?}"),
    }
}

#[maybe_async]
pub async fn retries_500_then_succeeds() {
    let mut server = server().await;
    let fail = create(
        server
            .mock("POST", PATH)
            .with_status(500)
            .with_body(r#"{"detail":"temporary"}"#)
            .expect(1),
    )
    .await;
    let ok = create(
        server
            .mock("POST", PATH)
            .with_status(200)
            .with_body(TOKEN_OK)
            .expect(1),
    )
    .await;
    let token = client(&server.url())
        .tokens()
        .create(&CreateTokenOptions::new())
        .await
        .unwrap();
    assert_eq!(token.api_key.expose(), "ek_test123456789");
    assert_mock(&fail).await;
    assert_mock(&ok).await;
}

#[maybe_async]
pub async fn honours_retry_after_on_503() {
    let mut server = server().await;
    let fail = create(
        server
            .mock("POST", PATH)
            .with_status(503)
            .with_header("retry-after", "1")
            .expect(1),
    )
    .await;
    let ok = create(
        server
            .mock("POST", PATH)
            .with_status(200)
            .with_body(TOKEN_OK)
            .expect(1),
    )
    .await;
    let started = Instant::now();
    // Retry-After 1 s is capped to the policy's 50 ms, and the backoff window is at most 1 ms:
    // a wait of at least 50 ms can only come from honouring the header.
    let result = client(&server.url())
        .tokens()
        .create(&CreateTokenOptions::new())
        .await;
    assert!(result.is_ok());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(50), "{waited:?}");
    assert_mock(&fail).await;
    assert_mock(&ok).await;
}

#[maybe_async]
pub async fn retries_429() {
    let mut server = server().await;
    let fail = create(server.mock("POST", PATH).with_status(429).expect(1)).await;
    let ok = create(
        server
            .mock("POST", PATH)
            .with_status(200)
            .with_body(TOKEN_OK)
            .expect(1),
    )
    .await;
    let result = client(&server.url())
        .tokens()
        .create(&CreateTokenOptions::new())
        .await;
    assert!(result.is_ok());
    assert_mock(&fail).await;
    assert_mock(&ok).await;
}

#[maybe_async]
pub async fn no_retries_means_one_attempt() {
    let mut server = server().await;
    let mock = create(server.mock("POST", PATH).with_status(503).expect(1)).await;
    let client = Client::builder()
        .api_key(KEY)
        .base_url(server.url())
        .no_retries()
        .build()
        .unwrap();
    let result = client.tokens().create(&CreateTokenOptions::new()).await;
    assert_eq!(result.unwrap_err().status(), Some(503));
    assert_mock(&mock).await;
}

#[maybe_async]
async fn expect_decode_error(body: &str, message_part: &str) {
    let mut server = server().await;
    let mock = create(
        server
            .mock("POST", PATH)
            .with_status(200)
            .with_body(body)
            .expect(1),
    )
    .await;
    let result = client(&server.url())
        .tokens()
        .create(&CreateTokenOptions::new())
        .await;
    let err = result.unwrap_err();
    assert_eq!(err.code(), "TOKEN_CREATE_ERROR");
    match &err {
        Error::Decode { message, .. } => assert!(message.contains(message_part), "{message}"),
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert!(!err.to_string().contains("ek_"), "{err}");
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn html_200_is_a_decode_error() {
    expect_decode_error("<html>maintenance</html>", "not the expected JSON").await;
}

#[maybe_async]
pub async fn empty_200_is_a_decode_error() {
    expect_decode_error("", "empty").await;
}

#[maybe_async]
pub async fn missing_api_key_field_is_a_decode_error() {
    expect_decode_error(r#"{"expiresAt":"2024-12-15T12:10:00Z"}"#, "no apiKey").await;
}

#[maybe_async]
pub async fn missing_expires_at_is_a_decode_error() {
    expect_decode_error(r#"{"apiKey":"ek_x1234567"}"#, "no expiresAt").await;
}

#[maybe_async]
pub async fn json_of_the_wrong_shape_is_a_decode_error() {
    expect_decode_error(r#"[1,2,3]"#, "not the expected JSON").await;
}

#[maybe_async]
async fn expect_transport_error(behaviour: Behaviour, kind: TransportErrorKind) {
    let raw = RawServer::start(behaviour);
    let client = Client::builder()
        .api_key(KEY)
        .base_url(raw.url.as_str())
        .request_timeout(Duration::from_millis(300))
        .no_retries()
        .build()
        .unwrap();
    let result = client.tokens().create(&CreateTokenOptions::new()).await;
    let err = result.unwrap_err();
    assert_eq!(err.code(), "TOKEN_CREATE_ERROR");
    match &err {
        Error::Transport { source, .. } => assert_eq!(source.kind(), kind, "{err}"),
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert!(err.is_retryable());
    assert_eq!(raw.hits(), 1);
}

#[maybe_async]
pub async fn server_that_never_answers_times_out() {
    expect_transport_error(
        Behaviour::Hang(Duration::from_secs(5)),
        TransportErrorKind::Timeout,
    )
    .await;
}

#[maybe_async]
pub async fn connection_closed_without_answer() {
    expect_transport_error(Behaviour::Close, TransportErrorKind::Io).await;
}

#[maybe_async]
pub async fn truncated_body_is_an_error() {
    let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n";
    let mut bytes = head.to_vec();
    bytes.extend_from_slice(&TOKEN_OK.as_bytes()[..40]);
    expect_transport_error(Behaviour::Raw(bytes), TransportErrorKind::Io).await;
}

#[maybe_async]
pub async fn garbage_instead_of_http_is_an_error() {
    let raw = RawServer::start(Behaviour::Raw(
        b"\x00\x01garbage that is not HTTP\r\n\r\n".to_vec(),
    ));
    let client = Client::builder()
        .api_key(KEY)
        .base_url(raw.url.as_str())
        .no_retries()
        .build()
        .unwrap();
    let result = client.tokens().create(&CreateTokenOptions::new()).await;
    assert!(matches!(result, Err(Error::Transport { .. })), "{result:?}");
}

#[maybe_async]
pub async fn connection_refused_is_a_connect_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = Client::builder()
        .api_key(KEY)
        .base_url(format!("http://127.0.0.1:{port}"))
        .retry_policy(fast_retries())
        .build()
        .unwrap();
    let result = client.tokens().create(&CreateTokenOptions::new()).await;
    match result.unwrap_err() {
        Error::Transport { source, .. } => {
            assert_eq!(source.kind(), TransportErrorKind::Connect);
            assert!(source.is_request_unsent());
        }
        other => panic!("{other:?}"),
    }
}

#[maybe_async]
async fn expect_invalid(options: CreateTokenOptions, field: &str) {
    let mut server = server().await;
    let mock = create(server.mock("POST", PATH).expect(0)).await;
    let result = client(&server.url()).tokens().create(&options).await;
    match result.unwrap_err() {
        Error::InvalidInput {
            field: f, message, ..
        } => {
            assert_eq!(f, field, "{message}");
        }
        other => panic!("expected invalid input, got {other:?}"),
    }
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn validation_rejects_before_sending() {
    expect_invalid(CreateTokenOptions::new().expires_in(0), "expires_in").await;
    expect_invalid(CreateTokenOptions::new().expires_in(3601), "expires_in").await;
    let models: Vec<String> = (0..21).map(|i| format!("model-{i}")).collect();
    expect_invalid(
        CreateTokenOptions::new().allowed_models(models),
        "allowed_models",
    )
    .await;
    expect_invalid(
        CreateTokenOptions::new().allowed_models([""]),
        "allowed_models[0]",
    )
    .await;
    let origins: Vec<String> = (0..21)
        .map(|i| format!("https://o{i}.example.com"))
        .collect();
    expect_invalid(
        CreateTokenOptions::new().allowed_origins(origins),
        "allowed_origins",
    )
    .await;
    for bad in [
        "example.com",
        "https://example.com/path",
        "https://example.com?x",
        "https://e.com#f",
    ] {
        expect_invalid(
            CreateTokenOptions::new().allowed_origins(["https://ok.example.com", bad]),
            "allowed_origins[1]",
        )
        .await;
    }
    expect_invalid(
        CreateTokenOptions::new().metadata(json!([1, 2])),
        "metadata",
    )
    .await;
}

#[maybe_async]
pub async fn limits_at_the_boundary_are_accepted() {
    let models: Vec<String> = (0..20).map(|i| format!("model-{i}")).collect();
    let origins: Vec<String> = (0..20)
        .map(|i| format!("https://o{i}.example.com"))
        .collect();
    expect_body(
        CreateTokenOptions::new()
            .expires_in(1)
            .allowed_models(models.clone())
            .allowed_origins(origins.clone()),
        json!({"expiresIn": 1, "allowedModels": models, "allowedOrigins": origins}),
    )
    .await;
}

#[maybe_async]
pub async fn integration_is_appended_to_user_agent() {
    let mut server = server().await;
    let expected = format!("{} my-app/1.2", user_agent());
    let mock = create(
        server
            .mock("POST", PATH)
            .match_header("user-agent", expected.as_str())
            .with_status(200)
            .with_body(TOKEN_OK)
            .expect(1),
    )
    .await;
    let client = Client::builder()
        .api_key(KEY)
        .base_url(server.url())
        .integration("my-app/1.2")
        .build()
        .unwrap();
    assert_eq!(client.user_agent(), expected);
    let result = client.tokens().create(&CreateTokenOptions::new()).await;
    assert!(result.is_ok());
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn trailing_slash_in_base_url_does_not_double() {
    let mut server = server().await;
    let mock = create(
        server
            .mock("POST", PATH)
            .with_status(200)
            .with_body(TOKEN_OK)
            .expect(1),
    )
    .await;
    let client = Client::builder()
        .api_key(KEY)
        .base_url(format!("{}/", server.url()))
        .build()
        .unwrap();
    assert_eq!(client.base_url(), server.url());
    let result = client.tokens().create(&CreateTokenOptions::new()).await;
    assert!(result.is_ok());
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn debug_output_shows_no_secret() {
    let mut server = server().await;
    let body = r#"{"apiKey":"ek_supersecretclientkey","token":"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl","expiresAt":"2024-12-15T12:10:00Z"}"#;
    let mock = create(
        server
            .mock("POST", PATH)
            .with_status(200)
            .with_body(body)
            .expect(1),
    )
    .await;
    let client = Client::builder()
        .api_key("sk_permanent_secret_key_value")
        .base_url(server.url())
        .build()
        .unwrap();
    let shown = format!(
        "{client:?} {:?}",
        Client::builder().api_key("sk_permanent_secret_key_value")
    );
    assert!(!shown.contains("permanent_secret"), "{shown}");
    let token = client
        .tokens()
        .create(&CreateTokenOptions::new())
        .await
        .unwrap();
    let shown = format!("{token:?} {} {:#?}", token.api_key, token);
    assert!(!shown.contains("supersecretclientkey"), "{shown}");
    assert!(!shown.contains("c2lnbmF0dXJl"), "{shown}");
    assert!(!shown.contains("eyJzdWIi"), "{shown}");
    assert_mock(&mock).await;
}

pub fn client_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Client>();
}

pub fn missing_key_names_both_ways() {
    with_env(&[("DECART_API_KEY", None)], || {
        let err = Client::builder().build().unwrap_err();
        assert!(matches!(err, Error::MissingApiKey));
        assert_eq!(err.code(), "INVALID_API_KEY");
        let msg = err.to_string();
        assert!(
            msg.contains("DECART_API_KEY") && msg.contains("api_key"),
            "{msg}"
        );
        assert!(matches!(Client::from_env(), Err(Error::MissingApiKey)));
    });
}

pub fn blank_keys_are_missing() {
    with_env(&[("DECART_API_KEY", Some("   "))], || {
        assert!(matches!(Client::from_env(), Err(Error::MissingApiKey)));
    });
    with_env(&[("DECART_API_KEY", Some("from-env"))], || {
        // An explicit blank key does not fall back to the environment.
        assert!(matches!(Client::new(""), Err(Error::MissingApiKey)));
        assert!(matches!(Client::new(" \t\n"), Err(Error::MissingApiKey)));
    });
}

pub fn from_env_reads_key_and_base_url() {
    with_env(
        &[
            ("DECART_API_KEY", Some("  env-key  ")),
            ("DECART_BASE_URL", Some("http://127.0.0.1:9/")),
        ],
        || {
            let client = Client::from_env().unwrap();
            assert_eq!(client.base_url(), "http://127.0.0.1:9");
        },
    );
    with_env(
        &[
            ("DECART_API_KEY", Some("k")),
            ("DECART_BASE_URL", Some("ftp://x")),
        ],
        || {
            let err = Client::from_env().unwrap_err();
            assert_eq!(err.code(), "INVALID_BASE_URL");
        },
    );
    with_env(
        &[("DECART_API_KEY", Some("k")), ("DECART_BASE_URL", None)],
        || {
            assert_eq!(
                Client::from_env().unwrap().base_url(),
                "https://api.decart.ai"
            );
        },
    );
}

#[maybe_async]
pub async fn explicit_key_beats_env() {
    let mut server = server().await;
    let mock = create(
        server
            .mock("POST", PATH)
            .match_header("x-api-key", "explicit-key")
            .with_status(200)
            .with_body(TOKEN_OK)
            .expect(1),
    )
    .await;
    let client = with_env(&[("DECART_API_KEY", Some("env-key"))], || {
        Client::builder()
            .api_key("explicit-key")
            .base_url(server.url())
            .build()
            .unwrap()
    });
    let result = client.tokens().create(&CreateTokenOptions::new()).await;
    assert!(result.is_ok());
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn builder_falls_back_to_env_key() {
    let mut server = server().await;
    let mock = create(
        server
            .mock("POST", PATH)
            .match_header("x-api-key", "env-key")
            .with_status(200)
            .with_body(TOKEN_OK)
            .expect(1),
    )
    .await;
    let client = with_env(&[("DECART_API_KEY", Some("env-key"))], || {
        Client::builder().base_url(server.url()).build().unwrap()
    });
    let result = client.tokens().create(&CreateTokenOptions::new()).await;
    assert!(result.is_ok());
    assert_mock(&mock).await;
}

pub fn invalid_base_urls_are_rejected() {
    for bad in [
        "",
        "api.decart.ai",
        "ftp://api.decart.ai",
        "https://",
        "http://host/?q=1",
    ] {
        let err = Client::builder()
            .api_key(KEY)
            .base_url(bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidBaseUrl { .. }),
            "{bad}: {err:?}"
        );
        assert_eq!(err.code(), "INVALID_BASE_URL");
    }
}

pub fn zero_timeouts_are_rejected() {
    let err = Client::builder()
        .api_key(KEY)
        .request_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
}

pub fn non_header_key_is_rejected() {
    let err = Client::new("key\u{7f}with-control").unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert!(!err.to_string().contains("with-control"));
}

/// Every test of this file, for the harnesses' macro.
#[macro_export]
macro_rules! token_tests {
    ($async_test:ident, $sync_test:ident) => {
        $async_test!(tokens:
            create_without_options_sends_empty_object,
            create_sends_metadata,
            create_sends_expires_in,
            create_sends_allowed_models,
            create_sends_allowed_origins,
            create_sends_constraints,
            create_sends_all_options_together,
            response_without_jwt_is_still_a_success,
            invalid_key_401_is_not_retried,
            client_key_403_cannot_mint,
            persistent_500_gives_up_after_max_attempts,
            html_502_keeps_a_snippet,
            retries_500_then_succeeds,
            honours_retry_after_on_503,
            retries_429,
            no_retries_means_one_attempt,
            html_200_is_a_decode_error,
            empty_200_is_a_decode_error,
            missing_api_key_field_is_a_decode_error,
            missing_expires_at_is_a_decode_error,
            json_of_the_wrong_shape_is_a_decode_error,
            server_that_never_answers_times_out,
            connection_closed_without_answer,
            truncated_body_is_an_error,
            garbage_instead_of_http_is_an_error,
            connection_refused_is_a_connect_error,
            validation_rejects_before_sending,
            limits_at_the_boundary_are_accepted,
            integration_is_appended_to_user_agent,
            trailing_slash_in_base_url_does_not_double,
            debug_output_shows_no_secret,
            explicit_key_beats_env,
            builder_falls_back_to_env_key
        );
        $sync_test!(tokens:
            client_is_send_sync_clone,
            missing_key_names_both_ways,
            blank_keys_are_missing,
            from_env_reads_key_and_base_url,
            invalid_base_urls_are_rejected,
            zero_timeouts_are_rejected,
            non_header_key_is_rejected
        );
    };
}
