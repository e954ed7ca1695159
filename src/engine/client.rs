//! Requests from `booth` and `geostore` clients: grant, revoke, list, and the
//! geo attributes (spec raft.md §10–§11, §14; client.md §5–§6).

use super::Tix;
use std::fmt::Write as _;

use log::info;

use super::ticket::{Attr, NextState, Renewal, State, Waiter};
use super::{ClientId, Clock, Engine, Leader, Output};
use crate::wire::codes::*;
use crate::wire::{Cmd, Rlt, OPT_IMMEDIATE, OPT_WAIT_COMMIT};

/// One line of `booth list`, before formatting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListEntry {
    pub ticket: String,
    /// "NONE", "none" or the leader's address.
    pub leader: String,
    /// Expiry as Unix seconds; None for "INF" (manual, or no expiry known).
    pub expires: Option<i64>,
    pub owned: bool,
    /// Commit pending until (Unix seconds), shown on the leader only.
    pub commit_pending: Option<i64>,
    pub manual: bool,
}

impl Engine {
    /// A grant or revoke request (`cmd` is CMD_GRANT or CMD_REVOKE). Replies
    /// come out as [`Output::ClientReply`]; the last one has `last` set.
    pub fn handle_client(
        &mut self,
        clock: Clock,
        client: ClientId,
        cmd: Cmd,
        options: u32,
        ticket: &str,
    ) {
        self.advance(clock);
        let Some(i) = self.ticket_index(ticket) else {
            info!("client referenced unknown ticket {ticket}");
            self.reply_unknown(client);
            return;
        };
        self.query_first(i);
        match cmd {
            CMD_GRANT => self.client_grant(i, client, options),
            CMD_REVOKE => self.client_revoke(i, client, options),
            _ => self.reply(i, client, RLT_INVALID_ARG, true),
        }
        self.reindex(i);
    }

    /// The connection of a waiting client went away.
    pub fn client_gone(&mut self, client: ClientId) {
        // Only the tickets with waiters: a write would box the rare fields
        // of every ticket (see `ticket::Rare`).
        for tk in self.tickets.iter_mut().filter(|tk| !tk.waiters.is_empty()) {
            tk.waiters.retain(|w| w.client != client);
            tk.settle_rare();
        }
    }

    fn reply_unknown(&mut self, client: ClientId) {
        let mut msg = crate::wire::TicketMsg::default();
        msg.header.magic = crate::wire::MAGIC;
        msg.header.version = crate::wire::VERSION;
        msg.header.from = self.site_id_of(self.me);
        msg.header.cmd = CL_RESULT;
        msg.header.result = RLT_INVALID_ARG;
        self.emit(Output::ClientReply {
            client,
            msg,
            last: true,
        });
    }

    fn reply(&mut self, i: Tix, client: ClientId, result: Rlt, last: bool) {
        let msg = self.build_msg(i, CL_RESULT, Cmd::NONE, OR_JUST_SO, result);
        self.emit(Output::ClientReply { client, msg, last });
    }

    fn client_grant(&mut self, i: Tix, client: ClientId, options: u32) {
        let me = Leader::of(self.me);
        let tk = &self.tickets[i];
        if !self.is_site() {
            // DIFF: the C daemon answers "in progress" and never completes.
            tk_warn!(tk, "grant requested at an arbitrator, refused");
            self.reply(i, client, RLT_SYNC_FAIL, true);
            return;
        }
        let claim = tk.live_claim_besides(self.me, self.now.mono);
        if !tk.cfg.is_manual() && (tk.is_owned() || claim.is_some()) {
            // DIFF: granting again where the ticket is held and committed is
            // a success, not an error.
            let rv = if tk.leader == me
                && tk.state == State::Leader
                && tk.lease.renewal == Renewal::Written
            {
                RLT_SUCCESS
            } else if let (false, Some((site, until))) = (tk.is_owned(), claim) {
                // No leader known here (after a restart of every member,
                // say), but a lease this member acknowledged may still run
                // there: say so, `booth list` shows no leader.
                tk_info!(
                    tk,
                    "client wants to grant a ticket whose lease at {} may run for {} ms more, refused",
                    self.addr_of(Leader::of(site)),
                    until.ms().saturating_sub(self.now.mono.ms())
                );
                RLT_OVERGRANT
            } else {
                tk_info!(tk, "client wants to grant an (already granted!) ticket");
                RLT_OVERGRANT
            };
            self.reply(i, client, rv, true);
            return;
        }
        let rv = self.do_grant_ticket(i, options);
        if rv != RLT_SUCCESS {
            self.tickets[i].delay_commit = None;
            // A handler's failure taken here was told to the grants still
            // waiting for it where it was taken (`do_ext_prog`).
            self.reply(i, client, rv, true);
            return;
        }
        self.tickets[i].waiters.push(Waiter {
            client,
            cmd: CMD_GRANT,
            options,
        });
        self.reply(i, client, RLT_MORE, false);
    }

