//! The per-step checks of each member (terms, proven leases, votes) and
//! the revoke deadlines of the grants the daemons want in their CIBs, and
//! the views of who holds a ticket they are based on.

use super::*;

impl World {
    /// The site whose CIB holds the ticket granted with its lease running.
    pub fn holder(&self, t: usize) -> Option<usize> {
        (0..self.n()).find(|&m| self.holds(m, t))
    }

    /// The site holding the ticket in its CIB, or, while its grant is being
    /// written, the running site that asked for a grant with a running lease.
    pub fn holder_or_writing(&self, t: usize) -> Option<usize> {
        self.holder(t).or_else(|| {
            (0..self.n()).find(|&m| {
                self.running(m)
                    && self.members[m].cib[t]
                        .desired
                        .as_ref()
                        .is_some_and(|d| d.granted && d.lease_end > self.now as i64)
            })
        })
    }

    pub fn holds(&self, m: usize, t: usize) -> bool {
        self.members[m].cib[t]
            .value
            .as_ref()
            .is_some_and(|v| v.granted && v.lease_end > self.now as i64)
    }

    /// The CIB grant's lease end at `m` (true time), if granted.
    pub fn cib_lease_end(&self, m: usize, t: usize) -> Option<i64> {
        self.members[m].cib[t]
            .value
            .as_ref()
            .filter(|v| v.granted)
            .map(|v| v.lease_end)
    }

    /// Member `m` (running) follows a leader whose lease ended more than
    /// acquire-after ago, and will not look at the ticket again before
    /// another second has passed: the known follower-asleep bug.
    pub fn asleep(&self, m: usize, t: usize) -> bool {
        let (Some(e), Some(i)) = (self.engine(m).filter(|_| self.running(m)), self.eidx(m, t))
        else {
            return false;
        };
        let v = e.ticket_view(i);
        let aa = self.cfg.tickets[t].acquire_after.as_millis() as u64;
        let Some(end) = v.term_expires.map(|x| self.mono_to_true(m, x)) else {
            return false;
        };
        v.state == State::Follower
            && v.leader.member().is_some()
            && end + aa < self.now
            && e.ticket_wakeup(i)
                .is_none_or(|w| self.mono_to_true(m, w) > self.now + 1000)
    }

    /// Who member `m` believes holds the ticket (None if down or nobody).
    pub fn believed_leader(&self, m: usize, t: usize) -> Option<usize> {
        self.view(m, t).and_then(|v| v.leader.member())
    }

    /// Which life of ticket `t` at member `m` a vote belongs to: a
    /// daemon restart, or a reload that removed the ticket and added it
    /// back, starts a new one (see `forget_ticket`).
    pub(super) fn vote_life(&self, m: usize, t: usize) -> u32 {
        self.members[m].incarnation << 12 | self.members[m].forgotten[t]
    }

    /// A reload removed ticket `t` at member `m`: its engine forgot what
    /// it knew and promised of it, and fences a re-added ticket as after a
    /// restart without a record (`Startup::vote_fence`); the checks of one
    /// process lifetime start over for it.
    pub(super) fn forget_ticket(&mut self, m: usize, t: usize) {
        self.members[m].forgotten[t] += 1;
        self.last_term[m][t] = 0;
        self.last_state[m][t] = State::Init;
        self.leader_since[m][t] = None;
        self.last_lease[m][t] = None;
        self.note_ticket(t, || format!("m{m} forgets the ticket (reload)"));
    }

    /// Member `m` votes for `c` in `term`: one vote per term and life of
    /// the ticket (votes are not kept across a restart).
    pub(super) fn record_vote(&mut self, t: usize, m: usize, term: u32, c: usize) {
        let inc = self.vote_life(m, t);
        let other = self.votes[t]
            .iter()
            .find(|&&(v, i, tm, c2)| v == m && i == inc && tm == term && c2 != c)
            .map(|x| x.3);
        if let Some(c2) = other {
            self.violation(
                Kind::DoubleVote,
                Some(t),
                format!("m{m} voted for m{c2} and for m{c} in term {term}"),
            );
        }
        self.votes[t].insert((m, inc, term, c));
    }

