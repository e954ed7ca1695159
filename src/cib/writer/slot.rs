//! One ticket's slot in the writer.
//!
//! Every configured ticket has one (its start-up state, what the store is
//! known to hold), but only a ticket being written needs the write's
//! bookkeeping: that part is boxed and allocated on first use, and given
//! back when the ticket is idle again, together with the replies held
//! for the write and the engine's id of the ticket that asked for it. An
//! idle slot is 24 bytes: at 10,000 tickets the writer's table costs some
//! 80 bytes a ticket (some 400 before any of this was boxed).

use std::ops::{Deref, DerefMut};

use super::RunId;
use crate::engine::{CibWrite, TicketId, Time};

/// What a slot keeps only while a write is pending, running or retried.
pub(super) struct Busy {
    /// The engine's id for the ticket of the newest write.
    pub(super) id: Option<TicketId>,
    pub(super) pending: Option<CibWrite>,
    pub(super) inflight: Option<RunId>,
    pub(super) inflight_seq: u64,
    pub(super) retry_at: Option<Time>,
    pub(super) failures: u32,
    /// Writes submitted so far; the pending write carries the latest
    /// number, the one in flight its own. Counts from 0 again after an
    /// idle spell: no held reply outlives one (see `Slot::settle`).
    pub(super) submitted: u64,
}

/// An idle slot's view of [`Busy`].
static IDLE: Busy = Busy::idle();

impl Busy {
    /// Nothing pending, running or retried.
    const fn idle() -> Busy {
        Busy {
            id: None,
            pending: None,
            inflight: None,
            inflight_seq: 0,
            retry_at: None,
            failures: 0,
            submitted: 0,
        }
    }
}

/// The boxed part of a slot: the bookkeeping and the held replies.
struct Boxed<R> {
    busy: Busy,
    /// Replies held until a write at least as new as `.0` is stored.
    held: Vec<(u64, R)>,
}

pub(super) struct Slot<R> {
    /// The write's bookkeeping, reached through `Deref` (`s.pending`, ...):
    /// reading an idle slot's sees [`IDLE`], writing allocates it.
    busy: Option<Box<Boxed<R>>>,
    pub(super) queued: bool,
    pub(super) batched: bool,
    /// Granted flag and owner the CIB is known to hold: a write keeping
    /// both is a renewal and may be batched.
    pub(super) written: Option<(bool, i32)>,
    /// The start-up load found nothing for this ticket and nothing was
    /// written since: writing "not granted" changes no state.
    pub(super) absent: bool,
    /// Still in the configuration; a removed ticket's slot goes once idle.
    pub(super) configured: bool,
}

impl<R> Slot<R> {
    pub(super) fn new() -> Slot<R> {
        Slot {
            busy: None,
            queued: false,
            batched: false,
            written: None,
            absent: false,
            configured: true,
        }
    }

    pub(super) fn busy(&self) -> bool {
        self.inflight.is_some() || self.pending.is_some() || self.retry_at.is_some()
    }

    /// Replies held until a write at least as new as `.0` is stored.
    pub(super) fn held(&self) -> &[(u64, R)] {
        self.busy.as_ref().map_or(&[], |b| &b.held)
    }

    pub(super) fn held_mut(&mut self) -> &mut Vec<(u64, R)> {
        &mut self.boxed().held
    }

    /// Gives the bookkeeping back once nothing is being written and no
    /// reply waits for a write.
    pub(super) fn settle(&mut self) {
        if !self.busy() && self.held().is_empty() {
            self.busy = None;
        }
    }

    fn boxed(&mut self) -> &mut Boxed<R> {
        self.busy.get_or_insert_with(|| {
            Box::new(Boxed {
                busy: Busy::idle(),
                held: Vec::new(),
            })
        })
    }
}

impl<R> Deref for Slot<R> {
    type Target = Busy;
    fn deref(&self) -> &Busy {
        self.busy.as_ref().map_or(&IDLE, |b| &b.busy)
    }
}

impl<R> DerefMut for Slot<R> {
    fn deref_mut(&mut self) -> &mut Busy {
        &mut self.boxed().busy
    }
}
