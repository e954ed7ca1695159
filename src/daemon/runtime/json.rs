//! `booth list --json` and `booth peers --json` answered by this daemon:
//! the facts of the text replies plus what they hide (client/json.rs has
//! the layout and how the form is asked for).

use super::Daemon;
use crate::client::json::{self, Json, ListTicket, PeerEntry};
use crate::daemon::localtime;
use crate::engine::{Clock, TimeCache};

impl Daemon {
    /// The document as text, each ticket written as it is built: with
    /// 10,000 tickets no tree of the whole document is made first, and
    /// the expiry times, mostly shared, are formatted once each.
    pub(super) fn list_json(&self, clock: Clock) -> String {
        let engine = self.core.engine();
        let entries = engine.list_entries(clock);
        let fmt = |secs: i64| localtime::datetime(secs);
        let mut times = TimeCache::new(&fmt);
        let tickets = engine.ticket_positions().zip(entries).map(|(i, e)| {
            let v = engine.ticket_view(i);
            let mut shown = |t: Option<i64>| t.map(|t| times.get(t).to_string());
            ListTicket {
                expires: e
                    .owned
                    .then(|| shown(e.expires).unwrap_or_else(|| "INF".to_string())),
                commit_pending_until: if e.owned {
                    shown(e.commit_pending)
                } else {
                    None
                },
                manual: e.manual,
                state: Some(v.state.as_str().to_string()),
                term: Some(v.term.into()),
                lease_end: v
                    .term_expires
                    .map(|t| (clock.wall_of(t) + 500).div_euclid(1000)),
                granted_in_cib: Some(v.cib_granted),
                ticket: e.ticket,
                leader: e.leader,
            }
        });
        // The warnings the text ends with (a manual ticket granted to
        // several sites), word for word.
        let warnings = engine.list_warnings();
        let mut out = String::new();
        json::write_list_doc(&mut out, "daemon", tickets, &warnings);
        out
    }

    pub(super) fn peers_json(&self) -> Json {
        let peers: Vec<PeerEntry> = self
            .cfg
            .members
            .iter()
            .filter(|m| m.index != self.me)
            .map(|m| {
                let p = &self.peers[m.index];
                PeerEntry {
                    role: m.kind.as_str().to_string(),
                    address: m.addr_string.clone(),
                    last_recv: localtime::datetime(p.last_recv),
                    last_recv_unix: Some(p.last_recv),
                    reachable: self.alerting.reachable(m.index),
                    counters: [
                        p.sent, p.sent_err, p.resends, p.recv, p.recv_err, p.authfail, p.invalid,
                    ],
                }
            })
            .collect();
        let d = &self.drops;
        let log = crate::daemon::logging::counters();
        let dropped = [
            d.stale_datagrams,
            d.foreign_datagrams,
            d.clients_refused,
            d.clients_no_fd,
            d.clients_evicted,
            d.clients_oversized,
            self.jobs.queued() as u64,
            self.jobs.most_queued() as u64,
            log.dropped,
            log.suppressed,
        ];
        let a = self.alerting.alerts.counters();
        let alerts = Json::obj(vec![
            (
                "directory",
                Json::Str(self.alerting.dir.display().to_string()),
            ),
            ("agents", Json::uint(a.agents as u64)),
            ("events", Json::uint(a.events)),
            ("queued", Json::uint(a.queued as u64)),
            ("runs", Json::uint(a.runs)),
            ("failed", Json::uint(a.failed)),
            ("dropped", Json::uint(a.dropped)),
        ]);
        json::peers_doc("daemon", &peers, Some(dropped), Some(alerts))
    }
}
