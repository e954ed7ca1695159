//! The CIB of each simulated site and the programs that write it: the
//! simulator executes the runs the daemon's CIB writer asks for
//! (`crm_ticket` for state changes and start-up loads, `cibadmin` for
//! batched renewals, the state directory's stores) with seeded latency,
//! failures and hangs, and the dual-grant checks look at what those runs
//! put in each site's CIB.

use super::*;
use crate::cib::writer::RUN_LIMIT;
use crate::engine::CibWrite;

/// Writes asked for that are kept per ticket to find the exact lease of
/// the one a run writes (the writer may drop superseded ones).
const MAX_REQUESTED: usize = 16;
/// `crm_ticket -q` exit code for "no such ticket state" (CRM_EX_NOSUCH).
const LOAD_MISSING: i32 = 105;
/// Of the runs of a failing `crm_ticket`, per mille that hang until the
/// writer's time limit kills them (the others exit non-zero at once).
const HANG_RATE: u64 = 250;

/// A writer run under way at a site.
#[derive(Debug)]
pub(super) struct SimRun {
    kind: RunKind,
    /// Exits non-zero (or was killed) without changing the CIB.
    fails: bool,
    /// Hangs until the writer's limit kills it.
    killed: bool,
}

impl World {
    /// Starts a run the writer asked for: it ends after the site's
    /// `crm_ticket` latency, or, hanging, when the writer's limit kills it.
    pub(super) fn spawn_run(&mut self, m: usize, run: RunId, limit_ms: u64) {
        let Some(kind) = self.members[m]
            .core
            .as_ref()
            .and_then(|c| c.writer().run_kind(run))
        else {
            return;
        };
        let range = if self.members[m].crm_slow {
            self.setup.chaos.slow_crm_ms
        } else {
            self.setup.members[m].crm_ms
        };
        let mut dur = pick(&mut self.cib_rng, range);
        let fails =
            self.members[m].crm_failing && self.cib_rng.below(1000) < self.setup.chaos.crm_fail;
        let killed = fails && limit_ms != u64::MAX && self.cib_rng.below(1000) < HANG_RATE;
        if killed {
            dur = limit_ms.min(RUN_LIMIT);
        }
        let inc = self.members[m].incarnation;
        self.members[m].runs.insert(
            run,
            SimRun {
                kind,
                fails,
                killed,
            },
        );
        self.schedule(self.now + dur, Ev::RunDone { m, inc, run });
    }

    /// A run ends: what it wrote is in the CIB now; the daemon hears of
    /// it when it runs.
    pub(super) fn run_done(&mut self, m: usize, inc: u32, run: RunId) {
        if self.members[m].incarnation != inc {
            return;
        }
        let Some(r) = self.members[m].runs.remove(&run) else {
            return;
        };
        let outcome = match &r.kind {
            RunKind::Write(ws) => {
                // A killed run may have changed the CIB before it died.
                let wrote = !r.fails || (r.killed && self.cib_rng.below(2) == 0);
                if wrote {
                    for w in ws {
                        self.apply_write(m, w);
                    }
                }
                if r.fails {
                    self.stats.counters.cib_failures += 1;
                }
                self.run_outcome(&r, Vec::new(), 0)
            }
            RunKind::LoadAll
            | RunKind::Load(_)
            | RunKind::LoadAdded(_)
            | RunKind::LoadAddedAll(_) => {
                let (stdout, code) = self.load_output(m, &r.kind, r.fails);
                self.run_outcome(&r, stdout, code)
            }
        };
        if self.paused(m) {
            self.members[m]
                .pending
                .push_back(Pending::RunDone(run, outcome));
        } else {
            self.call(m, |core, c| core.run_finished(c, run, outcome));
        }
    }

