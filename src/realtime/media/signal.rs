//! LiveKit's signal messages: protobuf (`livekit-protocol`) in binary WebSocket frames, and the
//! JSON candidate strings of `TrickleRequest`. Shared by the participant and the emulator.

use livekit_protocol as lk;
use prost::Message as _;
use serde::{Deserialize, Serialize};

pub(crate) use lk::signal_request::Message as Request;
pub(crate) use lk::signal_response::Message as Response;

/// The protocol version announced on the signal URL (the dual peer-connection protocol).
pub(crate) const PROTOCOL_VERSION: u32 = 16;

/// The identity prefix of the participant that publishes the generated video.
pub(crate) const INFERENCE_PREFIX: &str = "inference-server-";

/// A signal frame, at most.
pub(crate) const MAX_SIGNAL_MESSAGE: usize = 1024 * 1024;

/// Which of a participant's two peer connections a trickled candidate belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Publisher,
    Subscriber,
}

impl Target {
    pub(crate) fn wire(self) -> i32 {
        match self {
            Target::Publisher => lk::SignalTarget::Publisher as i32,
            Target::Subscriber => lk::SignalTarget::Subscriber as i32,
        }
    }

    pub(crate) fn from_wire(v: i32) -> Target {
        if v == lk::SignalTarget::Subscriber as i32 {
            Target::Subscriber
        } else {
            Target::Publisher
        }
    }
}

pub(crate) fn encode_request(message: Request) -> Vec<u8> {
    lk::SignalRequest {
        message: Some(message),
    }
    .encode_to_vec()
}

/// The server's side (the emulator's LiveKit room).
#[cfg(any(feature = "emulator", test))]
pub(crate) fn encode_response(message: Response) -> Vec<u8> {
    lk::SignalResponse {
        message: Some(message),
    }
    .encode_to_vec()
}

/// Decodes a server frame; `Ok(None)` for a message without a body (or of a kind this
/// version of the protocol crate does not know).
pub(crate) fn decode_response(frame: &[u8]) -> Result<Option<Response>, String> {
    lk::SignalResponse::decode(frame)
        .map(|r| r.message)
        .map_err(|e| format!("a signal message does not decode: {e}"))
}

#[cfg(any(feature = "emulator", test))]
pub(crate) fn decode_request(frame: &[u8]) -> Result<Option<Request>, String> {
    lk::SignalRequest::decode(frame)
        .map(|r| r.message)
        .map_err(|e| format!("a signal message does not decode: {e}"))
}

/// `RTCIceCandidateInit` as JSON, the `candidate_init` of a `TrickleRequest`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CandidateInit {
    candidate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sdp_mid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sdp_m_line_index: Option<u32>,
}

pub(crate) fn trickle(candidate: &str, target: Target) -> Request {
    let init = CandidateInit {
        candidate: candidate.to_owned(),
        sdp_mid: Some("0".to_owned()),
        sdp_m_line_index: Some(0),
    };
    Request::Trickle(lk::TrickleRequest {
        candidate_init: serde_json::to_string(&init).unwrap_or_default(),
        target: target.wire(),
        r#final: false,
    })
}

/// The candidate line of a trickled `candidate_init` (`None` for the end-of-candidates mark).
pub(crate) fn trickled_candidate(init: &str) -> Result<Option<String>, String> {
    let init: CandidateInit = serde_json::from_str(init)
        .map_err(|e| format!("a trickled candidate is not RTCIceCandidateInit JSON: {e}"))?;
    let line = init.candidate.trim();
    let line = line.strip_prefix("a=").unwrap_or(line);
    Ok((!line.is_empty()).then(|| line.to_owned()))
}

pub(crate) fn description(kind: &str, sdp: String, id: u32) -> lk::SessionDescription {
    lk::SessionDescription {
        r#type: kind.to_owned(),
        sdp,
        id,
        ..Default::default()
    }
}

/// The `msid` stream id of every `m=` section of an SDP, by `mid` (LiveKit names a remote
/// track's stream `{participant sid}|{track sid}`).
pub(crate) fn stream_ids(sdp: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut mid = None;
    let mut stream = None;
    let mut flush = |mid: &mut Option<String>, stream: &mut Option<String>| {
        if let (Some(m), Some(s)) = (mid.take(), stream.take()) {
            out.push((m, s));
        }
    };
    for line in sdp.lines() {
        let line = line.trim_end();
        if line.starts_with("m=") {
            flush(&mut mid, &mut stream);
        } else if let Some(m) = line.strip_prefix("a=mid:") {
            mid = Some(m.to_owned());
        } else if let Some(rest) = line.strip_prefix("a=msid:") {
            stream = rest.split_whitespace().next().map(str::to_owned);
        }
    }
    flush(&mut mid, &mut stream);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_round_trip() {
        let bytes = encode_request(trickle(
            "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
            Target::Subscriber,
        ));
        let Some(Request::Trickle(t)) = decode_request(&bytes).unwrap() else {
            panic!("not a trickle");
        };
        assert_eq!(Target::from_wire(t.target), Target::Subscriber);
        assert_eq!(
            trickled_candidate(&t.candidate_init).unwrap().as_deref(),
            Some("candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host")
        );
        assert_eq!(
            trickled_candidate(r#"{"candidate":""}"#).unwrap(),
            None,
            "end of candidates"
        );
        assert!(trickled_candidate("not json").is_err());
        let pong = encode_response(Response::Pong(42));
        assert_eq!(decode_response(&pong).unwrap(), Some(Response::Pong(42)));
        assert!(decode_response(b"\xff\xff\xff").is_err());
        assert_eq!(decode_response(b"").unwrap(), None);
    }

    #[test]
    fn stream_ids_by_mid() {
        let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=msid:PA_x|TR_y TR_y\r\nm=application 9 x\r\na=mid:1\r\n";
        assert_eq!(
            stream_ids(sdp),
            vec![("0".to_owned(), "PA_x|TR_y".to_owned())]
        );
    }
}
