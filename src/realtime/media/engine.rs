//! Several str0m peer connections, each on its own UDP socket, driven by the calling thread.
//!
//! str0m is sans-I/O: it says what to send and when it next needs the clock, and is fed what
//! arrives. [`Engine::turn`] does one round of that for a set of peers (a LiveKit participant
//! has two: the publisher and the subscriber connection). Each peer has a socket of its own,
//! as in a browser: LiveKit serves both connections from one address, so only the local port
//! tells their packets apart. The thread sleeps in mio's poll until a datagram, a peer's
//! timer, or a [`Waker`] (a frame to send, from the session) ends the wait. The client and the
//! emulator's LiveKit stand-in both run on it.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig, RtcError};

/// A datagram, at most (WebRTC keeps packets under the MTU).
const MAX_DATAGRAM: usize = 2048;
const WAKER: Token = Token(usize::MAX);
/// At most this many datagrams are read from one socket per round (a keyframe of ~300 KB is
/// ~250 packets).
const MAX_DATAGRAMS_PER_ROUND: usize = 512;

/// A str0m peer connection set up the way this crate uses them: H.264 and VP8, no audio, the
/// crypto of the `aws-lc-rs` feature (per connection: nothing process-wide is installed).
pub(crate) fn new_rtc() -> Rtc {
    static PROVIDER: OnceLock<Arc<str0m::config::CryptoProvider>> = OnceLock::new();
    let provider = PROVIDER
        .get_or_init(|| Arc::new(str0m::crypto::from_feature_flags()))
        .clone();
    RtcConfig::new()
        .set_crypto_provider(provider)
        .clear_codecs()
        .enable_h264(true)
        .enable_vp8(true)
        .build(Instant::now())
}

/// The sockets, the poller and the receive buffer.
pub(crate) struct Engine {
    poll: Poll,
    events: Events,
    sockets: Vec<(mio::net::UdpSocket, SocketAddr)>,
    /// Per socket: whether datagrams may be left from the last round.
    undrained: Vec<bool>,
    buf: Vec<u8>,
}

/// Wakes an engine's thread from another thread.
#[derive(Debug, Clone)]
pub(crate) struct Waker(Arc<mio::Waker>);

impl Waker {
    pub(crate) fn wake(&self) {
        let _ = self.0.wake();
    }
}

impl Engine {
    /// Binds `peers` sockets on `ip` (any ports) and the waker that can interrupt waits.
    pub(crate) fn bind(ip: IpAddr, peers: usize) -> io::Result<(Engine, Waker)> {
        let poll = Poll::new()?;
        let waker = Waker(Arc::new(mio::Waker::new(poll.registry(), WAKER)?));
        let mut sockets = Vec::with_capacity(peers);
        for i in 0..peers {
            let std_socket = UdpSocket::bind(SocketAddr::new(ip, 0))?;
            std_socket.set_nonblocking(true)?;
            let local = std_socket.local_addr()?;
            let mut socket = mio::net::UdpSocket::from_std(std_socket);
            poll.registry()
                .register(&mut socket, Token(i), Interest::READABLE)?;
            sockets.push((socket, local));
        }
        Ok((
            Engine {
                poll,
                events: Events::with_capacity(16),
                undrained: vec![false; sockets.len()],
                sockets,
                buf: vec![0; MAX_DATAGRAM],
            },
            waker,
        ))
    }

    /// The host candidate of peer `i`'s socket.
    pub(crate) fn candidate(&self, i: usize) -> Result<Candidate, String> {
        Candidate::host(self.sockets[i].1, "udp").map_err(|e| e.to_string())
    }

