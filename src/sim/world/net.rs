//! The network between the members: per-link delay, jitter, loss,
//! duplication, delay spikes and cuts, and the trace of every datagram.

use super::*;

impl World {
    pub(super) fn deliver(&mut self, to: usize, from: usize, sent: u64, msg: TicketMsg) {
        self.trace_msg(from, to, &msg, "recv");
        self.delivering = Some((from, sent, msg.header.cmd));
        self.call(to, |core, c| {
            let _ = core.handle_packet(c, from, &msg);
        });
        self.delivering = None;
    }

    pub(super) fn record_ack(&mut self, m: usize, to: usize, msg: &TicketMsg) {
        let Some(&t) = self.ticket_index.get(&msg.body.name) else {
            return;
        };
        let Some(v) = self.view(m, t) else {
            return;
        };
        let until = v.term_expires.map_or(0, |x| self.mono_to_true(m, x));
        let acked_sent = match self.delivering {
            Some((from, sent, cmd)) if from == to && matches!(cmd, OP_HEARTBEAT | OP_UPDATE) => {
                sent
            }
            _ => u64::MAX,
        };
        if acked_sent != u64::MAX {
            self.note_lease_offer(m, to, t, acked_sent);
        }
        self.acks[t][m] = Some(Ack {
            leader: v.leader,
            term: v.term,
            until,
            acked_sent,
            at: self.now,
        });
    }

    pub(super) fn trace_msg(&self, from: usize, to: usize, msg: &TicketMsg, what: &str) {
        if !trace::on() {
            return;
        }
        let leader = match msg.body.leader {
            NO_ONE => "none".to_string(),
            id => self
                .cfg
                .member_by_id(id)
                .map_or(format!("{id:#x}"), |m| format!("m{}", m.index)),
        };
        trace::push(Some(&msg.body.name), || {
            format!(
                "{} m{from}->m{to} {what} {} {} req={} reason={} result={} term={} leader={leader} valid={}",
                trace::stamp(self.now),
                code_to_string(msg.header.cmd),
                msg.body.name,
                code_to_string(msg.header.request),
                code_to_string(msg.header.reason),
                code_to_string(msg.header.result),
                msg.body.term,
                msg.body.term_valid_for
            )
        });
    }

    pub(super) fn transmit(&mut self, from: usize, to: usize, msg: TicketMsg) {
        self.stats.counters.messages += 1;
        let link = self.links[from][to];
        if link.cut {
            self.stats.counters.lost += 1;
            self.trace_msg(from, to, &msg, "lost (link cut)");
            return;
        }
        if link.loss > 0 && self.net_rng.below(1000) < link.loss {
            self.stats.counters.lost += 1;
            self.trace_msg(from, to, &msg, "lost");
            return;
        }
        let copies = if link.dup > 0 && self.net_rng.below(1000) < link.dup {
            self.stats.counters.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut delay = self.setup.net.base_ms[from][to]
                + self.net_rng.below(self.setup.net.jitter_ms[from][to] + 1);
            if self.spike_rate > 0 && self.net_rng.below(1000) < self.spike_rate {
                delay += self.net_rng.below(self.spike_ms + 1);
            }
            if let Some((extra, keep_copy)) = self.hold_delay(from, to, &msg) {
                self.schedule(
                    self.now + delay + extra,
                    Ev::Deliver {
                        to,
                        from,
                        sent: self.now,
                        msg: msg.clone(),
                        held: true,
                    },
                );
                if !keep_copy {
                    continue;
                }
            }
            self.schedule(
                self.now + delay,
                Ev::Deliver {
                    to,
                    from,
                    sent: self.now,
                    msg: msg.clone(),
                    held: false,
                },
            );
        }
    }

    /// Removes every network fault.
    pub fn heal_network(&mut self) {
        self.note(|| "network healed".to_string());
        for row in &mut self.links {
            for l in row {
                *l = Link::default();
            }
        }
        self.spike_rate = 0;
        self.sync_links();
    }
}
