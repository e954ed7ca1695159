//! Alerts in the loop: finding the agents, turning what the loop sees into
//! events (daemon/alerts.rs decides the queueing), running the agents as
//! children, and the reachability probe.
//!
//! Ticket events come from comparing the engine's ticket views after each
//! drain with what was seen before; CIB events from the writer's counters;
//! peer events from datagrams heard and a periodic look. The probe (an
//! `OP_STATUS` to every peer, which C peers answer) and its timer exist
//! only while agents are configured: an idle daemon without alerts keeps
//! sleeping.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use log::{info, warn};

use super::jobs::Purpose;
use super::{Daemon, TimerKind};
use crate::daemon::alerts::{self, Alerts, AuthFailures, Event, Reach, TicketSeen};
use crate::daemon::localtime;
use crate::daemon::timer::{Ms, TimerId};
use crate::engine::Leader;
use crate::wire::codes::{OP_MY_INDEX, OP_STATUS};
use crate::wire::TicketMsg;

/// Probes go out this often at the least and at the most; in between, the
/// shortest ticket `timeout` of the configuration.
const PROBE_MIN: Ms = 1_000;
const PROBE_MAX: Ms = 30_000;
/// A peer is unreachable after this many probe periods of silence.
const SILENT_PERIODS: Ms = 3;

/// The alert state the daemon keeps.
pub(super) struct AlertState {
    pub(super) dir: PathBuf,
    pub(super) alerts: Alerts,
    reach: Vec<Reach>,
    tickets: HashMap<String, TicketSeen>,
    /// The writer's failure and confirmation counts last seen, and
    /// whether writes are failing.
    cib: (u64, u64, bool),
    auth: AuthFailures,
    probe_timer: Option<TimerId>,
    /// Per member: a probe was sent and not yet answered.
    probed: Vec<bool>,
}

impl AlertState {
    pub(super) fn new(dir: PathBuf, peers: usize) -> AlertState {
        AlertState {
            dir,
            alerts: Alerts::default(),
            reach: vec![Reach::default(); peers],
            tickets: HashMap::new(),
            cib: (0, 0, false),
            auth: AuthFailures::default(),
            probe_timer: None,
            probed: vec![false; peers],
        }
    }

    /// Whether the peer is reachable as alerts see it (`None`: alerts
    /// off, or no verdict yet).
    pub(super) fn reachable(&self, m: usize) -> Option<bool> {
        if !self.alerts.enabled() {
            return None;
        }
        self.reach.get(m).and_then(|r| r.reachable)
    }
}

impl Daemon {
    /// (Re)reads the alerts directory; at start and at each reload.
    pub(super) fn load_alerts(&mut self) {
        let dir = self.alerting.dir.clone();
        let found = match alerts::find_agents(&dir) {
            Ok(f) => f,
            Err(e) => {
                warn!("{}: cannot read the alert agents: {e}", dir.display());
                Vec::new()
            }
        };
        if !found.is_empty() || self.alerting.alerts.enabled() {
            info!("{} alert agents in {}", found.len(), dir.display());
        }
        let was = self.alerting.alerts.enabled();
        self.alerting.alerts.set_agents(found);
        let n = self.cfg.members.len();
        self.alerting.reach.resize(n, Reach::default());
        self.alerting.probed.resize(n, false);
        if self.alerting.alerts.enabled() && !was {
            // CIB failures before the agents came are not theirs.
            let st = self.core.writer().stats();
            self.alerting.cib = (st.failures, st.confirmed, false);
            // Silence is counted from now.
            let now = self.now_ms();
            self.alerting.reach.fill(Reach {
                since: now,
                reachable: None,
            });
        }
        if !self.alerting.alerts.enabled() {
            // Changes while nobody listens are not reported later.
            self.alerting.tickets.clear();
        }
        self.arm_probe();
    }

    fn probe_period(&self) -> Ms {
        let shortest = self
            .cfg
            .tickets
            .iter()
            .map(|t| t.timeout.as_millis() as Ms)
            .min();
        shortest.unwrap_or(PROBE_MAX).clamp(PROBE_MIN, PROBE_MAX)
    }

    fn arm_probe(&mut self) {
        let want = self.alerting.alerts.enabled() && !self.cfg.tickets.is_empty();
        match (want, self.alerting.probe_timer) {
            (true, None) => {
                let at = self.now_ms() + self.probe_period();
                self.alerting.probe_timer = Some(self.timers.insert(at, TimerKind::AlertProbe));
            }
            (false, Some(t)) => {
                self.timers.cancel(t);
                self.alerting.probe_timer = None;
            }
            _ => {}
        }
    }

    /// The probe timer: who has been silent too long, then ask everyone.
    pub(super) fn probe_tick(&mut self) {
        self.alerting.probe_timer = None;
        if !self.alerting.alerts.enabled() {
            return;
        }
        let now = self.now_ms();
        let window = SILENT_PERIODS * self.probe_period();
        for m in 0..self.cfg.members.len() {
            if m == self.me {
                continue;
            }
            if self.alerting.reach[m].check(now, window) == Some(false) {
                self.peer_event(m, "unreachable");
            }
            if self.started {
                let c = self.engine_clock();
                self.core.engine_mut().probe(c, m);
                self.alerting.probed[m] = true;
            }
        }
        self.arm_probe();
    }

