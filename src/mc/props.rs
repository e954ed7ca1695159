//! The properties checked on every step, and the ghost state (what the
//! members said and did, never read by the engines) they are judged by.
//!
//! * **Dual grant**: never two sites whose CIB says "granted" with the
//!   lease that grant was written for still running, in true time.
//! * **Grant backed by a majority**: when a site writes a CIB grant of
//!   term T lasting until E, a majority of members (the site included) last
//!   acknowledged its heartbeat or update in term T with a lease of their
//!   own lasting until E at least (less a second: the CIB keeps whole
//!   seconds, rounded to the nearest).
//! * **One vote per term**: a member votes for one candidate per term
//!   (a candidate for itself), across daemon restarts; a host reboot loses
//!   the promise record and starts a new count.
//! * **Terms never go backwards** at a member, across daemon restarts.
//! * **No stale grant kept**: a site whose CIB says "granted" (whatever
//!   its lease, by any clock: Pacemaker acts on the flag) and that receives
//!   a state answer (`MY_INDEX`) naming another site's lease in a newer term, while that
//!   site holds a valid grant, has revoked its own by the end of that event
//!   (the C booth's rule, "live at ... (revoking here)"). This is the
//!   CIB-flag overlap a member restarted with a wrong wall clock causes:
//!   by true time its old grant has ended, by its own clock it has not.
//! * **A granted ticket stays granted** with a fair network and no crash:
//!   see [`stays_granted`].

use std::collections::BTreeSet;
use std::fmt;

#[cfg(feature = "mutations")]
use crate::engine::Mutation;
use crate::engine::{CibWrite, Leader, State, Time};
use crate::wire::codes::*;
use crate::wire::NO_ONE;

use super::world::{Packet, World};

/// A property broken on one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    DualGrant(Vec<usize>),
    GrantWithoutMajority {
        site: usize,
        term: u32,
        until: i64,
        backers: Vec<usize>,
    },
    DoubleVote {
        member: usize,
        term: u32,
        first: usize,
        second: usize,
    },
    TermBackwards {
        member: usize,
        from: u32,
        to: u32,
    },
    LostGrant {
        holder: usize,
        at: u64,
        steps: usize,
    },
    StaleGrantKept {
        site: usize,
        term: u32,
        holder: usize,
        holder_term: u32,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::DualGrant(h) => write!(f, "dual grant: sites {h:?} hold valid grants"),
            Violation::GrantWithoutMajority {
                site,
                term,
                until,
                backers,
            } => write!(
                f,
                "m{site} wrote a CIB grant of term {term} until {until} backed only by {backers:?}"
            ),
            Violation::DoubleVote {
                member,
                term,
                first,
                second,
            } => write!(
                f,
                "m{member} voted for m{first} and for m{second} in term {term}"
            ),
            Violation::TermBackwards { member, from, to } => {
                write!(f, "m{member}: term went from {from} back to {to}")
            }
            Violation::StaleGrantKept {
                site,
                term,
                holder,
                holder_term,
            } => write!(
                f,
                "m{site} keeps its CIB grant of term {term} after it was told of \
                 m{holder}'s valid grant in term {holder_term}"
            ),
            Violation::LostGrant { holder, at, steps } => write!(
                f,
                "m{holder} lost its grant at {at} ms, {steps} fair steps after this state \
                 (fair network, no crash)"
            ),
        }
    }
}

/// What the members said and did, for the properties.
#[derive(Clone, Debug, Hash)]
pub struct Ghost {
    pub last_term: Vec<u32>,
    /// (member, term, candidate) of every vote cast.
    pub votes: BTreeSet<(u8, u32, u8)>,
    /// Each member's last acknowledgement of a lease: (leader, term, the
    /// end of that lease in the member's own view).
    pub acks: Vec<Option<(u8, u32, Option<Time>)>>,
    /// A member crashed or was started after time 0 on this path.
    pub crashed: bool,
    /// An administrator revoked the ticket on this path.
    pub revoked: bool,
    /// The network was not fair on this path: a datagram was lost, or was
    /// still in flight when time advanced to a deadline.
    pub unfair: bool,
    #[cfg(feature = "mutations")]
    pub mutation: Option<Mutation>,
}

impl Ghost {
    pub fn new(n: usize) -> Ghost {
        Ghost {
            last_term: vec![0; n],
            votes: BTreeSet::new(),
            acks: vec![None; n],
            crashed: false,
            revoked: false,
            unfair: false,
            #[cfg(feature = "mutations")]
            mutation: None,
        }
    }