    /// Terms and proven leases of member `m` after one of its steps.
    pub(super) fn after_call(&mut self, m: usize) {
        let Some(e) = self.engine(m) else {
            return;
        };
        let views: Vec<Option<(u32, State, Option<Time>)>> = (0..self.ticket_names.len())
            .map(|t| {
                let i = self.eidx(m, t)?;
                let v = e.ticket_view(i);
                Some((v.term, v.state, e.acknowledged_lease(i)))
            })
            .collect();
        for (t, view) in views.into_iter().enumerate() {
            let Some((term, state, lease)) = view else {
                if !std::mem::replace(&mut self.members[m].absent[t], true) {
                    self.forget_ticket(m, t);
                }
                continue;
            };
            if std::mem::replace(&mut self.members[m].absent[t], false) {
                self.adopt_cib_grant(m, t);
            }
            let last = self.last_term[m][t];
            if term < last {
                self.violation(
                    Kind::TermBackwards,
                    Some(t),
                    format!("m{m}: term went from {last} back to {term}"),
                );
            }
            if state == State::Leader
                && self.last_state[m][t] == State::Leader
                && term > last
                && !self.adopted[t].contains(&(m, term))
            {
                self.adopted[t].push((m, term));
            }
            self.last_term[m][t] = term;
            if state != State::Leader {
                self.leader_since[m][t] = None;
            } else if self.last_state[m][t] != State::Leader {
                self.leader_since[m][t] = Some(self.now);
            }
            self.last_state[m][t] = state;
            if self.is_manual(t) {
                continue;
            }
            let lease = lease.map(|l| self.mono_to_true(m, l));
            if lease == self.last_lease[m][t] {
                continue;
            }
            self.last_lease[m][t] = lease;
            let Some(until) = lease else {
                continue;
            };
            let backing: Vec<usize> = (0..self.n())
                .filter(|&o| {
                    o == m
                        || self.acks[t][o]
                            .is_some_and(|a| a.leader == Leader::of(m) && a.until >= until)
                })
                .collect();
            if backing.len() * 2 <= self.n() {
                // Acks of an earlier heartbeat than the one the lease is
                // counted from that spent longer than the ticket's timeout
                // in transit: beyond what the protocol can tell apart (see
                // Known::AckBeyondTimeout).
                let hb = self.hb_sent[t][m];
                let timeout = self.cfg.tickets[t].timeout.as_millis() as u64;
                let now = self.now;
                let with_late = (0..self.n())
                    .filter(|&o| {
                        o == m
                            || self.acks[t][o].is_some_and(|a| {
                                a.leader == Leader::of(m)
                                    && (a.until >= until
                                        || (a.acked_sent < hb
                                            && now.saturating_sub(a.at) > timeout))
                            })
                    })
                    .count();
                let known = (with_late * 2 > self.n()).then_some(Known::AckBeyondTimeout);
                let acks: Vec<String> = (0..self.n())
                    .map(|o| match self.acks[t][o] {
                        Some(a) => format!(
                            "m{o}: {:?} term {} until {} (acking a message sent at {})",
                            a.leader, a.term, a.until, a.acked_sent as i64
                        ),
                        None => format!("m{o}: -"),
                    })
                    .collect();
                self.violation_known(
                    Kind::LeaseBeyondAcks,
                    known,
                    Some(t),
                    format!(
                        "leader m{m} (term {term}) holds a lease until {until}, acknowledged only by {backing:?} [{}]",
                        acks.join("; ")
                    ),
                );
            }
        }
    }

