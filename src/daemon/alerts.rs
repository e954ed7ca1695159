//! Alert agents: executables the daemon runs when something an
//! administrator wants to hear about happens (a peer goes away or comes
//! back, a ticket moves, CIB writes fail, a handler fails, a peer fails to
//! authenticate). Modelled on Pacemaker's alert agents: the facts are
//! passed in `BOOTH_ALERT_*` environment variables, there are no
//! arguments, stdout is ignored.
//!
//! They are configured outside booth.conf (which must stay the same on C
//! and Rust members, and the C booth refuses unknown keys): every
//! executable regular file in the alerts directory, `--alerts-dir DIR` or
//! by default `/etc/booth/alerts.d/<configuration name>/`, in name order
//! (names starting with `.` or ending in `~` are skipped). Read at start
//! and at each reload (SIGHUP).
//!
//! This module decides, the runtime executes (runtime/alerts.rs): it never
//! reads a clock nor starts a process. Per agent, events run one at a
//! time and in order; at most [`MAX_RUNNING`] agents run at once (all
//! through the daemon's child machinery, with [`RUN_LIMIT`]); an agent
//! that falls behind keeps at most [`MAX_QUEUED`] events, dropping the
//! oldest, and the next event it gets says how many it missed
//! (`BOOTH_ALERT_DROPPED`).

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

use log::warn;

use crate::daemon::timer::Ms;
use crate::engine::{Leader, State, TicketView};

/// Alert runs at once, all agents together (the child machinery allows
/// 16; alerts must never crowd out CIB writes and handlers).
pub const MAX_RUNNING: usize = 4;
/// Events waiting per agent; beyond, the oldest are dropped.
pub const MAX_QUEUED: usize = 32;
/// An agent run taking longer is killed.
pub const RUN_LIMIT: Ms = 10_000;
/// The default directory of agents: this, then the configuration name.
pub const DEFAULT_DIR: &str = "/etc/booth/alerts.d";

/// One event, as the variables an agent gets (without the common ones:
/// sequence number, timestamp, dropped count, which the runtime and
/// [`Alerts`] add).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `peer`, `ticket`, `cib`, `handler` or `auth`.
    pub kind: &'static str,
    pub event: &'static str,
    /// More `BOOTH_ALERT_<NAME>` variables (name without the prefix).
    pub vars: Vec<(&'static str, String)>,
}

impl Event {
    pub fn new(kind: &'static str, event: &'static str) -> Event {
        Event {
            kind,
            event,
            vars: Vec::new(),
        }
    }

    pub fn var(mut self, name: &'static str, value: impl ToString) -> Event {
        self.vars.push((name, value.to_string()));
        self
    }
}

/// An event waiting for an agent: its sequence number, and the variables
/// fixed when it happened.
#[derive(Clone, Debug)]
struct Queued {
    env: Vec<(String, String)>,
}

struct Agent {
    path: PathBuf,
    queue: VecDeque<Queued>,
    running: bool,
    /// Dropped since the last run started (reported with the next one).
    dropped: u64,
}

/// An agent run to start.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    pub agent: usize,
    pub program: PathBuf,
    pub env: Vec<(String, String)>,
}

/// Counters for `booth peers --json`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub agents: usize,
    pub events: u64,
    pub queued: usize,
    pub runs: u64,
    pub failed: u64,
    pub dropped: u64,
}

#[derive(Default)]
pub struct Alerts {
    agents: Vec<Agent>,
    running: usize,
    seq: u64,
    counters: Counters,
}

impl Alerts {
    pub fn new(paths: Vec<PathBuf>) -> Alerts {
        let mut a = Alerts::default();
        a.set_agents(paths);
        a
    }

    /// Replaces the agents (a reload). Runs under way finish; events
    /// queued for agents that are still there are kept.
    pub fn set_agents(&mut self, paths: Vec<PathBuf>) {
        let mut old = std::mem::take(&mut self.agents);
        self.agents = paths
            .into_iter()
            .map(|path| match old.iter().position(|a| a.path == path) {
                Some(i) => old.swap_remove(i),
                None => Agent {
                    path,
                    queue: VecDeque::new(),
                    running: false,
                    dropped: 0,
                },
            })
            .collect();
        self.counters.agents = self.agents.len();
    }

    pub fn enabled(&self) -> bool {
        !self.agents.is_empty()
    }

