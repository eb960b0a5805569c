//! The baseline of `realtime_media`: two str0m peers in one process, each on a std thread with
//! its own UDP socket on loopback, host candidates in the SDP. The client sends the frames at
//! the given rate; the echo peer sends each one back with its RTP time. No signalling server, no
//! SDK: the least any str0m client does for the same media.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

use super::Streamed;

fn peer() -> (Rtc, UdpSocket) {
    let mut rtc = RtcConfig::new()
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .clear_codecs()
        .enable_h264(true)
        .build(Instant::now());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    rtc.add_local_candidate(Candidate::host(socket.local_addr().unwrap(), "udp").unwrap());
    (rtc, socket)
}

/// Streams `frames` at `fps`; returns the measures and the client thread's CPU time.
pub fn stream(frames: u32, fps: u32) -> (Streamed, Option<Duration>) {
    let started = Instant::now();
    let (mut client, client_socket) = peer();
    let (mut echo, echo_socket) = peer();
    let mut change = client.sdp_api();
    let mid = change.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
    let (offer, pending) = change.apply().unwrap();
    let answer = echo
        .sdp_api()
        .accept_offer(SdpOffer::from_sdp_string(&offer.to_sdp_string()).unwrap())
        .unwrap();
    client
        .sdp_api()
        .accept_answer(
            pending,
            SdpAnswer::from_sdp_string(&answer.to_sdp_string()).unwrap(),
        )
        .unwrap();
    let connect = started.elapsed();
    let done = Arc::new(AtomicBool::new(false));
    let echo_done = done.clone();
    let echo_thread = thread::spawn(move || {
        run(&mut echo, &echo_socket, &echo_done, |rtc, step| {
            if let Step::Event(Event::MediaData(d)) = step {
                let writer = rtc.writer(d.mid).unwrap();
                let pt = writer.match_params(d.params).unwrap();
                writer
                    .write(pt, Instant::now(), d.time, d.data.to_vec())
                    .unwrap();
            }
            None
        });
    });
    let period = Duration::from_secs(1) / fps;
    let mut sent_at: Vec<Instant> = Vec::new();
    let mut rtts = Vec::new();
    let mut first_frame = None;
    let mut first_time: Option<MediaTime> = None;
    let mut received = 0u64;
    let mut t0 = None;
    let mut pt = None;
    let cpu0 = super::support::thread_cpu();
    let stop = AtomicBool::new(false);
    run(&mut client, &client_socket, &stop, |rtc, step| {
        match step {
            Step::Event(Event::Connected) => t0 = Some(Instant::now()),
            Step::Event(Event::MediaData(d)) => {
                let at = Instant::now();
                first_frame.get_or_insert(at - started);
                received += 1;
                let first = *first_time.get_or_insert(d.time);
                let ts = Duration::from_micros(d.time.saturating_sub(first).as_micros());
                let index = (ts.as_micros() + period.as_micros() / 2) / period.as_micros();
                if let Some(sent) = sent_at.get(index as usize) {
                    rtts.push(at - *sent);
                }
            }
            Step::Tick => {
                let t0 = t0?;
                let n = sent_at.len() as u32;
                if n < frames && Instant::now() >= t0 + period * n {
                    let writer = rtc.writer(mid).unwrap();
                    let p = *pt.get_or_insert_with(|| {
                        writer
                            .payload_params()
                            .find(|p| p.spec().codec == Codec::H264)
                            .unwrap()
                            .pt()
                    });
                    let time = MediaTime::from_micros((period * n).as_micros() as u64)
                        .rebase(str0m::media::Frequency::NINETY_KHZ);
                    writer
                        .write(p, Instant::now(), time, super::access_unit(n))
                        .unwrap();
                    sent_at.push(Instant::now());
                }
                let all_back = received as u32 >= frames;
                let late = Instant::now() > t0 + period * frames + Duration::from_secs(2);
                if n >= frames && (all_back || late) {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            Step::Event(_) => {}
        }
        // The next frame's time, or a look every 50 ms once all are sent.
        let n = sent_at.len() as u32;
        t0.map(|t0| {
            if n < frames {
                t0 + period * n
            } else {
                Instant::now() + Duration::from_millis(50)
            }
        })
    });
    let cpu = super::support::thread_cpu().zip(cpu0).map(|(b, a)| b - a);
    done.store(true, Ordering::Relaxed);
    echo_thread.join().unwrap();
    (
        Streamed {
            connect,
            first_frame: first_frame.unwrap_or_default(),
            rtts,
            sent: u64::from(frames),
            received,
        },
        cpu,
    )
}

/// What the loop hands its peer's code (one at a time: the size of an event is no matter).
#[allow(clippy::large_enum_variant)]
enum Step {
    Event(Event),
    /// A look at the clock (at the time the code last asked for, or earlier).
    Tick,
}

/// The peer's loop: sends what str0m asks, feeds what arrives, and calls `on` for every event
/// and for a tick before every wait; `on` returns when it next wants a tick. Until `stop` (the
/// echo peer looks at it every 20 ms).
fn run(
    rtc: &mut Rtc,
    socket: &UdpSocket,
    stop: &AtomicBool,
    mut on: impl FnMut(&mut Rtc, Step) -> Option<Instant>,
) {
    let local = socket.local_addr().unwrap();
    let mut buf = vec![0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let drain = |rtc: &mut Rtc, on: &mut dyn FnMut(&mut Rtc, Step) -> Option<Instant>| loop {
            match rtc.poll_output().unwrap() {
                Output::Timeout(t) => break t,
                Output::Transmit(t) => {
                    let _ = socket.send_to(&t.contents, t.destination);
                }
                Output::Event(e) => {
                    on(rtc, Step::Event(e));
                    // What the event's code wrote goes out now, not at str0m's next timer.
                    rtc.handle_input(Input::Timeout(Instant::now())).unwrap();
                }
            }
        };
        drain(rtc, &mut on);
        let wake = on(rtc, Step::Tick);
        rtc.handle_input(Input::Timeout(Instant::now())).unwrap();
        // What the tick wrote goes out before the wait.
        let timeout = drain(rtc, &mut on);
        let wake = wake.map_or(timeout, |t| t.min(timeout));
        let wait = wake
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_micros(100), Duration::from_millis(20));
        socket.set_read_timeout(Some(wait)).unwrap();
        let input = match socket.recv_from(&mut buf) {
            Ok((n, source)) => Input::Receive(
                Instant::now(),
                Receive {
                    proto: Protocol::Udp,
                    source,
                    destination: local,
                    contents: buf[..n].try_into().unwrap(),
                },
            ),
            Err(_) => Input::Timeout(Instant::now()),
        };
        rtc.handle_input(input).unwrap();
        // The clock after every datagram too, as the SDK's engine does: str0m's pacer sends on
        // the clock, and a steady stream of datagrams must not starve it.
        rtc.handle_input(Input::Timeout(Instant::now())).unwrap();
    }
}