    /// Whether `msg` from member `m` answers our probe; if so it is kept
    /// from the engine (it would take the peer's view as a state answer).
    /// The engine asks `OP_STATUS` itself only at start and for tickets a
    /// reload adds, and resends a state query until it is answered, so an
    /// answer to it taken for a probe's costs a resend at worst.
    pub(super) fn probe_answer(&mut self, m: usize, msg: &TicketMsg) -> bool {
        let probe = self.alerting.probed.get(m) == Some(&true)
            && msg.header.cmd == OP_MY_INDEX
            && msg.header.request == OP_STATUS
            && self
                .cfg
                .tickets
                .first()
                .is_some_and(|t| *t.name == *msg.body.name);
        if probe {
            self.alerting.probed[m] = false;
        }
        probe
    }

    /// A datagram came from member `m`.
    pub(super) fn peer_heard(&mut self, m: usize) {
        if !self.alerting.alerts.enabled() {
            return;
        }
        let now = self.now_ms();
        if self.alerting.reach[m].heard(now) == Some(true) {
            self.peer_event(m, "reachable");
        }
    }

    fn peer_event(&mut self, m: usize, what: &'static str) {
        let member = &self.cfg.members[m];
        let last = self.peers[m].last_recv;
        let ev = Event::new("peer", what)
            .var("PEER", &member.addr_string)
            .var("PEER_ROLE", member.kind.as_str())
            .var(
                "LAST_HEARD",
                if last > 0 {
                    last.to_string()
                } else {
                    String::new()
                },
            );
        if what == "unreachable" {
            warn!("{}: unreachable (alert)", member.addr_string);
        }
        self.alert(ev);
    }

    /// An authentication failure from `addr` (peer or client).
    pub(super) fn auth_failed(&mut self, addr: &str, from: &'static str) {
        if !self.alerting.alerts.enabled() {
            return;
        }
        let now = self.now_ms();
        if let Some(n) = self.alerting.auth.failed(addr, now) {
            let ev = Event::new("auth", "failed")
                .var("ADDRESS", addr)
                .var("PEER_ROLE", from)
                .var("COUNT", n);
            self.alert(ev);
        }
    }

    /// A before-acquire-handler failed.
    pub(super) fn handler_failed(&mut self, ticket: &str, program: &str, why: &str) {
        let ev = Event::new("handler", "failed")
            .var("TICKET", ticket)
            .var("HANDLER", program)
            .var("DETAIL", why);
        self.alert(ev);
    }

    /// Compares tickets and CIB writes with what was seen; called after
    /// each drain.
    pub(super) fn watch_alerts(&mut self) {
        if !self.alerting.alerts.enabled() || !self.started {
            return;
        }
        let clock = self.engine_clock();
        for i in self.core.engine().ticket_positions() {
            let v = self.core.engine().ticket_view(i);
            let Some(seen) = self.alerting.tickets.get_mut(&v.name) else {
                self.alerting
                    .tickets
                    .insert(v.name.clone(), TicketSeen::new(&v));
                continue;
            };
            let events = alerts::ticket_events(seen, &v, self.me);
            let addr = |l: Option<usize>| {
                l.and_then(|m| self.cfg.members.get(m))
                    .map_or(String::new(), |m| m.addr_string.clone())
            };
            let leader = match v.leader {
                Leader::Member(m) => addr(Some(m as usize)),
                Leader::NoOne => "none".to_string(),
                Leader::Unknown => "NONE".to_string(),
            };
            let expiry = v.term_expires.map_or(String::new(), |t| {
                clock.wall_of(t).div_euclid(1000).to_string()
            });
            let evs: Vec<Event> = events
                .into_iter()
                .map(|(what, prev)| {
                    Event::new("ticket", what)
                        .var("TICKET", &v.name)
                        .var("LEADER", &leader)
                        .var("PREVIOUS_LEADER", addr(prev))
                        .var("TERM", v.term)
                        .var("EXPIRY", &expiry)
                })
                .collect();
            for ev in evs {
                info!("{}: {} (alert)", v.name, ev.event);
                self.alert(ev);
            }
        }
        let st = self.core.writer().stats();
        let (failures, confirmed, failing) = self.alerting.cib;
        if st.failures > failures && !failing {
            self.alerting.cib.2 = true;
            self.alert(Event::new("cib", "failing"));
        } else if failing && st.confirmed > confirmed && st.failures == failures {
            self.alerting.cib.2 = false;
            self.alert(Event::new("cib", "recovered"));
        }
        self.alerting.cib.0 = st.failures;
        self.alerting.cib.1 = st.confirmed;
    }

    /// Queues an event for the agents and starts what can start.
    pub(super) fn alert(&mut self, ev: Event) {
        if !self.alerting.alerts.enabled() {
            return;
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = now.as_secs() as i64;
        let me = &self.cfg.members[self.me];
        let common = [
            ("TIMESTAMP", localtime::datetime(secs)),
            ("TIMESTAMP_EPOCH", secs.to_string()),
            ("TIMESTAMP_USEC", now.subsec_micros().to_string()),
            ("CONFIG", self.cfg.name.clone()),
            ("LOCAL", me.addr_string.clone()),
            ("LOCAL_ROLE", me.kind.as_str().to_string()),
        ];
        self.alerting.alerts.push(&ev, &common);
        self.pump_alerts();
    }

    fn pump_alerts(&mut self) {
        while let Some(run) = self.alerting.alerts.next_run() {
            let program = run.program.to_string_lossy().into_owned();
            let purpose = Purpose::Alert {
                agent: run.agent,
                program: run.program,
            };
            self.spawn(
                &program,
                Vec::new(),
                run.env,
                purpose,
                alerts::RUN_LIMIT,
                None,
            );
        }
    }

    /// An agent run ended (or could not start).
    pub(super) fn alert_done(&mut self, agent: usize, program: &Path, ok: bool, why: &str) {
        if !ok {
            warn!("alert agent {} failed: {why}", program.display());
        }
        self.alerting.alerts.finished(agent, program, ok);
        self.pump_alerts();
    }
}