    fn run_outcome(&self, r: &SimRun, stdout: Vec<u8>, code: i32) -> Outcome {
        if r.killed {
            Outcome {
                code: 128 + 9,
                killed: true,
                ..Outcome::default()
            }
        } else if r.fails {
            Outcome::failure(1)
        } else if code != 0 {
            Outcome {
                stdout,
                ..Outcome::failure(code)
            }
        } else {
            Outcome {
                stdout,
                ..Outcome::success()
            }
        }
    }

    /// What `crm_ticket -q` prints for the site's tickets (every one, or
    /// one), and the exit code. The tickets found are the new daemon's to
    /// revoke by the lease end it reads.
    fn load_output(&mut self, m: usize, kind: &RunKind, fails: bool) -> (Vec<u8>, i32) {
        if fails {
            return (Vec::new(), 1);
        }
        let names: Vec<String> = match kind {
            RunKind::Load(n) | RunKind::LoadAdded(n) => vec![n.clone()],
            RunKind::LoadAddedAll(names) => names.clone(),
            _ => self.members[m]
                .core
                .as_ref()
                .map(|c| {
                    c.config()
                        .tickets
                        .iter()
                        .map(|t| t.name.to_string())
                        .collect()
                })
                .unwrap_or_default(),
        };
        let mut xml = String::new();
        for name in &names {
            let Some(&t) = self.ticket_index.get(name) else {
                continue;
            };
            let value = self.members[m].cib[t].value.clone();
            if value.is_none() && self.attrs[m][t].is_empty() {
                continue;
            }
            // (`crm_ticket -S` of a geo attribute creates the ticket state.)
            xml += &format!("  <ticket_state id=\"{name}\"");
            if let Some(v) = &value {
                xml += &format!(
                    " granted=\"{}\" owner=\"{}\" expires=\"{}\" term=\"{}\"",
                    v.granted, v.owner, v.expires, v.term
                );
            }
            for (k, val) in &self.attrs[m][t] {
                xml += &format!(" {k}=\"{}\"", crate::cib::escape(val));
            }
            xml += "/>\n";
            // A grant found at start-up is the new daemon's to revoke, by
            // the lease end it can read from the CIB. (One found for a
            // ticket a reload adds becomes so when the reload is applied:
            // `adopt_cib_grant`.)
            let startup = !matches!(kind, RunKind::LoadAdded(_) | RunKind::LoadAddedAll(_));
            if let Some(v) = value.filter(|_| startup) {
                self.want_loaded_grant_revoked(m, t, v);
            }
        }
        self.refresh_revoke_due(m);
        match kind {
            RunKind::Load(_) | RunKind::LoadAdded(_) if xml.is_empty() => {
                (Vec::new(), LOAD_MISSING)
            }
            RunKind::Load(_) | RunKind::LoadAdded(_) => {
                (format!("State XML:\n{xml}").into_bytes(), 0)
            }
            _ => (format!("<tickets>\n{xml}</tickets>\n").into_bytes(), 0),
        }
    }

    /// Ticket `t` starts at site `m` by a reload (its CIB state read): a
    /// grant its CIB holds is the daemon's to revoke, as one found at
    /// start-up (the engine starts the ticket from it; seed 22948), and
    /// is judged as one after the same grace (seed 17670: counted at once,
    /// a grant held by a wall clock behind was a dual grant before the
    /// state query's answers could be heard).
    pub(super) fn adopt_cib_grant(&mut self, m: usize, t: usize) {
        if !self.is_site(m) || self.members[m].cib[t].desired.is_some() {
            return;
        }
        let Some(v) = self.members[m].cib[t].value.clone() else {
            return;
        };
        self.want_loaded_grant_revoked(m, t, v);
        self.refresh_revoke_due(m);
        // The same grace to hear from its peers as after a start.
        self.watch_kept_grant(m, t);
    }

    /// The grant `v` site `m`'s daemon read from its CIB is the daemon's
    /// to revoke by the lease end the CIB records.
    fn want_loaded_grant_revoked(&mut self, m: usize, t: usize, v: CibEntry) {
        let by = self.expires_to_true(m, v.expires);
        self.members[m].cib[t].desired = Some(CibEntry {
            revoke_by: Some(by),
            loaded: true,
            ..v
        });
    }