    /// RLT_SUCCESS while the grant goes on (or the ticket is ours already),
    /// else why it failed.
    fn do_grant_ticket(&mut self, i: Tix, options: u32) -> Rlt {
        let now = self.now.mono;
        let me = Leader::of(self.me);
        let tk = &mut self.tickets[i];
        tk_info!(tk, "granting ticket");
        if tk.leader == me {
            return RLT_SUCCESS;
        }
        if tk.is_owned() {
            if options & OPT_IMMEDIATE == 0 {
                return RLT_OVERGRANT;
            }
            tk_warn!(tk, "manual ticket forced to be granted! be aware that you may end up with the ticket granted to multiple sites");
        }
        tk.delay_commit = Some(now + tk.cfg.expire + tk.cfg.acquire_after);
        if options & OPT_IMMEDIATE != 0 {
            tk_warn!(tk, "granting ticket immediately! If there are unreachable sites, _hope_ you are sure that they don't have the ticket!");
            tk.delay_commit = None;
        }
        tk.outcome = RLT_SUCCESS;
        self.acquire_ticket(i, OR_ADMIN)
    }

    fn client_revoke(&mut self, i: Tix, client: ClientId, options: u32) {
        let me = Leader::of(self.me);
        let tk = &self.tickets[i];
        if !tk.is_owned() {
            tk_info!(tk, "client wants to revoke a free ticket");
            self.reply(i, client, RLT_TICKET_IDLE, true);
            return;
        }
        if tk.leader != me {
            tk_info!(
                tk,
                "not granted here, redirect to {}",
                self.addr_of(tk.leader)
            );
            self.reply(i, client, RLT_REDIRECT, true);
            return;
        }
        if tk.round.expect.is_some() {
            tk_info!(
                tk,
                "delay ticket revoke until the current operation finishes"
            );
            self.tickets[i].next_state = Some(NextState::Init);
            self.tickets[i].waiters.push(Waiter {
                client,
                cmd: CMD_REVOKE,
                options,
            });
            self.reply(i, client, RLT_MORE, false);
            self.set_ticket_wakeup(i);
            return;
        }
        self.start_revoke_ticket(i);
        self.reply(i, client, RLT_SUCCESS, true);
    }

    /// Sends the ticket's `outcome` to waiting clients (of `only` command, or
    /// all when None); finished requests are dropped.
    pub(super) fn notify_waiters(&mut self, i: Tix, only: Option<Cmd>) {
        if self.tickets[i].waiters.is_empty() {
            return;
        }
        let outcome = self.tickets[i].outcome;
        let waiters = std::mem::take(&mut self.tickets[i].waiters);
        let mut keep = Vec::new();
        for w in waiters {
            if only.is_some_and(|c| w.cmd != c) {
                keep.push(w);
                continue;
            }
            let more = outcome == RLT_MORE
                || (outcome == RLT_CIB_PENDING && w.options & OPT_WAIT_COMMIT != 0);
            self.reply(i, w.client, outcome, !more);
            if more {
                keep.push(w);
            }
        }
        self.tickets[i].waiters = keep;
    }