    /// One round: every peer's pending output is sent and its events collected (returning at
    /// once when there are events, so the caller can act on them), else the thread waits up to
    /// `max_wait` (less when a peer's timer is due sooner) for datagrams and feeds them to
    /// their peers (`rtcs[i]` owns socket `i`; with a single socket, all share it). A peer whose index is `deaf` is not fed what
    /// arrives (the emulator's ICE-failure fault). Returns whether a [`Waker`] woke the thread.
    pub(crate) fn turn(
        &mut self,
        rtcs: &mut [&mut Rtc],
        max_wait: Duration,
        deaf: Option<usize>,
        events: &mut Vec<(usize, Event)>,
    ) -> Result<bool, RtcError> {
        let now = Instant::now();
        let mut next = now + max_wait;
        for (i, rtc) in rtcs.iter_mut().enumerate() {
            loop {
                match rtc.poll_output()? {
                    Output::Timeout(t) => {
                        next = next.min(t);
                        break;
                    }
                    Output::Transmit(t) => {
                        // A lost datagram is the network's business; ICE and RTCP recover.
                        let shared = self.sockets.len().saturating_sub(1);
                        if let Some((socket, _)) = self.sockets.get(i.min(shared)) {
                            let _ = socket.send_to(&t.contents, t.destination);
                        }
                    }
                    Output::Event(e) => events.push((i, e)),
                }
            }
        }
        if !events.is_empty() {
            return Ok(false);
        }
        let wait = next.saturating_duration_since(Instant::now());
        let mut woken = false;
        // Sockets left unread last round (a round reads at most MAX_DATAGRAMS_PER_ROUND from
        // each, so a flood cannot starve the timers and the caller's commands); with them, the
        // poll only gathers new readiness.
        let mut ready: Vec<usize> = (0..self.sockets.len())
            .filter(|&i| self.undrained[i])
            .collect();
        let wait = if ready.is_empty() {
            wait
        } else {
            Duration::ZERO
        };
        if !wait.is_zero() || !ready.is_empty() {
            // An interrupted or failed poll is one more round; the callers loop anyway.
            let _ = self.poll.poll(&mut self.events, Some(wait));
            for event in self.events.iter() {
                match event.token() {
                    WAKER => woken = true,
                    Token(i) if !ready.contains(&i) => ready.push(i),
                    Token(_) => {}
                }
            }
        }
        for i in ready {
            let Some((socket, local)) = self.sockets.get(i) else {
                continue;
            };
            // Edge-triggered: read until the socket is empty (or this round's share is taken).
            self.undrained[i] = true;
            for _ in 0..MAX_DATAGRAMS_PER_ROUND {
                let (n, source) = match socket.recv_from(&mut self.buf) {
                    Ok(got) => got,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.undrained[i] = false;
                        break;
                    }
                    // An ICMP error surfacing on the socket (a closed port answered a check),
                    // an oversized datagram (Windows), an interruption: that one datagram only.
                    // Reading on until `WouldBlock` keeps the socket armed (mio on Windows
                    // re-arms only then).
                    Err(_) => continue,
                };
                let Ok(contents) = self.buf[..n].try_into() else {
                    continue;
                };
                let input = Input::Receive(
                    Instant::now(),
                    Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: *local,
                        contents,
                    },
                );
                // A socket of its own per peer, or one shared by all (as LiveKit's UDP
                // port is), where str0m tells whose a datagram is.
                let peer = if self.sockets.len() == rtcs.len() {
                    Some(i).filter(|&i| rtcs[i].accepts(&input))
                } else {
                    rtcs.iter().position(|r| r.accepts(&input))
                };
                if let Some(p) = peer.filter(|&p| deaf != Some(p)) {
                    rtcs[p].handle_input(input)?;
                }
            }
        }
        let now = Instant::now();
        for rtc in rtcs.iter_mut() {
            rtc.handle_input(Input::Timeout(now))?;
        }
        Ok(woken)
    }
}

/// The local address to offer candidates on when talking to `remote`: the address the system
/// routes from (found by connecting a UDP socket, which sends nothing).
pub(crate) fn route_to(remote: IpAddr) -> io::Result<IpAddr> {
    let unspecified: IpAddr = if remote.is_ipv4() {
        [0, 0, 0, 0].into()
    } else {
        [0u16; 8].into()
    };
    let probe = UdpSocket::bind(SocketAddr::new(unspecified, 0))?;
    probe.connect(SocketAddr::new(remote, 9))?;
    Ok(probe.local_addr()?.ip())
}