    /// One ticket state a run put in the CIB, with the exact lease of the
    /// write it came from.
    fn apply_write(&mut self, m: usize, w: &CibWrite) {
        let Some(&t) = self.ticket_index.get(&*w.ticket) else {
            return;
        };
        let same = |e: &&CibEntry| {
            (e.granted, e.owner, e.expires, e.term) == (w.granted, w.owner, w.expires, w.term)
        };
        let entry = self.members[m].cib[t]
            .requested
            .iter()
            .rev()
            .find(same)
            .cloned()
            .unwrap_or_else(|| {
                let end = self.expires_to_true(m, w.expires);
                CibEntry {
                    granted: w.granted,
                    owner: w.owner,
                    expires: w.expires,
                    term: w.term,
                    lease_end: end,
                    revoke_by: Some(end),
                    loaded: false,
                    seq: 0,
                }
            });
        self.cib_apply(m, t, entry);
    }

    /// Member `m` loaded its CIB and started its engine (it accepts the
    /// clients that connected meanwhile after this step, see `call`).
    pub(super) fn started(&mut self, m: usize) {
        self.note(|| format!("m{m} loaded its CIB and started"));
        // Until now it was as good as down (a hanging `crm_ticket -q`
        // holds the start up to the writer's limit): a grant it loaded
        // that has expired meanwhile is due for a revoke from now on.
        // Its engine reads the loaded `expires` by its wall clock as it
        // starts (which a step while it loaded has moved).
        let now = self.now as i64;
        for t in 0..self.n_tickets() {
            let Some(expires) = self.members[m].cib[t]
                .desired
                .as_ref()
                .filter(|d| d.loaded)
                .map(|d| d.expires)
            else {
                continue;
            };
            let by = self.expires_to_true(m, expires).max(now);
            if let Some(d) = self.members[m].cib[t].desired.as_mut() {
                d.revoke_by = Some(by);
            }
        }
        self.refresh_revoke_due(m);
        self.health.member[m] = self.health.member[m].max(self.now);
        self.watch_kept_grants(m);
    }

    /// Adds what member `m`'s writer did to the run's counters (when its
    /// daemon stops, and at the end of the run).
    pub(super) fn harvest_writer(&mut self, m: usize) {
        let Some(core) = self.members[m].core.as_ref() else {
            return;
        };
        let w = core.writer().stats();
        let c = &mut self.stats.counters;
        c.cib_single_runs += w.single_runs;
        c.cib_batches += w.batches;
        c.cib_batched_writes += w.batched_writes;
        c.cib_coalesced += w.coalesced;
        c.cib_retries += w.retries;
        c.cib_killed += w.killed;
    }

    /// Harvests every running writer's counters (the end of a run).
    pub fn harvest_writers(&mut self) {
        for m in 0..self.n() {
            self.harvest_writer(m);
        }
    }

    /// The writer's backend of a simulated site: Pacemaker's tools, with
    /// `cibadmin` batching renewals and at most four writes at once.
    pub(super) fn backend() -> crate::cib::writer::Backend {
        crate::cib::writer::Backend::Pacemaker {
            crm_ticket: crate::cib::CRM_TICKET.into(),
            cibadmin: Some(crate::cib::CIBADMIN.into()),
            max_writers: 4,
        }
    }

    /// A crash kills the running programs, each before or after it changed
    /// the CIB.
    pub(super) fn kill_runs(&mut self, m: usize) {
        let runs = std::mem::take(&mut self.members[m].runs);
        for (_, r) in runs {
            if let RunKind::Write(ws) = r.kind {
                if !r.fails && self.cib_rng.below(2) == 0 {
                    for w in &ws {
                        self.apply_write(m, w);
                    }
                }
            }
        }
    }

