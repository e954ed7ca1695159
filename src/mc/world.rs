//! The checked system: three real engines (two sites, one arbitrator), the
//! datagrams in flight between them, each site's CIB, each member's promise
//! record, and the ghost state the properties need. Every nondeterministic
//! choice is an [`Action`]; [`World::actions`] lists those enabled in a
//! state and [`World::apply`] takes one.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::config::{Config, MemberKind};
use crate::engine::{CibState, CibWrite, Clock, Engine, Leader, Output, Promise, Time};
use crate::wire::codes::*;
use crate::wire::{
    Cmd, Header, Reason, Rlt, TicketBody, TicketMsg, MAGIC, NO_ONE, OPT_IMMEDIATE, VERSION,
};

use super::props::{Ghost, Violation};
use super::Limits;

/// The wall clock at true time 0 (ms since the epoch, a whole second).
pub const WALL0: i64 = 1_700_000_000_000;
/// How far a wall-clock step moves a member's clock.
pub const CLOCK_STEP_MS: i64 = 3_600_000;

/// A datagram in flight, with the fields the engines fill in (their
/// headers carry no timestamp, so nothing else varies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Packet {
    pub from: u8,
    pub to: u8,
    pub cmd: Cmd,
    pub request: Cmd,
    pub reason: Reason,
    pub result: Rlt,
    pub options: u32,
    pub leader: u32,
    pub term: u32,
    pub valid: u32,
    /// When an acknowledgement was sent (0 for other datagrams): one
    /// older than the ticket's timeout is lost (see `World::advance`).
    pub sent: u64,
    /// Held back by the network (`Action::Delay`): may still be in flight
    /// when time advances. Datagrams not held back arrive before it does.
    pub late: bool,
}

/// The fault and operator budgets still available on a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Budget {
    /// Datagrams held back past the next deadline.
    pub delays: u8,
    pub drops: u8,
    pub dups: u8,
    pub crashes: u8,
    pub admin: u8,
    pub handler_failures: u8,
    pub clock_steps: u8,
}

/// One nondeterministic step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Deliver one copy of this datagram (to a member that is down: lose it).
    Deliver(Packet),
    /// Deliver it and keep a copy in flight (a duplicate).
    Duplicate(Packet),
    /// Hold one copy back: it may arrive after any number of deadlines.
    Delay(Packet),
    /// Lose one copy of it.
    Drop(Packet),
    /// Jump to the earliest deadline of any running member and let every
    /// member whose deadline has come handle it.
    Advance,
    /// Kill a member's daemon; its CIB and promise record stay.
    Crash(usize),
    /// Start a stopped member: `reboot` loses its promise record (a host
    /// reboot), otherwise it is given back (a daemon restart).
    Start { m: usize, reboot: bool },
    /// `booth grant [-F]` or `booth revoke` at a site.
    Admin { m: usize, cmd: Cmd, force: bool },
    /// The site's before-acquire-handler starts failing (`true`) or works
    /// again (`false`, free).
    HandlerFails { m: usize, fails: bool },
    /// The member's wall clock steps an hour back (`back`) or forward.
    ClockStep { m: usize, back: bool },
}

/// One state of the checked cluster.
#[derive(Clone)]
pub struct World {
    pub cfg: Arc<Config>,
    pub now: u64,
    pub engines: Vec<Option<Engine>>,
    /// In flight, sorted (a multiset: a duplicate appears twice).
    pub net: Vec<Packet>,
    /// Each site's CIB: the last write and the true time its `expires`
    /// stands for (by the wall clock that wrote it).
    pub cib: Vec<Option<(CibWrite, i64)>>,
    pub promises: Vec<Option<Promise>>,
    pub wall_off: Vec<i64>,
    pub handler_fails: Vec<bool>,
    pub budget: Budget,
    pub ghost: Ghost,
    /// Safety violations seen on the last step.
    pub found: Vec<Violation>,
}

impl Hash for World {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (self.now, &self.engines, &self.net, &self.promises).hash(h);
        for c in &self.cib {
            c.as_ref()
                .map(|(w, end)| (w.granted, w.owner, w.expires, w.term, *end))
                .hash(h);
        }
        (
            &self.wall_off,
            &self.handler_fails,
            self.budget,
            &self.ghost,
        )
            .hash(h);
    }
}

impl World {
    /// All members started at true time 0, nothing granted.
    pub fn new(cfg: Config, limits: &Limits, ghost: Ghost) -> World {
        let n = cfg.members.len();
        let mut w = World {
            cfg: Arc::new(cfg),
            now: 0,
            engines: vec![None; n],
            net: Vec::new(),
            cib: vec![None; n],
            promises: vec![None; n],
            wall_off: vec![0; n],
            handler_fails: vec![false; n],
            budget: limits.budget,
            ghost,
            found: Vec::new(),
        };
        for m in 0..n {
            w.boot(m, false);
        }
        w
    }

