//! Strict base64url (RFC 7515 section 2): URL-safe alphabet, no padding, no whitespace,
//! canonical trailing bits only.

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// The one engine used for every segment and JWK member.
pub(crate) const STRICT_B64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Decodes `input`; the error names the problem without echoing the input.
pub(crate) fn decode(input: &[u8]) -> Result<Vec<u8>, &'static str> {
    STRICT_B64URL.decode(input).map_err(describe)
}

/// Decodes `input` into `out` when it decodes to exactly `N` bytes.
///
/// `Ok(None)` means valid base64url of another length.
pub(crate) fn decode_exact<const N: usize>(input: &[u8]) -> Result<Option<[u8; N]>, &'static str> {
    // Unpadded base64 of N bytes has exactly this many characters.
    let want = (N * 4).div_ceil(3);
    if input.len() != want {
        // Still tell bad base64 from a wrong length.
        return decode(input).map(|_| None);
    }
    // `decode_slice` wants room for its estimate (a multiple of 3), so decode into a slightly
    // larger buffer on the stack.
    let mut buf = [0u8; 96];
    debug_assert!(N + 3 <= buf.len());
    let n = STRICT_B64URL
        .decode_slice(input, &mut buf[..N + 3])
        .map_err(|e| match e {
            base64::DecodeSliceError::DecodeError(e) => describe(e),
            base64::DecodeSliceError::OutputSliceTooSmall => "value too long",
        })?;
    if n != N {
        return Ok(None);
    }
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[..N]);
    Ok(Some(out))
}

/// Encodes `bytes` as unpadded base64url.
#[cfg(test)]
pub(crate) fn encode(bytes: &[u8]) -> String {
    STRICT_B64URL.encode(bytes)
}

fn describe(e: base64::DecodeError) -> &'static str {
    match e {
        base64::DecodeError::InvalidByte(_, b'=') | base64::DecodeError::InvalidPadding => {
            "base64url padding is not allowed"
        }
        base64::DecodeError::InvalidByte(_, b'+' | b'/') => {
            "'+' and '/' are not base64url characters"
        }
        base64::DecodeError::InvalidByte(_, b' ' | b'\t' | b'\r' | b'\n') => {
            "whitespace is not allowed in base64url"
        }
        base64::DecodeError::InvalidByte(..) => "invalid base64url character",
        base64::DecodeError::InvalidLength(_) => "invalid base64url length",
        base64::DecodeError::InvalidLastSymbol { .. } => {
            "non-canonical base64url (trailing bits set)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictness() {
        assert_eq!(decode(b"YQ").unwrap(), b"a");
        assert_eq!(decode(b"").unwrap(), b"");
        assert_eq!(
            decode(b"YQ==").unwrap_err(),
            "base64url padding is not allowed"
        );
        assert_eq!(
            decode(b"YR").unwrap_err(),
            "non-canonical base64url (trailing bits set)"
        );
        assert_eq!(
            decode(b"Y Q").unwrap_err(),
            "whitespace is not allowed in base64url"
        );
        assert_eq!(
            decode(b"YQ\n").unwrap_err(),
            "whitespace is not allowed in base64url"
        );
        assert_eq!(
            decode(b"+/8").unwrap_err(),
            "'+' and '/' are not base64url characters"
        );
        assert_eq!(decode(b"-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode(b"Y").unwrap_err(), "invalid base64url length");
        assert_eq!(decode(b"Y\x00").unwrap_err(), "invalid base64url character");
    }

    #[test]
    fn exact() {
        let bytes = [7u8; 32];
        let s = encode(&bytes);
        assert_eq!(decode_exact::<32>(s.as_bytes()).unwrap(), Some(bytes));
        assert_eq!(
            decode_exact::<32>(encode(&[1u8; 31]).as_bytes()).unwrap(),
            None
        );
        assert_eq!(
            decode_exact::<32>(encode(&[1u8; 33]).as_bytes()).unwrap(),
            None
        );
        let sig = [9u8; 64];
        assert_eq!(
            decode_exact::<64>(encode(&sig).as_bytes()).unwrap(),
            Some(sig)
        );
        let mut bad = encode(&sig);
        bad.replace_range(0..1, "+");
        assert!(decode_exact::<64>(bad.as_bytes()).is_err());
    }
}