    /// The engine asked for a CIB write (the writer has it now): what the
    /// checks need to know about it, the exact lease it stands for first.
    pub(super) fn write_cib(&mut self, m: usize, w: CibWrite) {
        let Some(&t) = self.ticket_index.get(&*w.ticket) else {
            return;
        };
        let mut lease_end = self.expires_to_true(m, w.expires);
        if w.granted {
            let te = self.view(m, t).and_then(|v| v.term_expires);
            match te {
                Some(te) => {
                    let end = self.mono_to_true(m, te) as i64;
                    let wall = WALL0 + end + self.setup.members[m].wall_offset_ms;
                    // The engine rounds the CIB expiry down (never more than proven).
                    let expect = wall.div_euclid(1000);
                    if expect != w.expires && !self.is_manual(t) {
                        self.violation(
                            Kind::CibExpiresMismatch,
                            Some(t),
                            format!(
                                "m{m} writes expires={} but its lease ends at {end} (wall {expect})",
                                w.expires
                            ),
                        );
                    }
                    lease_end = end;
                }
                None if !self.is_manual(t) => self.violation(
                    Kind::CibExpiresMismatch,
                    Some(t),
                    format!("m{m} writes a grant without a lease end"),
                ),
                None => {}
            }
        }
        let entry = CibEntry {
            granted: w.granted,
            owner: w.owner,
            expires: w.expires,
            term: w.term,
            lease_end,
            revoke_by: Some(lease_end),
            loaded: false,
            seq: self.token(),
        };
        let seq = entry.seq;
        self.note_ticket(t, || {
            format!(
                "m{m} CIB write requested: granted={} owner={:#x} expires={} term={} (lease end {})",
                w.granted, w.owner, w.expires, w.term, lease_end
            )
        });
        self.stats.counters.cib_writes += 1;
        let was_granted = self.members[m].cib[t]
            .desired
            .as_ref()
            .is_some_and(|d| d.granted);
        if was_granted && !w.granted {
            self.grant_given_up(m, t);
        }
        let slot = &mut self.members[m].cib[t];
        slot.desired = Some(entry.clone());
        if slot.requested.len() >= MAX_REQUESTED {
            slot.requested.pop_front();
        }
        slot.requested.push_back(entry);
        if !w.granted {
            slot.revoke_seq = seq;
        }
        self.refresh_revoke_due(m);
    }