    /// Member `m`'s host rebooted: what it promised is gone with it.
    pub fn forget(&mut self, m: usize) {
        self.last_term[m] = 0;
        self.votes.retain(|v| v.0 as usize != m);
    }

    /// A datagram leaves its sender; `until` is the sender's view of the
    /// lease of the datagram's addressee, if it follows it.
    pub fn sent(&mut self, p: &Packet, until: Option<Time>, found: &mut Vec<Violation>) {
        match (p.cmd, p.request) {
            (OP_REQ_VOTE, _) => self.vote(p.from, p.term, p.from, found),
            (OP_VOTE_FOR, OP_REQ_VOTE) if p.leader != NO_ONE => {
                // Site ids are 1000 + index in the checked configuration.
                let c = p.leader.wrapping_sub(super::SITE_ID0) as u8;
                self.vote(p.from, p.term, c, found)
            }
            (OP_ACK, OP_HEARTBEAT | OP_UPDATE) => {
                self.acks[p.from as usize] = Some((p.to, p.term, until));
            }
            _ => {}
        }
    }

    fn vote(&mut self, m: u8, term: u32, c: u8, found: &mut Vec<Violation>) {
        let other = self
            .votes
            .range((m, term, 0)..=(m, term, u8::MAX))
            .find(|v| v.2 != c);
        if let Some(&(_, _, first)) = other {
            found.push(Violation::DoubleVote {
                member: m as usize,
                term,
                first: first as usize,
                second: c as usize,
            });
        }
        self.votes.insert((m, term, c));
    }

    pub fn after_event(&mut self, m: usize, term: u32, found: &mut Vec<Violation>) {
        let last = self.last_term[m];
        if term < last {
            found.push(Violation::TermBackwards {
                member: m,
                from: last,
                to: term,
            });
        }
        self.last_term[m] = term;
    }

    /// Site `m` writes grant `w`, whose lease ends at `end` in true time.
    pub fn check_grant(
        &self,
        m: usize,
        w: &CibWrite,
        end: i64,
        n: usize,
        found: &mut Vec<Violation>,
    ) {
        let backers: Vec<usize> = (0..n)
            .filter(|&o| {
                o == m
                    || self.acks[o].is_some_and(|(l, term, until)| {
                        l as usize == m
                            && term == w.term
                            && until.is_some_and(|u| u.ms() as i64 + 1000 >= end)
                    })
            })
            .collect();
        if backers.len() * 2 <= n {
            found.push(Violation::GrantWithoutMajority {
                site: m,
                term: w.term,
                until: end,
                backers,
            });
        }
    }
}

/// "A granted ticket stays granted": from a state where a site leads and
/// holds a valid CIB grant, every member runs and none has crashed on the
/// path, nor an administrator revoked the ticket, and the network was fair
/// on the path (every datagram delivered before time moved on), the fair
/// continuation — every datagram delivered at once, in a
/// fixed order, handlers working, time advancing from deadline to deadline,
/// no operator — keeps that site's grant valid for `horizon_ms`. A bounded
/// search cannot check "forever"; a horizon of several renewal periods
/// covers every renewal and resend the engine schedules within a lease.
/// `None` when the state does not qualify or the grant stays.
pub fn stays_granted(w: &World, horizon_ms: u64) -> Option<Violation> {
    let g = &w.ghost;
    if g.crashed || g.revoked || g.unfair || w.engines.iter().any(|e| e.is_none()) {
        return None;
    }
    let holder = (0..w.n()).find(|&m| {
        w.holds(m)
            && w.engines[m].as_ref().is_some_and(|e| {
                let v = e.ticket_view(crate::engine::Tix::FIRST);
                v.state == State::Leader && v.leader == Leader::of(m)
            })
    })?;
    let mut f = w.clone();
    f.handler_fails.iter_mut().for_each(|h| *h = false);
    let end = f.now + horizon_ms;
    let mut steps = 0;
    // Bounded also in steps: an engine whose deadlines stopped moving
    // would otherwise spin here.
    while f.now < end && steps < 100_000 {
        if let Some(&p) = f.net.first() {
            f.apply(super::world::Action::Deliver(p));
        } else if f.next_deadline().is_some() {
            f.apply(super::world::Action::Advance);
        } else {
            break;
        }
        steps += 1;
        if let Some(v) = f.found.first() {
            return Some(v.clone());
        }
        if !f.holds(holder) {
            return Some(Violation::LostGrant {
                holder,
                at: f.now,
                steps,
            });
        }
    }
    None
}
