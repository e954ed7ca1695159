//! A ticket's stable identity, and its position in the engine's current list.

use std::fmt;

use crate::config::Config;

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

/// A ticket's position in the engine's current list: what the engine's
/// own methods take to name the ticket they work on. Valid until the next
/// reload (which may reorder the list) and never handed out across an
/// asynchronous boundary (that is [`TicketId`]'s job). A type of its own,
/// not a `usize`, so that a member index passed where a ticket belongs
/// (both were `usize`) fails to compile.
///
/// Positions come from the engine itself ([`Engine::ticket_index`],
/// [`Engine::ticket_by_id`], [`Engine::ticket_positions`]):
///
/// ```
/// use booth::engine::{Engine, TicketView};
/// fn view(e: &Engine, name: &str) -> Option<TicketView> {
///     e.ticket_index(name).map(|i| e.ticket_view(i))
/// }
/// ```
///
/// A member index, or any other number, is no ticket position:
///
/// ```compile_fail
/// use booth::engine::{Engine, TicketView};
/// fn view(e: &Engine, member: usize) -> TicketView {
///     e.ticket_view(member)
/// }
/// ```
///
/// [`Engine::ticket_index`]: super::Engine::ticket_index
/// [`Engine::ticket_by_id`]: super::Engine::ticket_by_id
/// [`Engine::ticket_positions`]: super::Engine::ticket_positions
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tix(u32);

impl Tix {
    /// The first position (the lowest in an ordered set).
    pub const FIRST: Tix = Tix(0);

    /// The position as a number (for the engine's position tables).
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The ticket at position `n` (the engine keeps at most `u32::MAX`).
    pub fn at(n: usize) -> Tix {
        Tix(u32::try_from(n).expect("ticket position fits u32"))
    }
}

/// The engine's tickets, indexed by [`Tix`] only: no `Deref` to a slice,
/// so that indexing with a bare `usize` does not compile.
///
/// ```
/// use booth::engine::{Tickets, Tix};
/// let t: Tickets<&str> = vec!["a", "b"].into();
/// assert_eq!(t[Tix::FIRST], "a");
/// assert_eq!(t.ids().map(|i| t[i]).collect::<Vec<_>>(), ["a", "b"]);
/// ```
///
/// ```compile_fail
/// use booth::engine::Tickets;
/// let t: Tickets<&str> = vec!["a", "b"].into();
/// let _ = t[1usize];
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tickets<T>(Vec<T>);

impl<T> Default for Tickets<T> {
    fn default() -> Tickets<T> {
        Tickets(Vec::new())
    }
}

impl<T> Tickets<T> {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every position, in order.
    pub fn ids(&self) -> impl DoubleEndedIterator<Item = Tix> + ExactSizeIterator + use<T> {
        (0..self.0.len()).map(Tix::at)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.0.iter_mut()
    }

    /// Tickets with their positions.
    pub fn enumerate(&self) -> impl Iterator<Item = (Tix, &T)> {
        self.0.iter().enumerate().map(|(n, t)| (Tix::at(n), t))
    }

    pub fn push(&mut self, t: T) {
        self.0.push(t);
    }

    pub fn get(&self, i: Tix) -> Option<&T> {
        self.0.get(i.index())
    }

    /// The list itself, for what rebuilds it (a reload).
    pub fn vec_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

impl<T> From<Vec<T>> for Tickets<T> {
    fn from(v: Vec<T>) -> Tickets<T> {
        Tickets(v)
    }
}

impl<T> std::ops::Index<Tix> for Tickets<T> {
    type Output = T;
    fn index(&self, i: Tix) -> &T {
        &self.0[i.index()]
    }
}

impl<T> std::ops::IndexMut<Tix> for Tickets<T> {
    fn index_mut(&mut self, i: Tix) -> &mut T {
        &mut self.0[i.index()]
    }
}

impl<'a, T> IntoIterator for &'a Tickets<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T> FromIterator<T> for Tickets<T> {
    fn from_iter<I: IntoIterator<Item = T>>(it: I) -> Tickets<T> {
        Tickets(it.into_iter().collect())
    }
}

impl<T> IntoIterator for Tickets<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Positions sorted by their tickets' ids, for finding a ticket's position
/// by id by binary search (`Engine::ticket_by_id`).
pub(super) fn id_index(ids: &[TicketId]) -> Vec<u32> {
    let mut v: Vec<u32> = (0..ids.len() as u32).collect();
    crate::sort::positions(&mut v, &|a, b| ids[a].cmp(&ids[b]));
    v
}

/// Positions sorted by their tickets' names, for finding a ticket's
/// position by name by binary search (`Engine::ticket_index`).
pub(super) fn name_index(cfg: &Config) -> Vec<u32> {
    let mut v: Vec<u32> = (0..cfg.tickets.len() as u32).collect();
    crate::sort::positions(&mut v, &|a, b| {
        cfg.tickets[a].name.cmp(&cfg.tickets[b].name)
    });
    v
}
