//! Driving the members in time: the event queue, the engine deadlines,
//! and one step of a member (a call on its core, then its outputs and the
//! per-member checks).

use super::*;

impl World {
    /// The earliest engine deadline of a running member, as true time.
    pub(super) fn next_deadline(&self) -> Option<(u64, usize)> {
        let mut best: Option<(u64, usize)> = None;
        for (m, ms) in self.members.iter().enumerate() {
            if ms.paused.is_some() {
                continue;
            }
            if let Some(d) = ms.core.as_ref().and_then(|c| c.next_deadline()) {
                let t = self.mono_to_true(m, d).max(self.now);
                if best.is_none_or(|(b, _)| t < b) {
                    best = Some((t, m));
                }
            }
        }
        best
    }

    /// Runs until the true time `until`, one step at a time.
    pub fn run_until(&mut self, until: u64) {
        self.sync_links();
        while !self.aborted {
            let ev_at = self.heap.peek().map(|Reverse(s)| s.at);
            let dl = self.next_deadline();
            let t = match (ev_at, dl) {
                (Some(a), Some((b, _))) => a.min(b),
                (Some(a), None) => a,
                (None, Some((b, _))) => b,
                (None, None) => break,
            };
            if t > until {
                break;
            }
            self.now = self.now.max(t);
            if self.now == self.spin_at {
                self.spins += 1;
                if self.spins > SPIN_LIMIT {
                    self.violation(
                        Kind::Livelock,
                        None,
                        format!("{SPIN_LIMIT} steps without time advancing"),
                    );
                    self.aborted = true;
                    break;
                }
            } else {
                (self.spin_at, self.spins) = (self.now, 0);
            }
            if ev_at == Some(t) {
                let Reverse(s) = self.heap.pop().expect("peeked");
                self.process(s.ev);
            } else if let Some((_, m)) = dl {
                self.call(m, |core, c| core.handle_timeout(c));
            }
            self.check_revokes();
        }
        self.now = self.now.max(until);
        self.check_revokes();
    }

