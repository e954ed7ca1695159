//! The `booth grant` and `booth revoke` clients, and the bookkeeping of
//! failover tests and election rounds.

use super::*;

impl World {
    /// Marks a calm client's lateness as reported.
    pub fn late_reported(&mut self, id: ClientId) {
        if let Some(c) = self.clients.get_mut(&id) {
            c.late_reported = true;
        }
    }

    /// A `booth grant|revoke` at member `m`; `due`: the answer is expected by
    /// then (calm windows).
    pub fn client_request(
        &mut self,
        m: usize,
        cmd: Cmd,
        options: u32,
        t: usize,
        due: Option<u64>,
    ) -> ClientId {
        let id = self.next_client;
        self.next_client += 1;
        if cmd == CMD_GRANT {
            self.stats.counters.grants += 1;
        } else {
            self.stats.counters.revokes += 1;
        }
        if due.is_some() {
            self.stats.counters.calm_ops += 1;
        }
        let waits = options & (crate::wire::OPT_WAIT | crate::wire::OPT_WAIT_COMMIT) != 0;
        self.clients.insert(
            id,
            Client {
                cmd,
                ticket: t,
                options,
                member: m,
                issued: self.now,
                waits,
                intermediates: 0,
                redirects: 0,
                answer: None,
                committed: None,
                elections_before: self.elections[t].len(),
                late_reported: false,
                due,
            },
        );
        self.note_ticket(t, || {
            format!(
                "client {id}: {} at m{m} options={options}",
                code_to_string(cmd)
            )
        });
        self.submit(id);
        id
    }

    pub(super) fn submit(&mut self, id: ClientId) {
        let c = &self.clients[&id];
        let (m, cmd, options, t) = (c.member, c.cmd, c.options, c.ticket);
        // (Also when handed on by a redirect or a member waking up.)
        self.last_request[t] = self.now;
        if !self.up(m) {
            self.finish(id, CLOSED);
        } else if self.paused(m) {
            self.members[m].pending.push_back(Pending::Client(id));
        } else if !self.members[m].core.as_ref().is_some_and(|c| c.started()) {
            // The daemon accepts connections once it has loaded the CIB.
            self.members[m].waiting.push(Waiting::Client(id));
        } else {
            let name = self.ticket_names[t].clone();
            self.call(m, |core, c| core.handle_client(c, id, cmd, options, &name));
        }
    }

