//! The README's emulator example, kept compiling and passing.
#![cfg(all(feature = "emulator", feature = "blocking"))]

use decart::emulator::{Emulator, Fault, expected_image_result};
use decart::jwt::VerifyOptions;
use decart::{Client, CreateTokenOptions, FileInput, ImageEditInput, models};

#[test]
fn my_service_mints_and_checks_tokens() {
    let emu = Emulator::start().unwrap();
    let client = Client::builder()
        .api_key(emu.api_key())
        .base_url(emu.base_url())
        .jwks_url(emu.jwks_url())
        .verify_options(
            VerifyOptions::new()
                .issuer(emu.issuer())
                .audience(emu.audience()),
        )
        .build()
        .unwrap();

    let token = client
        .tokens()
        .create(&CreateTokenOptions::new().expires_in(60))
        .unwrap();
    let claims = client
        .tokens()
        .verify(token.token.unwrap().expose())
        .unwrap();
    assert_eq!(claims.pool().as_str(), "paid");

    // The next image edit gets a 429 with Retry-After; the client retries it (an edit is
    // re-sent only after a 429 or a connect failure, never after a 5xx).
    emu.inject(
        Fault::status(429)
            .retry_after(0)
            .on("POST", "/v1/generate/"),
    );
    let model = models::image("lucy-image-2").unwrap();
    let out = client
        .process()
        .image(
            &model,
            ImageEditInput::new("blue", FileInput::bytes(b"img".to_vec())),
        )
        .unwrap();
    assert_eq!(out, expected_image_result(b"img"));
    assert_eq!(emu.count("POST", "/v1/generate/"), 2);
}
