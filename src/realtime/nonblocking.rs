//! The async flavour's end of the session channel: a tokio channel, awaited with a deadline.

use std::time::Instant;

use tokio::sync::mpsc;

use super::socket::{Inbound, Recv};

pub(crate) type Sender = mpsc::UnboundedSender<Inbound>;

pub(crate) struct Receiver(mpsc::UnboundedReceiver<Inbound>);

pub(crate) fn channel() -> (Sender, Receiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, Receiver(rx))
}

impl Receiver {
    /// The next item, waiting until `deadline` at the latest (`None`: no limit).
    pub(crate) async fn recv_until(&mut self, deadline: Option<Instant>) -> Recv {
        let item = match deadline {
            None => self.0.recv().await,
            Some(d) => match tokio::time::timeout_at(d.into(), self.0.recv()).await {
                Ok(item) => item,
                Err(_) => return Recv::TimedOut,
            },
        };
        match item {
            Some(item) => Recv::Item(item),
            None => Recv::Gone,
        }
    }

    /// An item that has arrived, without waiting.
    pub(crate) fn try_recv(&mut self) -> Option<Inbound> {
        self.0.try_recv().ok()
    }
}