    pub(super) fn cib_apply(&mut self, m: usize, t: usize, entry: CibEntry) {
        self.note_ticket(t, || {
            format!(
                "m{m} CIB now granted={} owner={:#x} expires={} term={}",
                entry.granted, entry.owner, entry.expires, entry.term
            )
        });
        let granted = entry.granted;
        let lease_end = entry.lease_end;
        self.members[m].cib[t].value = Some(entry);
        self.update_overlap(t);
        if !granted {
            return;
        }
        let now = self.now;
        for c in self.clients.values_mut() {
            // The grant this client asked for (not a later one after it
            // failed).
            let ok = c
                .answer
                .is_none_or(|(_, r)| matches!(r, RLT_SUCCESS | RLT_CIB_PENDING));
            if c.cmd == CMD_GRANT && c.ticket == t && c.member == m && c.committed.is_none() && ok {
                c.committed = Some(now);
                if c.due.is_some() {
                    self.stats.grant_commit.add(now - c.issued);
                }
            }
        }
        if lease_end <= now as i64 {
            return;
        }
        if let Some(fw) = self.failover_watch.as_mut() {
            if fw.victim != m {
                for (wt, got) in fw.tickets.iter_mut() {
                    if *wt == t && got.is_none() {
                        *got = Some((now, self.elections[t].len()));
                    }
                }
            }
        }
        for o in 0..self.n() {
            if o == m {
                continue;
            }
            let Some(v) = self.members[o].cib[t].value.as_ref().filter(|v| v.granted) else {
                continue;
            };
            if self.is_manual(t) {
                self.stats.counters.manual_multi_grants += 1;
            } else if self.vouched_end(o, t, v.lease_end) > now as i64 {
                let vouched = self.vouched_end(o, t, v.lease_end);
                let slot = &self.members[o].cib[t];
                let mine = &self.members[m].cib[t];
                // Either grant was given up before it reached the CIB, or
                // the earlier holder has asked for its revoke already.
                let pending = slot.revoke_seq > v.seq
                    || slot.desired.as_ref().is_some_and(|d| !d.granted)
                    || mine.value.as_ref().is_some_and(|x| mine.revoke_seq > x.seq);
                let detail = format!(
                    "granted at m{m} (term {}, lease until {lease_end}) while m{o} holds it (term {}, lease until {}){}",
                    self.members[m].cib[t].value.as_ref().map_or(0, |v| v.term),
                    v.term,
                    v.lease_end,
                    if pending { format!("; m{o} asked for a revoke that is still being written") } else { String::new() }
                );
                // The grant's lease ended, but its running daemon still
                // believes it leads: the grant stands until it gives up.
                let detail = if vouched > v.lease_end {
                    format!("{detail}; m{o}'s daemon keeps its grant as leader until {vouched}")
                } else {
                    detail
                };
                let my_term = self.members[m].cib[t].value.as_ref().map_or(0, |x| x.term);
                let adopted = self.adopted[t].contains(&(m, my_term))
                    || self.adopted[t].contains(&(o, v.term));
                // Either won a step-down election in the term of its grant.
                let stepdown = self.vote_reason[t][m] == (OR_STEPDOWN, my_term)
                    || self.vote_reason[t][o] == (OR_STEPDOWN, v.term);
                let booted = self.members[m].booted_at;
                let forgot = self.acks[t][m]
                    .is_some_and(|a| a.leader == Leader::of(o) && a.until > now && a.at < booted);
                // A member voted for both in one term, before and after a
                // restart; or one of them won its term with a vote cast
                // before the voter restarted, and the voter has since voted
                // for, or acknowledged, the other.
                let twice = self.votes[t].iter().any(|&(v, inc, term, c)| {
                    c == m
                        && self.votes[t].iter().any(|&(v2, inc2, term2, c2)| {
                            v2 == v && inc2 != inc && term2 == term && c2 == o
                        })
                });
                let stale_vote = |win: usize, win_term: u32, other: usize| {
                    self.votes[t].iter().any(|&(v, inc, term, c)| {
                        c == win
                            && term == win_term
                            && v != win
                            && inc != self.vote_life(v, t)
                            && (self.acks[t][v].is_some_and(|a| a.leader == Leader::of(other))
                                || self.votes[t].iter().any(|&(v2, inc2, _, c2)| {
                                    v2 == v && inc2 != inc && c2 == other
                                }))
                    })
                };
                let revoted = twice || stale_vote(m, my_term, o) || stale_vote(o, v.term, m);
                // Hints for whoever reads the report: the patterns of the
                // dual grants this simulator found (and that were fixed).
                let hints: Vec<&str> = [
                    (revoted, "a vote cast before a restart counted"),
                    (
                        forgot,
                        "the new holder had acknowledged the other before restarting",
                    ),
                    (adopted, "a term taken over without an election"),
                    (stepdown, "won in a step-down election"),
                ]
                .iter()
                .filter(|h| h.0)
                .map(|h| h.1)
                .collect();
                let detail = if hints.is_empty() {
                    detail
                } else {
                    format!("{detail} [{}]", hints.join("; "))
                };
                self.violation(Kind::DualGrant, Some(t), detail);
            } else if self.paused(o) {
                self.stats.counters.stale_paused += 1;
            } else if !self.up(o) {
                self.stats.counters.stale_down += 1;
            } else {
                self.stats.counters.stale_cib_pending += 1;
            }
        }
    }
}
