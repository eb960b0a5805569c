//! The blocking flavour's end of the session channel: a std channel, waited on with a deadline.

use std::sync::mpsc;
use std::time::Instant;

use super::socket::{Inbound, Recv};

pub(crate) type Sender = mpsc::Sender<Inbound>;

pub(crate) struct Receiver(mpsc::Receiver<Inbound>);

pub(crate) fn channel() -> (Sender, Receiver) {
    let (tx, rx) = mpsc::channel();
    (tx, Receiver(rx))
}

impl Receiver {
    /// The next item, waiting until `deadline` at the latest (`None`: no limit).
    pub(crate) fn recv_until(&mut self, deadline: Option<Instant>) -> Recv {
        let result = match deadline {
            None => self
                .0
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(d) => self
                .0
                .recv_timeout(d.saturating_duration_since(Instant::now())),
        };
        match result {
            Ok(item) => Recv::Item(item),
            Err(mpsc::RecvTimeoutError::Timeout) => Recv::TimedOut,
            Err(mpsc::RecvTimeoutError::Disconnected) => Recv::Gone,
        }
    }

    /// An item that has arrived, without waiting.
    pub(crate) fn try_recv(&mut self) -> Option<Inbound> {
        self.0.try_recv().ok()
    }
}
