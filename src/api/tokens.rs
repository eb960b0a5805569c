//! `client.tokens()`: client tokens, written once for both flavours.

use super::client::Client;
use super::maybe_async;
use crate::error::{Error, Operation};
use crate::http::{Call, Method, Payload};
use crate::models::tokens::{ClientToken, CreateTokenOptions};
use crate::retry::Replay;

/// Client tokens: short-lived keys for browsers and other untrusted clients. Get one from
/// [`Client::tokens`].
#[derive(Debug, Clone, Copy)]
pub struct Tokens<'a> {
    client: &'a Client,
}

impl<'a> Tokens<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Tokens { client }
    }

    /// Creates a client token (`POST /v1/client/tokens`): an opaque `ek_…` key and, when the
    /// server signs one, a JWT with the same scope and expiry.
    ///
    /// The options are checked before anything is sent. The call is retried per the client's
    /// retry policy (a duplicate client token is harmless).
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidInput`] for options that break a rule (nothing is sent);
    /// - [`Error::Api`] with code `TOKEN_CREATE_ERROR` and the status: 401 for an invalid key,
    ///   403 when a client key tries to mint a token;
    /// - [`Error::Decode`] for a 2xx answer without `apiKey` or `expiresAt`, or not JSON;
    /// - [`Error::Transport`] when no answer arrived (timeout, connection refused, …).
    ///
    /// # Examples
    ///
    #[doc = example!(
        r#"use decart::CreateTokenOptions;
let options = CreateTokenOptions::new().expires_in(600).allowed_models(["lucy-2.1"]);
let token = client.tokens().create(&options)?;
// Hand the key (and the JWT) to the browser; `Debug` and `Display` redact them.
let for_the_browser = token.api_key.expose();"#,
        r#"use decart::CreateTokenOptions;
let options = CreateTokenOptions::new().expires_in(600).allowed_models(["lucy-2.1"]);
let token = client.tokens().create(&options).await?;
// Hand the key (and the JWT) to the browser; `Debug` and `Display` redact them.
let for_the_browser = token.api_key.expose();"#
    )]
    #[maybe_async]
    pub async fn create(self, options: &CreateTokenOptions) -> Result<ClientToken, Error> {
        options.validate()?;
        let body = self
            .client
            .call_json(Call::new(
                Operation::TokenCreate,
                Method::Post,
                "/v1/client/tokens",
                Payload::Json(options.to_body()),
                Replay::Idempotent,
            ))
            .await?;
        ClientToken::from_json(&body)
    }

    /// Verifies a client-token JWT offline against the JWKS (fetched once, then cached; see
    /// `JwksVerifier`), with the client's verification settings.
    ///
    /// # Errors
    ///
    /// [`Error::Token`] naming what failed (malformed, unsupported algorithm, unknown `kid`,
    /// bad signature, expired, wrong issuer or audience, missing claim, JWKS unreachable).
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    ///
    /// # Examples
    ///
    #[doc = example!(
        r#"# let bearer = "";
let claims = client.tokens().verify(bearer)?;
if !claims.allows_model("lucy-2.1") { /* refuse */ }"#,
        r#"# let bearer = "";
let claims = client.tokens().verify(bearer).await?;
if !claims.allows_model("lucy-2.1") { /* refuse */ }"#
    )]
    #[maybe_async]
    pub async fn verify(self, token: &str) -> Result<crate::jwt::VerifiedClientToken, Error> {
        self.client.jwks_verifier()?.verify(token).await
    }
}