    /// Ends every grant still waiting on the ticket with `outcome` (the
    /// revokes waiting go on waiting); nothing changes when none waits.
    pub(super) fn end_waiting_grants(&mut self, i: Tix, outcome: Rlt) {
        if self.tickets[i].waiters.iter().any(|w| w.cmd == CMD_GRANT) {
            self.tickets[i].outcome = outcome;
            self.notify_waiters(i, Some(CMD_GRANT));
        }
    }

    /// The tickets as `booth list` shows them, in configuration order.
    pub fn list_entries(&self, clock: Clock) -> Vec<ListEntry> {
        let me = Leader::of(self.me);
        let to_unix = |t| (clock.wall_of(t) + 500).div_euclid(1000);
        self.tickets
            .iter()
            .map(|tk| {
                let manual = tk.cfg.is_manual();
                ListEntry {
                    ticket: tk.cfg.name.to_string(),
                    leader: self.addr_of(tk.leader).to_string(),
                    owned: tk.is_owned(),
                    expires: if manual {
                        None
                    } else {
                        tk.lease.expires.map(to_unix)
                    },
                    commit_pending: tk
                        .delay_commit
                        .filter(|&dc| tk.leader == me && dc > clock.mono)
                        .map(to_unix),
                    manual,
                }
            })
            .collect()
    }

    /// The text of a `booth list` reply; `fmt_time` renders Unix seconds as
    /// the daemon's local `YYYY-MM-DD HH:MM:SS`.
    pub fn list_text(&self, clock: Clock, fmt_time: &dyn Fn(i64) -> String) -> String {
        let mut s = String::new();
        self.write_list(clock, fmt_time, &mut s);
        s
    }

    /// Appends the text of a `booth list` reply to `out`, as
    /// [`Engine::list_text`] returns it. At 10,000 tickets this is a
    /// megabyte built within one turn of the daemon's loop, so it is
    /// written straight from the tickets into a buffer sized beforehand,
    /// and `fmt_time` is called once per distinct second: leases granted
    /// or renewed together end in the same second.
    pub fn write_list(&self, clock: Clock, fmt_time: &dyn Fn(i64) -> String, out: &mut String) {
        let me = Leader::of(self.me);
        let to_unix = |t| (clock.wall_of(t) + 500).div_euclid(1000);
        let mut times = TimeCache::new(fmt_time);
        out.reserve(self.list_len_guess());
        for tk in &self.tickets {
            out.push_str("ticket: ");
            out.push_str(&tk.cfg.name);
            out.push_str(", leader: ");
            out.push_str(self.addr_of(tk.leader));
            let manual = tk.cfg.is_manual();
            if tk.is_owned() {
                match tk.lease.expires.filter(|_| !manual) {
                    Some(t) => {
                        out.push_str(", expires: ");
                        out.push_str(times.get(to_unix(t)));
                    }
                    None => out.push_str(", expires: INF"),
                }
                let pending = tk
                    .delay_commit
                    .filter(|&dc| tk.leader == me && dc > clock.mono);
                if let Some(t) = pending {
                    out.push_str(" (commit pending until ");
                    out.push_str(times.get(to_unix(t)));
                    out.push(')');
                }
            }
            if manual {
                out.push_str(" [manual mode]");
            }
            out.push('\n');
        }
        for w in self.list_warnings() {
            out.push('\n');
            out.push_str("WARNING: ");
            out.push_str(&w);
            out.push('\n');
        }
    }

    /// Room for the list text: a little more than it takes with times of
    /// 19 characters, so that building it never reallocates.
    fn list_len_guess(&self) -> usize {
        // "ticket: " ", leader: " ", expires: " " (commit pending until "
        // ")" "\n" and two times.
        const FIXED: usize = 8 + 10 + 11 + 23 + 1 + 1 + 2 * 19;
        self.tickets
            .iter()
            .map(|tk| FIXED + tk.cfg.name.len() + self.addr_of(tk.leader).len())
            .sum()
    }