    pub fn n(&self) -> usize {
        self.cfg.members.len()
    }

    pub fn is_site(&self, m: usize) -> bool {
        self.cfg.members[m].kind == MemberKind::Site
    }

    pub fn clock_of(&self, m: usize) -> Clock {
        Clock::new(
            Time::from_ms(self.now),
            WALL0 + self.now as i64 + self.wall_off[m],
        )
    }

    /// Does site `m` hold a CIB grant whose lease still runs?
    pub fn holds(&self, m: usize) -> bool {
        self.cib[m]
            .as_ref()
            .is_some_and(|(w, end)| w.granted && *end > self.now as i64)
    }

    /// The earliest deadline of the running members.
    pub fn next_deadline(&self) -> Option<u64> {
        self.engines
            .iter()
            .flatten()
            .filter_map(|e| e.next_deadline())
            .map(|t| t.ms())
            .min()
    }

    /// The steps enabled here, within `limits`.
    pub fn actions(&self, limits: &Limits) -> Vec<Action> {
        let mut acts = Vec::new();
        let mut last = None;
        for &p in &self.net {
            if last == Some(p) {
                continue;
            }
            last = Some(p);
            acts.push(Action::Deliver(p));
            if self.budget.dups > 0 {
                acts.push(Action::Duplicate(p));
            }
            if self.budget.drops > 0 {
                acts.push(Action::Drop(p));
            }
            if self.budget.delays > 0 && !p.late {
                acts.push(Action::Delay(p));
            }
        }
        // Time moves on once every datagram not held back has arrived.
        let prompt = self.net.iter().all(|p| p.late);
        if prompt
            && self
                .next_deadline()
                .is_some_and(|d| d.max(self.now) <= limits.horizon_ms)
        {
            acts.push(Action::Advance);
        }
        for m in 0..self.n() {
            let up = self.engines[m].is_some();
            if up && self.budget.crashes > 0 {
                acts.push(Action::Crash(m));
            }
            if !up {
                acts.push(Action::Start { m, reboot: false });
                acts.push(Action::Start { m, reboot: true });
            }
            let operated = self.is_site(m) && (!limits.narrow || m == 0);
            if up && operated && self.budget.admin > 0 {
                for (cmd, force) in [(CMD_GRANT, false), (CMD_GRANT, true), (CMD_REVOKE, false)] {
                    if !limits.narrow || (cmd, force) == (CMD_GRANT, false) {
                        acts.push(Action::Admin { m, cmd, force });
                    }
                }
            }
            if operated && limits.handler {
                if self.handler_fails[m] {
                    acts.push(Action::HandlerFails { m, fails: false });
                } else if self.budget.handler_failures > 0 {
                    acts.push(Action::HandlerFails { m, fails: true });
                }
            }
            if self.budget.clock_steps > 0 {
                acts.push(Action::ClockStep { m, back: true });
                acts.push(Action::ClockStep { m, back: false });
            }
        }
        acts
    }

    /// Takes one step; the safety violations it caused are in `found`.
    pub fn apply(&mut self, a: Action) {
        self.found.clear();
        match a {
            Action::Deliver(p) => {
                self.take(p);
                self.deliver(p);
            }
            Action::Duplicate(p) => {
                self.budget.dups -= 1;
                self.deliver(p);
            }
            Action::Delay(p) => {
                self.budget.delays -= 1;
                self.take(p);
                let late = Packet { late: true, ..p };
                let k = self.net.binary_search(&late).unwrap_or_else(|k| k);
                self.net.insert(k, late);
            }
            Action::Drop(p) => {
                self.budget.drops -= 1;
                self.ghost.unfair = true;
                self.take(p);
            }
            Action::Advance => {
                self.ghost.unfair |= !self.net.is_empty();
                self.advance();
            }
            Action::Crash(m) => {
                self.budget.crashes -= 1;
                self.crash(m);
            }
            Action::Start { m, reboot } => self.boot(m, reboot),
            Action::Admin { m, cmd, force } => {
                self.budget.admin -= 1;
                self.ghost.revoked |= cmd == CMD_REVOKE;
                self.admin(m, cmd, force);
            }
            Action::HandlerFails { m, fails } => {
                if fails {
                    self.budget.handler_failures -= 1;
                }
                self.handler_fails[m] = fails;
            }
            Action::ClockStep { m, back } => {
                self.budget.clock_steps -= 1;
                self.wall_off[m] += if back { -CLOCK_STEP_MS } else { CLOCK_STEP_MS };
            }
        }
        self.check_state();
    }