    /// Queues an event for every agent; `common` are the variables every
    /// event has (timestamp, local member, ...), set by the caller.
    pub fn push(&mut self, ev: &Event, common: &[(&'static str, String)]) {
        if self.agents.is_empty() {
            return;
        }
        self.seq += 1;
        self.counters.events += 1;
        let mut env = vec![
            ("BOOTH_ALERT_KIND".to_string(), ev.kind.to_string()),
            ("BOOTH_ALERT_EVENT".to_string(), ev.event.to_string()),
            ("BOOTH_ALERT_SEQUENCE".to_string(), self.seq.to_string()),
        ];
        for (k, v) in common.iter().chain(ev.vars.iter()) {
            env.push((format!("BOOTH_ALERT_{k}"), v.clone()));
        }
        for a in &mut self.agents {
            if a.queue.len() >= MAX_QUEUED {
                a.queue.pop_front();
                if a.dropped == 0 {
                    warn!(
                        "alert agent {} falls behind: dropping its oldest events",
                        a.path.display()
                    );
                }
                a.dropped += 1;
                self.counters.dropped += 1;
            }
            a.queue.push_back(Queued { env: env.clone() });
        }
    }

    /// The next run to start, if a place is free and an idle agent has
    /// an event.
    pub fn next_run(&mut self) -> Option<Run> {
        if self.running >= MAX_RUNNING {
            return None;
        }
        let (i, a) = self
            .agents
            .iter_mut()
            .enumerate()
            .find(|(_, a)| !a.running && !a.queue.is_empty())?;
        let q = a.queue.pop_front()?;
        let mut env = q.env;
        env.push(("BOOTH_ALERT_DROPPED".to_string(), a.dropped.to_string()));
        a.dropped = 0;
        a.running = true;
        self.running += 1;
        self.counters.runs += 1;
        Some(Run {
            agent: i,
            program: a.path.clone(),
            env,
        })
    }

    /// A run ended (`program` tells it from a run of an agent removed
    /// by a reload meanwhile).
    pub fn finished(&mut self, agent: usize, program: &Path, ok: bool) {
        self.running = self.running.saturating_sub(1);
        self.counters.failed += !ok as u64;
        if let Some(a) = self.agents.get_mut(agent).filter(|a| a.path == program) {
            a.running = false;
        } else if let Some(a) = self.agents.iter_mut().find(|a| a.path == program) {
            a.running = false;
        }
    }

    pub fn counters(&self) -> Counters {
        Counters {
            queued: self.agents.iter().map(|a| a.queue.len()).sum(),
            ..self.counters
        }
    }
}

/// The agents in `dir`: executable regular files, in name order. A
/// missing directory means no agents.
pub fn find_agents(dir: &Path) -> io::Result<Vec<PathBuf>> {
    use std::os::unix::fs::PermissionsExt;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let path = e.path();
        // Symbolic links to agents are followed.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            out.push(path);
        }
    }
    crate::sort::sort(&mut out);
    Ok(out)
}

/// What is remembered of a ticket between two looks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketSeen {
    pub leader: Leader,
    pub state: State,
    /// The last member known to hold it, forgotten at a revoke.
    pub last_holder: Option<usize>,
}

impl TicketSeen {
    pub fn new(v: &TicketView) -> TicketSeen {
        TicketSeen {
            leader: v.leader,
            state: v.state,
            last_holder: v.leader.member(),
        }
    }
}

/// The ticket events between what was seen before and the view now
/// (`me`: this member's index), in the order they happened. Updates
/// `seen`. Each event comes with the previous leader (if any).
pub fn ticket_events(
    seen: &mut TicketSeen,
    now: &TicketView,
    me: usize,
) -> Vec<(&'static str, Option<usize>)> {
    let mut out = Vec::new();
    let before = seen.leader;
    let prev = before.member();
    if before != now.leader {
        match now.leader {
            Leader::Member(m) => {
                let m = usize::from(m);
                // Straight from one holder to another: the old one's lease
                // ended without us seeing it ("lost" only matters here).
                if prev == Some(me) {
                    out.push(("lost", prev));
                }
                out.push((
                    if m == me {
                        "granted-here"
                    } else {
                        "granted-elsewhere"
                    },
                    prev,
                ));
                if seen.last_holder.is_some_and(|h| h != m) {
                    out.push(("failed-over", seen.last_holder));
                }
                seen.last_holder = Some(m);
            }
            Leader::NoOne if prev.is_some() => {
                out.push(("revoked", prev));
                seen.last_holder = None;
            }
            Leader::NoOne => seen.last_holder = None,
            Leader::Unknown if prev.is_some() => out.push(("lost", prev)),
            Leader::Unknown => {}
        }
    }
    if seen.state == State::Candidate
        && now.state != State::Candidate
        && now.state != State::Leader
        && !matches!(now.leader, Leader::Member(_))
    {
        out.push(("election-failed", prev));
    }
    seen.leader = now.leader;
    seen.state = now.state;
    out
}

/// A peer's reachability as alerts report it: reachable once anything was
/// heard from it, unreachable after `window` ms of silence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    /// When last heard (daemon clock), or when watching began.
    pub since: Ms,
    /// `None` until the first verdict.
    pub reachable: Option<bool>,
}

impl Reach {
    /// Something came from the peer: `Some(true)` if that is news.
    pub fn heard(&mut self, now: Ms) -> Option<bool> {
        self.since = now;
        (self.reachable != Some(true)).then(|| {
            self.reachable = Some(true);
            true
        })
    }

    /// A periodic look: `Some(false)` when the peer just became
    /// unreachable.
    pub fn check(&mut self, now: Ms, window: Ms) -> Option<bool> {
        (self.reachable != Some(false) && now.saturating_sub(self.since) >= window).then(|| {
            self.reachable = Some(false);
            false
        })
    }
}

/// Authentication failures per address: the first is reported at once,
/// later ones at most once per [`AUTH_REPORT_EVERY`] with their count.
pub const AUTH_REPORT_EVERY: Ms = 60_000;
/// Addresses remembered; the least recently reported is forgotten.
const AUTH_ADDRESSES: usize = 256;

#[derive(Default)]
pub struct AuthFailures {
    /// Address, when last reported, failures since.
    seen: Vec<(String, Ms, u64)>,
}

impl AuthFailures {
    /// A failure from `addr`: the count to report now, if any.
    pub fn failed(&mut self, addr: &str, now: Ms) -> Option<u64> {
        if let Some(e) = self.seen.iter_mut().find(|e| e.0 == addr) {
            e.2 += 1;
            if now.saturating_sub(e.1) >= AUTH_REPORT_EVERY {
                let n = e.2;
                e.1 = now;
                e.2 = 0;
                return Some(n);
            }
            return None;
        }
        if self.seen.len() >= AUTH_ADDRESSES {
            let oldest = (0..self.seen.len()).min_by_key(|&i| self.seen[i].1);
            if let Some(i) = oldest {
                self.seen.swap_remove(i);
            }
        }
        self.seen.push((addr.to_string(), now, 0));
        Some(1)
    }
}

#[cfg(test)]
#[path = "alerts_tests.rs"]
mod tests;