    /// The warnings `booth list` ends with, without their "WARNING: "
    /// prefix: manual tickets granted to several sites.
    pub fn list_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        for tk in self.tickets.iter().filter(|t| t.cfg.is_manual()) {
            if tk.sites_where_granted.count_ones() > 1 {
                let sites: Vec<&str> = self
                    .cfg
                    .members
                    .iter()
                    .filter(|m| tk.sites_where_granted & (1 << m.index) != 0)
                    .map(|m| m.addr_string.as_str())
                    .collect();
                warnings.push(format!(
                    "The ticket {} is granted to multiple sites: {}. Revoke the ticket from the faulty sites.",
                    tk.cfg.name,
                    sites.join(", ")
                ));
            }
        }
        warnings
    }

    /// `geostore set`: remembered here (for attr-prereq) and stored in the CIB.
    pub fn attr_set(
        &mut self,
        clock: Clock,
        ticket: &str,
        name: &str,
        value: &str,
    ) -> Result<(), Rlt> {
        self.advance(clock);
        let i = self.ticket_index(ticket).ok_or(RLT_INVALID_ARG)?;
        if !self.is_site() {
            return Err(RLT_INVALID_ARG);
        }
        self.tickets[i].attrs.insert(
            name.to_string(),
            Attr {
                value: value.to_string(),
                set_at: Some(clock.wall_ms),
            },
        );
        self.emit(Output::StoreAttr {
            ticket: ticket.to_string(),
            name: name.to_string(),
            value: Some(value.to_string()),
        });
        Ok(())
    }

    /// `geostore get`.
    pub fn attr_get(&self, ticket: &str, name: &str) -> Result<String, Rlt> {
        let i = self.ticket_index(ticket).ok_or(RLT_INVALID_ARG)?;
        self.tickets[i]
            .attrs
            .get(name)
            .map(|a| a.value.clone())
            .ok_or(RLT_NO_SUCH_ATTR)
    }

    /// `geostore delete`.
    pub fn attr_delete(&mut self, clock: Clock, ticket: &str, name: &str) -> Result<(), Rlt> {
        self.advance(clock);
        let i = self.ticket_index(ticket).ok_or(RLT_INVALID_ARG)?;
        self.tickets[i].attrs.remove(name).ok_or(RLT_NO_SUCH_ATTR)?;
        self.emit(Output::StoreAttr {
            ticket: ticket.to_string(),
            name: name.to_string(),
            value: None,
        });
        Ok(())
    }

    /// `geostore list` text: `<name> <value> <time>` per attribute.
    pub fn attr_list(&self, ticket: &str, fmt_time: &dyn Fn(i64) -> String) -> Result<String, Rlt> {
        let i = self.ticket_index(ticket).ok_or(RLT_INVALID_ARG)?;
        let mut s = String::new();
        for (name, a) in &self.tickets[i].attrs {
            let when = a
                .set_at
                .map(|ms| fmt_time(ms.div_euclid(1000)))
                .unwrap_or_default();
            let _ = writeln!(s, "{name} {} {when}", a.value);
        }
        Ok(s)
    }
}

/// Formatted times by second: a few slots, each holding the last second
/// that mapped to it. Consecutive tickets mostly share their expiry
/// second, so nearly every lookup hits.
pub struct TimeCache<'a> {
    fmt: &'a dyn Fn(i64) -> String,
    slots: [Option<(i64, String)>; TimeCache::SLOTS],
}

impl<'a> TimeCache<'a> {
    const SLOTS: usize = 16;

    pub fn new(fmt: &'a dyn Fn(i64) -> String) -> TimeCache<'a> {
        TimeCache {
            fmt,
            slots: Default::default(),
        }
    }

    pub fn get(&mut self, secs: i64) -> &str {
        let slot = &mut self.slots[secs.rem_euclid(Self::SLOTS as i64) as usize];
        if slot.as_ref().is_none_or(|(s, _)| *s != secs) {
            *slot = Some((secs, (self.fmt)(secs)));
        }
        slot.as_ref().map_or("", |(_, text)| text.as_str())
    }
}