    /// How long a majority of the running members (`m` included) go on
    /// holding a lease for leader `m`, by their current views: until then no
    /// other site can be elected.
    pub(super) fn view_backed(&self, m: usize, t: usize) -> i64 {
        let mut v: Vec<i64> = (0..self.n())
            .map(|o| match self.view(o, t) {
                Some(v) if v.leader == Leader::of(m) => v
                    .term_expires
                    .map_or(i64::MIN, |x| self.mono_to_true(o, x) as i64),
                _ => i64::MIN,
            })
            .collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v[self.n() / 2]
    }

    /// When member `m` must have asked for the revoke of its wanted grant of
    /// ticket `t`: at the end of the lease it wrote; for a grant it found in
    /// the CIB at start-up, at the end of the lease the CIB records or, if
    /// later, when a majority stops holding a lease for it (it may learn of a
    /// lease its previous run was granted from its peers).
    pub(super) fn revoke_deadline(&self, m: usize, t: usize) -> Option<i64> {
        let d = self.members[m].cib[t].desired.as_ref()?;
        let by = d.revoke_by.filter(|_| d.granted)?;
        Some(if d.loaded {
            by.max(self.view_backed(m, t))
        } else {
            by
        })
    }

    /// Every running site must have asked for the revoke of a grant by the
    /// end of its lease.
    pub(super) fn check_revokes(&mut self) {
        self.check_kept_grants();
        let now = self.now as i64;
        for m in 0..self.n() {
            // A daemon still loading its CIB cannot write it yet.
            if !self.running(m) || !self.serving(m) {
                continue;
            }
            while let Some((due, t)) = self.members[m].revoke_due.filter(|d| d.0 < now) {
                let by = self.revoke_deadline(m, t).unwrap_or(due);
                let d = self.members[m].cib[t]
                    .desired
                    .as_mut()
                    .expect("a wanted grant is due");
                if by >= now {
                    d.revoke_by = Some(by);
                } else {
                    d.revoke_by = None;
                    let loaded = d.loaded;
                    let belief = self.kept_grant(m, t, by);
                    self.violation(
                        Kind::GrantNotRevoked,
                        Some(t),
                        format!(
                            "m{m} still wants the ticket granted in its CIB {}ms after the lease ended at {by} ({}; engine: {belief})",
                            now - by,
                            if loaded { "grant read from the CIB at start-up" } else { "grant written by this daemon" },
                        ),
                    );
                }
                self.refresh_revoke_due(m);
            }
        }
    }

    /// What running member `m` believes about ticket `t`, for the report
    /// of a grant it keeps past its lease (whose end was `by`).
    pub(super) fn kept_grant(&self, m: usize, t: usize, by: i64) -> String {
        let (Some(e), Some(i)) = (self.engine(m), self.eidx(m, t)) else {
            return "down".into();
        };
        let v = e.ticket_view(i);
        let lease = v.term_expires.map(|x| self.mono_to_true(m, x) as i64);
        // The patterns of the bugs of this kind found here (and fixed).
        let hint = if v.leader == Leader::of(m) && lease.is_some_and(|l| l > by) {
            if e.acknowledged_lease(i).is_none() {
                "; believes in a lease nobody acknowledged"
            } else {
                "; believes in a longer lease"
            }
        } else if v.state == State::Follower && v.leader.member().is_some_and(|x| x != m) {
            "; follows another leader"
        } else {
            ""
        };
        format!(
            "{} leader {:?} term {} lease until {:?}{hint}",
            v.state.as_str(),
            v.leader,
            v.term,
            lease
        )
    }

    pub(super) fn refresh_revoke_due(&mut self, m: usize) {
        let mut due: Option<(i64, usize)> = None;
        for (t, s) in self.members[m].cib.iter().enumerate() {
            if self.cfg.tickets[t].is_manual() {
                continue;
            }
            if let Some(by) = s
                .desired
                .as_ref()
                .filter(|d| d.granted)
                .and_then(|d| d.revoke_by)
            {
                if due.is_none_or(|(b, _)| by < b) {
                    due = Some((by, t));
                }
            }
        }
        self.members[m].revoke_due = due;
    }
}
