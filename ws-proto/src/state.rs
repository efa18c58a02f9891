//! Who we are on the connection and where it is in its life.

/// Which end of the connection this is. It decides masking (clients mask, servers must not) and
/// who closes TCP first (the server, RFC 6455 section 7.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that sent the HTTP upgrade request.
    Client,
    /// The end that accepted it.
    Server,
}

/// The connection's state, as the WebSocket API's `readyState` names it.
///
/// States only move forward: Connecting -> Open -> Closing -> Closed (Open may go straight to
/// Closed when the connection is terminated or the transport fails).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// The opening handshake is under way. A [`Connection`](crate::Connection) is created after
    /// the handshake, so it never reports this state; the handshake machines and the adapters do.
    Connecting,
    /// Messages flow both ways.
    Open,
    /// A Close frame was sent or received; the connection is winding down.
    Closing,
    /// The transport is released; [`Event::Closed`](crate::Event::Closed) has been emitted.
    Closed,
}