    pub(super) fn process(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver {
                to,
                from,
                sent,
                msg,
                held,
            } => {
                if held {
                    self.held_arrives(from, to, sent, &msg);
                }
                if self.links[from][to].cut {
                    self.trace_msg(from, to, &msg, "lost (link cut in flight)");
                    self.stats.counters.lost += 1;
                    return;
                }
                if !self.up(to) {
                    self.stats.counters.dropped_at_dead += 1;
                    return;
                }
                if self.paused(to) {
                    let ms = &mut self.members[to];
                    if ms.suspended {
                        // A suspended host receives nothing.
                        self.stats.counters.dropped_suspended += 1;
                        self.trace_msg(from, to, &msg, "dropped (host suspended)");
                    } else if ms.inbox_len < self.setup.members[to].inbox_cap {
                        ms.inbox_len += 1;
                        ms.pending.push_back(Pending::Msg { from, sent, msg });
                    } else {
                        self.stats.counters.dropped_full_buffer += 1;
                        self.trace_msg(from, to, &msg, "dropped (frozen, buffer full)");
                    }
                    return;
                }
                self.deliver(to, from, sent, msg);
            }
            Ev::RunDone { m, inc, run } => self.run_done(m, inc, run),
            Ev::HandlerExit { m, t, run, inc, ok } => {
                let ms = &mut self.members[m];
                if ms.core.is_none() || ms.incarnation != inc {
                    return;
                }
                let Some(p) = ms.handlers.iter().position(|&h| h == (t, run)) else {
                    return;
                };
                if ms.paused.is_some() {
                    ms.pending.push_back(Pending::HandlerExit { t, run, ok });
                    return;
                }
                ms.handlers.swap_remove(p);
                self.handler_exit(m, t, run, ok);
            }
            Ev::Resume { m, token } => self.resume(m, token),
        }
    }

    pub(super) fn handler_exit(&mut self, m: usize, id: TicketId, run: HandlerRun, ok: bool) {
        if let Some(t) = self.position(m, id) {
            self.note_ticket(t, || format!("m{m} handler run {run} exits ok={ok}"));
        }
        if !ok {
            self.stats.counters.handler_failures += 1;
        }
        self.call(m, |core, c| core.handler_exit(c, id, run, ok));
    }

    /// One call on member `m`'s core, then its outputs and the per-member
    /// checks.
    pub(super) fn call(&mut self, m: usize, f: impl FnOnce(&mut Core, Clock)) {
        let clock = self.clock(m);
        trace::context(self.now, m);
        let Some(e) = self.members[m].core.as_mut() else {
            return;
        };
        f(e, clock);
        self.drain(m);
        self.after_call(m);
        self.accept_waiting(m);
    }

    /// A daemon that has started (and applied a reload deferred by its
    /// start-up load, in the same loop iteration) accepts the clients that
    /// connected while it loaded.
    fn accept_waiting(&mut self, m: usize) {
        if !self.serving(m) || self.members[m].waiting.is_empty() {
            return;
        }
        for w in std::mem::take(&mut self.members[m].waiting) {
            match w {
                Waiting::Client(id) => self.submit(id),
                Waiting::Attr { t, name, value } => self.set_attr(m, t, &name, value.as_deref()),
            }
        }
    }

    /// The simulator's number of a ticket named by id at member `m`.
    pub(super) fn position(&self, m: usize, id: TicketId) -> Option<usize> {
        let e = self.engine(m)?;
        let i = e.ticket_by_id(id)?;
        self.ticket_index.get(&e.ticket_view(i).name).copied()
    }

    /// Which ticket an output concerns.
    pub(super) fn output_ticket(&self, m: usize, o: &Output) -> Option<usize> {
        match o {
            Output::Send { msg, .. } | Output::ClientReply { msg, .. } => {
                self.ticket_index.get(&msg.body.name).copied()
            }
            Output::Submitted(w) => self.ticket_index.get(&*w.ticket).copied(),
            Output::RunHandler { ticket, .. } | Output::StopHandler { ticket, .. } => {
                self.position(m, *ticket)
            }
            Output::StoreAttr { ticket, .. } => self.ticket_index.get(ticket).copied(),
            Output::Record(_)
            | Output::Spawn { .. }
            | Output::Store { .. }
            | Output::Started
            | Output::Reloaded(_) => None,
        }
    }

    pub(super) fn drain(&mut self, m: usize) {
        let mut watch = match self.resume_watch.take() {
            Some((wm, v)) if wm == m => Some(v),
            other => {
                self.resume_watch = other;
                None
            }
        };
        while let Some(o) = self.members[m].core.as_mut().and_then(|c| c.poll_output()) {
            if let Some(w) = watch.as_mut() {
                // Stopping the acquire handler is bookkeeping and a failure
                // reply to a waiting client says nothing about holding the
                // ticket: neither is an action as its holder.
                let t = match &o {
                    Output::StopHandler { .. } => None,
                    Output::ClientReply { msg, .. } if msg.header.result != RLT_SUCCESS => None,
                    o => self.output_ticket(m, o).filter(|t| w.contains(t)),
                };
                if let Some(t) = t {
                    w.retain(|&x| x != t);
                    if !matches!(&o, Output::Submitted(cw) if !cw.granted) {
                        let d = self.members[m].cib[t].desired.as_ref();
                        let by = d.map_or(0, |d| d.revoke_by.unwrap_or(0));
                        let belief = self.kept_grant(m, t, by);
                        self.violation(
                            Kind::ResumeNotRevokeFirst,
                            Some(t),
                            format!(
                                "m{m} resumed with an expired grant; its first action for the ticket was {} (engine: {belief})",
                                describe(&o)
                            ),
                        );
                    }
                }
            }
            self.output(m, o);
        }
        if let Some(w) = watch {
            for t in w {
                let d = self.members[m].cib[t].desired.as_ref();
                let by = d.map_or(0, |d| d.revoke_by.unwrap_or(0));
                let belief = self.kept_grant(m, t, by);
                self.violation(
                    Kind::ResumeNotRevokeFirst,
                    Some(t),
                    format!("m{m} resumed with an expired grant and did not revoke it on its first event (engine: {belief})"),
                );
            }
        }
    }

    pub(super) fn output(&mut self, m: usize, o: Output) {
        match o {
            Output::Send { to, msg, resend } => {
                if msg.header.cmd == OP_ACK
                    && matches!(msg.header.request, OP_HEARTBEAT | OP_UPDATE)
                {
                    self.record_ack(m, to, &msg);
                }
                if let Some(&t) = self.ticket_index.get(&msg.body.name) {
                    if msg.header.cmd == OP_HEARTBEAT && !resend {
                        self.hb_sent[t][m] = self.now;
                    }
                    if msg.header.cmd == OP_REQ_VOTE {
                        self.vote_reason[t][m] = (msg.header.reason, msg.body.term);
                        // A candidate votes for itself.
                        self.record_vote(t, m, msg.body.term, m);
                    }
                    if msg.header.cmd == OP_VOTE_FOR && msg.header.request == OP_REQ_VOTE {
                        if let Some(c) = self.cfg.member_by_id(msg.body.leader) {
                            self.record_vote(t, m, msg.body.term, c.index);
                        }
                    }
                    if msg.header.cmd == OP_REQ_VOTE
                        && !resend
                        && self.last_election[t] != (m, self.now)
                    {
                        self.last_election[t] = (m, self.now);
                        self.elections[t].push((m, msg.body.term));
                    }
                }
                self.trace_msg(m, to, &msg, if resend { "resend" } else { "send" });
                self.transmit(m, to, msg);
            }
            Output::Record(changes) => self.record_promises(m, changes),
            Output::Submitted(w) => self.write_cib(m, w),
            Output::Spawn { run, limit_ms, .. } => self.spawn_run(m, run, limit_ms),
            Output::Store { run, .. } => self.spawn_run(m, run, u64::MAX),
            Output::Started => self.started(m),
            Output::Reloaded(r) => self.count_reload(m, &r),
            Output::RunHandler { ticket, run, .. } => {
                self.stats.counters.handler_runs += 1;
                let dur = pick(&mut self.handler_rng, self.setup.members[m].handler_ms);
                let ok = !(self.members[m].handler_failing
                    && self.handler_rng.below(1000) < self.setup.chaos.handler_fail);
                if let Some(t) = self.position(m, ticket) {
                    self.note_ticket(t, || format!("m{m} handler run {run} starts"));
                }
                self.members[m].handlers.push((ticket, run));
                let inc = self.members[m].incarnation;
                self.schedule(
                    self.now + dur,
                    Ev::HandlerExit {
                        m,
                        t: ticket,
                        run,
                        inc,
                        ok,
                    },
                );
            }
            Output::StopHandler { ticket, run } => {
                if let Some(t) = self.position(m, ticket) {
                    self.note_ticket(t, || format!("m{m} handler run {run} stopped"));
                }
                self.members[m].handlers.retain(|&h| h != (ticket, run));
            }
            Output::ClientReply { client, msg, last } => {
                self.client_reply(m, client, msg.header.result, last, msg.body.leader)
            }
            Output::StoreAttr {
                ticket,
                name,
                value,
            } => self.store_attr(m, &ticket, name, value),
        }
    }
}

/// A short description of an output, for violation reports.
pub(super) fn describe(o: &Output) -> String {
    match o {
        Output::Send { to, msg, .. } => {
            format!("sending {} to m{to}", code_to_string(msg.header.cmd))
        }
        Output::Submitted(w) => format!("a CIB write (granted={})", w.granted),
        Output::RunHandler { .. } => "running the handler".into(),
        Output::StopHandler { .. } => "stopping the handler".into(),
        Output::ClientReply { msg, .. } => {
            format!("a client reply {}", code_to_string(msg.header.result))
        }
        Output::StoreAttr { .. } => "storing an attribute".into(),
        o => format!("{o:?}"),
    }
}