    pub fn crash(&mut self, m: usize) {
        self.engines[m] = None;
        self.ghost.crashed = true;
    }

    pub fn admin(&mut self, m: usize, cmd: Cmd, force: bool) {
        let c = self.clock_of(m);
        let opts = if force { OPT_IMMEDIATE } else { 0 };
        let name = self.cfg.tickets[0].name.clone();
        if let Some(e) = self.engines[m].as_mut() {
            e.handle_client(c, 1, cmd, opts, &name);
        }
        self.drain(m);
    }

    fn take(&mut self, p: Packet) {
        let k = self.net.binary_search(&p).expect("packet in flight");
        self.net.remove(k);
    }

    fn deliver(&mut self, p: Packet) {
        let to = p.to as usize;
        let c = self.clock_of(to);
        let msg = self.to_msg(&p);
        if let Some(e) = self.engines[to].as_mut() {
            let _ = e.handle_packet(c, p.from as usize, &msg);
            self.drain(to);
            self.check_told(&p);
        }
    }

    /// A site told of another site's valid grant in a newer term than its
    /// own CIB grant must not keep that grant (see `props`).
    fn check_told(&mut self, p: &Packet) {
        let to = p.to as usize;
        let Some((w, _)) = self.cib[to].as_ref().filter(|(w, _)| w.granted) else {
            return;
        };
        let Some(other) = self.cfg.member_by_id(p.leader).map(|m| m.index) else {
            return;
        };
        // A state answer, a heartbeat or an update from the holder: each
        // names its leader, term and remaining lease.
        let told = matches!(p.cmd, OP_MY_INDEX | OP_HEARTBEAT | OP_UPDATE);
        if told && other != to && p.valid > 0 && p.term > w.term && self.holds(other) {
            self.found.push(Violation::StaleGrantKept {
                site: to,
                term: w.term,
                holder: other,
                holder_term: p.term,
            });
        }
    }

    /// Time moves to the next deadline. Acknowledgements in flight for
    /// longer than the ticket's timeout are lost: the wire does not say
    /// which heartbeat an acknowledgement answers, and a leader's lease
    /// allows one timeout for its transit (the protocol's assumption, the
    /// simulator's `ack-beyond-timeout`).
    fn advance(&mut self) {
        if let Some(d) = self.next_deadline() {
            self.now = self.now.max(d);
        }
        let timeout = self.cfg.tickets[0].timeout.as_millis() as u64;
        let now = self.now;
        self.net
            .retain(|p| p.cmd != OP_ACK || now.saturating_sub(p.sent) <= timeout);
        for m in 0..self.n() {
            let c = self.clock_of(m);
            if let Some(e) = self.engines[m].as_mut() {
                if e.next_deadline().is_some_and(|d| d.ms() <= self.now) {
                    e.handle_timeout(c);
                    self.drain(m);
                }
            }
        }
    }

    /// Starts member `m` as its daemon would: the CIB read, the promise
    /// record given back (unless the host rebooted), a state query sent.
    pub fn boot(&mut self, m: usize, reboot: bool) {
        if reboot {
            self.promises[m] = None;
            self.ghost.forget(m);
        }
        self.ghost.crashed |= self.now > 0;
        let seed = (m as u64 + 1).wrapping_mul(0x9E37_79B9) ^ self.now;
        let mut e = Engine::new((*self.cfg).clone(), m, seed);
        #[cfg(feature = "mutations")]
        e.set_mutation(self.ghost.mutation);
        let c = self.clock_of(m);
        if let Some((w, _)) = &self.cib[m] {
            let st = CibState {
                granted: w.granted,
                owner: Some(w.owner as i64),
                expires: Some(w.expires),
                term: Some(w.term),
                attrs: vec![],
            };
            e.load_cib(c, crate::engine::Tix::FIRST, &st);
        }
        if let Some(p) = &self.promises[m] {
            assert!(
                e.restore_promise(crate::engine::Tix::FIRST, p),
                "promise record refused"
            );
        }
        e.start(c);
        self.engines[m] = Some(e);
        self.drain(m);
    }

