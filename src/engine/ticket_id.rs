//! A ticket's stable identity.

use std::fmt;

/// A ticket's identity for as long as it stays configured: unlike its
/// position in the configuration, it survives reloads that add, remove or
/// reorder tickets. Everything that refers to a ticket across an
/// asynchronous boundary (a handler run, a CIB write, a timer) holds this,
/// and the engine ignores ids it no longer knows. A ticket removed and
/// added again by later reloads gets a new id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TicketId(pub(super) u64);

impl TicketId {
    /// An id made up by a test or a driver's own bookkeeping; the engine
    /// gives out its own with [`Engine::ticket_id`].
    pub fn from_raw(n: u64) -> TicketId {
        TicketId(n)
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