    pub(super) fn client_reply(
        &mut self,
        m: usize,
        id: ClientId,
        result: Rlt,
        last: bool,
        leader: u32,
    ) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if c.answer.is_some() || c.member != m {
            return;
        }
        let t = c.ticket;
        self.note_ticket(t, || {
            format!(
                "client {id} gets {} from m{m}{}",
                code_to_string(result),
                if last { " (final)" } else { "" }
            )
        });
        let c = self.clients.get_mut(&id).expect("present");
        if result == RLT_REDIRECT {
            let target = self.cfg.member_by_id(leader).map(|x| x.index);
            match target {
                Some(to) if c.redirects < 3 && to != m => {
                    c.redirects += 1;
                    c.member = to;
                    self.submit(id);
                }
                _ => self.finish(id, result),
            }
        } else if last {
            self.finish(id, result);
        } else {
            c.intermediates += 1;
            if !c.waits && c.intermediates >= 3 {
                // The C client gives up waiting and disconnects.
                self.finish(id, result);
                if let Some(core) = self.members[m].core.as_mut() {
                    core.client_gone(id);
                }
            }
        }
    }

    pub(super) fn finish(&mut self, id: ClientId, result: Rlt) {
        let now = self.now;
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        c.answer = Some((now, result));
        let c = c.clone();
        self.stats.counters.client_answers += 1;
        if c.waits {
            self.stats.wait_answer.add(now - c.issued);
        }
        if let Some(due) = c.due {
            if c.cmd == CMD_GRANT {
                self.stats.grant_reply.add(now - c.issued);
            } else {
                self.stats.revoke_reply.add(now - c.issued);
            }
            if now > due && !c.late_reported {
                let rounds = self.rounds_since(c.ticket, c.elections_before, None);
                let known = (rounds > 1).then_some(Known::ElectionRounds);
                self.violation_known(
                    Kind::OperationLate,
                    known,
                    Some(c.ticket),
                    format!(
                        "{} at m{} answered {} after {}ms, bound {}ms",
                        code_to_string(c.cmd),
                        c.member,
                        code_to_string(result),
                        now - c.issued,
                        due - c.issued
                    ),
                );
            }
        }
    }

    /// The client stops waiting (Ctrl-C) and closes its connection.
    pub fn abandon(&mut self, id: ClientId) {
        let now = self.now;
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        if c.answer.is_some() {
            return;
        }
        c.answer = Some((now, CLOSED));
        let (m, t) = (c.member, c.ticket);
        self.note_ticket(t, || format!("client {id} gives up and disconnects"));
        if let Some(core) = self.members[m].core.as_mut() {
            core.client_gone(id);
        }
    }

    /// Starts (or, with no tickets, ends) watching for the tickets of a lost
    /// site to be granted elsewhere.
    pub fn watch_failover(&mut self, victim: usize, tickets: Vec<usize>) {
        self.failover_watch = (!tickets.is_empty()).then(|| FailoverWatch {
            victim,
            since: self.now,
            tickets: tickets.into_iter().map(|t| (t, None)).collect(),
            offers: BTreeMap::new(),
        });
    }

    /// When another member last acknowledged a heartbeat or update of
    /// watched ticket `t` that the lost site sent before it was lost: that
    /// member follows the lost site for `expire` from then (spec raft.md
    /// §5.3), so a message held back past the healed network's delay (a
    /// stale delivery left over from before the heal) moves the failover on.
    pub fn late_lease_offer(&self, t: usize) -> Option<u64> {
        self.failover_watch.as_ref()?.offers.get(&t).copied()
    }

    /// Runs until watched ticket `t`'s failover deadline, `bound` (from the
    /// loss) moved on by a lease offer of the lost site acknowledged late
    /// (`check::failover_deadline`), at most to `cap`; returns it.
    pub fn run_to_failover_deadline(&mut self, t: usize, tm: &Timing, bound: u64, cap: u64) -> u64 {
        let mut deadline = bound;
        loop {
            self.run_until(deadline);
            let Some(lost) = self.failover_watch.as_ref().map(|fw| fw.since) else {
                return deadline;
            };
            let offer = self.late_lease_offer(t);
            let next = check::failover_deadline(&self.cfg.tickets[t], tm, lost, offer).min(cap);
            if next <= deadline || self.failover_time(t).is_some_and(|at| at <= deadline) {
                return deadline;
            }
            deadline = next;
        }
    }

    /// Member `m` acknowledged a heartbeat or update of ticket `t` that
    /// `leader` sent at `sent` (see `late_lease_offer`).
    pub(super) fn note_lease_offer(&mut self, m: usize, leader: usize, t: usize, sent: u64) {
        let now = self.now;
        let Some(fw) = self.failover_watch.as_mut() else {
            return;
        };
        let watched = fw.tickets.iter().any(|&(wt, _)| wt == t);
        if watched && fw.victim == leader && m != leader && sent <= fw.since {
            fw.offers.insert(t, now);
        }
    }

    /// When a watched ticket was first granted at another site.
    pub fn failover_time(&self, t: usize) -> Option<u64> {
        self.failover_got(t).map(|g| g.0)
    }

    /// When a watched ticket was first granted at another site, and the
    /// elections started by then (see `election_count`).
    pub fn failover_got(&self, t: usize) -> Option<(u64, usize)> {
        let fw = self.failover_watch.as_ref()?;
        fw.tickets
            .iter()
            .find(|(x, _)| *x == t)
            .and_then(|(_, got)| *got)
    }

    /// Elections started for ticket `t` so far, as a mark for
    /// `rounds_between`.
    pub fn election_count(&self, t: usize) -> usize {
        self.elections[t].len()
    }

    /// Election rounds for ticket `t` between the marks `from` and `to`
    /// (now if None), not counting member `except`: the number of terms
    /// elections were started in, or the most elections one member started
    /// if that is more (it re-ran in the same term). Several sites
    /// campaigning at once in one term are one round.
    pub fn rounds_between(
        &self,
        t: usize,
        from: usize,
        to: Option<usize>,
        except: Option<usize>,
    ) -> u64 {
        let log = &self.elections[t][from..to.unwrap_or(self.elections[t].len())];
        let log: Vec<(usize, u32)> = log
            .iter()
            .copied()
            .filter(|&(m, _)| Some(m) != except)
            .collect();
        let mut terms: Vec<u32> = log.iter().map(|&(_, term)| term).collect();
        terms.sort_unstable();
        terms.dedup();
        let per_member = (0..self.n())
            .map(|m| log.iter().filter(|&&(x, _)| x == m).count())
            .max()
            .unwrap_or(0);
        terms.len().max(per_member) as u64
    }

    /// Election rounds for ticket `t` since the mark `from`.
    pub fn rounds_since(&self, t: usize, from: usize, except: Option<usize>) -> u64 {
        self.rounds_between(t, from, None, except)
    }

    /// Waiting clients without an answer, connected to a member that is up.
    pub fn unanswered(&self) -> Vec<(ClientId, Client)> {
        self.clients
            .iter()
            .filter(|(_, c)| c.answer.is_none() && self.up(c.member))
            .map(|(&id, c)| (id, c.clone()))
            .collect()
    }
}