    /// Executes member `m`'s outputs: promises recorded first, datagrams
    /// put in flight, CIB writes done and confirmed, handlers run to their
    /// end at once with the outcome the site's handler policy says.
    fn drain(&mut self, m: usize) {
        loop {
            let Some(e) = self.engines[m].as_mut() else {
                return;
            };
            if let Some((_, p)) = e.take_promises().pop() {
                self.promises[m] = Some(p);
            }
            let mut follow = Vec::new();
            while let Some(o) = e.poll_output() {
                match o {
                    Output::Send { to, msg, .. } => {
                        let mut p = Packet::of(m, to, &msg);
                        if p.cmd == OP_ACK {
                            p.sent = self.now;
                        }
                        let v = e.ticket_view(crate::engine::Tix::FIRST);
                        let until = (v.leader == Leader::of(to))
                            .then_some(v.term_expires)
                            .flatten();
                        self.ghost.sent(&p, until, &mut self.found);
                        let k = self.net.binary_search(&p).unwrap_or_else(|k| k);
                        self.net.insert(k, p);
                    }
                    Output::WriteCib(w) => {
                        let end = w.expires * 1000 - WALL0 - self.wall_off[m];
                        follow.push(Follow::Written(w.granted));
                        self.cib[m] = Some((w, end));
                        if let Some((w, end)) = self.cib[m].as_ref().filter(|(w, _)| w.granted) {
                            let n = self.cfg.members.len();
                            self.ghost.check_grant(m, w, *end, n, &mut self.found);
                        }
                    }
                    Output::RunHandler { ticket, run, .. } => {
                        follow.push(Follow::Handler(ticket, run));
                    }
                    Output::StopHandler { .. }
                    | Output::ClientReply { .. }
                    | Output::StoreAttr { .. } => {}
                }
            }
            self.after_event(m);
            if follow.is_empty() {
                return;
            }
            let c = self.clock_of(m);
            let ok = !self.handler_fails[m];
            let e = self.engines[m].as_mut().unwrap();
            for f in follow {
                match f {
                    Follow::Written(granted) => {
                        e.handle_cib_written(c, e.ticket_id(crate::engine::Tix::FIRST), granted)
                    }
                    Follow::Handler(t, run) => e.handle_handler_exit(c, t, run, ok),
                }
            }
        }
    }

    /// Ghost bookkeeping after one engine event of member `m`.
    fn after_event(&mut self, m: usize) {
        let term = self.engines[m]
            .as_ref()
            .unwrap()
            .ticket_view(crate::engine::Tix::FIRST)
            .term;
        self.ghost.after_event(m, term, &mut self.found);
    }

    fn check_state(&mut self) {
        let holders: Vec<usize> = (0..self.n()).filter(|&m| self.holds(m)).collect();
        if holders.len() > 1 {
            self.found.push(Violation::DualGrant(holders));
        }
    }

    fn to_msg(&self, p: &Packet) -> TicketMsg {
        TicketMsg {
            header: Header {
                magic: MAGIC,
                version: VERSION,
                from: self.cfg.members[p.from as usize].site_id,
                cmd: p.cmd,
                request: p.request,
                reason: p.reason,
                result: p.result,
                options: p.options,
                ..Header::default()
            },
            body: TicketBody {
                name: self.cfg.tickets[0].name.to_string(),
                leader: p.leader,
                term: p.term,
                term_valid_for: p.valid,
            },
        }
    }

    /// A short description of member `m`'s view, for traces.
    pub fn describe(&self, m: usize) -> String {
        let Some(e) = self.engines[m].as_ref() else {
            return format!("m{m} down");
        };
        let v = e.ticket_view(crate::engine::Tix::FIRST);
        let leader = match v.leader {
            Leader::Member(l) => format!("m{l}"),
            Leader::NoOne => "none".into(),
            Leader::Unknown => "?".into(),
        };
        let cib = match &self.cib[m] {
            Some((w, end)) if w.granted => format!(" CIB granted until {end}"),
            _ => String::new(),
        };
        format!(
            "m{m} {} term {} leader {leader} expires {:?}{cib}",
            v.state.as_str(),
            v.term,
            v.term_expires.map(|t| t.ms())
        )
    }

    /// One-line description of a packet.
    pub fn describe_packet(&self, p: &Packet) -> String {
        let leader = if p.leader == NO_ONE {
            "none".to_string()
        } else {
            self.cfg
                .member_by_id(p.leader)
                .map_or("?".into(), |m| format!("m{}", m.index))
        };
        format!(
            "m{}->m{} {} (req {}, res {}) leader {leader} term {} valid {}",
            p.from,
            p.to,
            code_to_string(p.cmd),
            code_to_string(p.request),
            code_to_string(p.result),
            p.term,
            p.valid
        )
    }
}

enum Follow {
    Written(bool),
    Handler(crate::engine::TicketId, u64),
}

impl Packet {
    fn of(from: usize, to: usize, msg: &TicketMsg) -> Packet {
        Packet {
            from: from as u8,
            to: to as u8,
            cmd: msg.header.cmd,
            request: msg.header.request,
            reason: msg.header.reason,
            result: msg.header.result,
            options: msg.header.options,
            leader: msg.body.leader,
            term: msg.body.term,
            valid: msg.body.term_valid_for,
            sent: 0,
            late: false,
        }
    }
}
