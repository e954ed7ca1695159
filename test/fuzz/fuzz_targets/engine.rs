//! The whole engine of one site, fed arbitrary peer messages and time steps.
//!
//! The input is read as a script of steps: advance the clock, deliver a
//! message from a peer (command, leader, term, validity, result and reason
//! picked from the input), or deliver raw bytes through the datagram
//! decoder. Invariants checked after every step: no panic, and no ticket's
//! term ever goes down (a lower term would let an old leader's messages win
//! again).
#![no_main]

use booth::config::{Config, Resolver};
use booth::engine::{Clock, Engine, Time};
use booth::wire::{self, codes::*, Header, TicketBody, TicketMsg, NO_ONE};
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;
use std::path::Path;

struct Literal;

impl Resolver for Literal {
    fn resolve(&self, host: &str) -> Result<IpAddr, String> {
        host.parse().map_err(|e| format!("{e}"))
    }
}

/// The configuration of the captures in test/data (sites 198.51.100.1 and
/// .2, arbitrator .3), so captured datagrams in the seeds reach the engine.
const CONF: &str = include_str!("../../data/c-booth-noauth.conf");

const RESULTS: [wire::Rlt; 6] = [
    RLT_SUCCESS,
    RLT_TERM_OUTDATED,
    RLT_TERM_STILL_VALID,
    RLT_YOU_OUTDATED,
    RLT_REDIRECT,
    RLT_INVALID_ARG,
];

/// Reads the script; running out of bytes yields zeros, so every input is
/// a valid script.
struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.u8() as usize % from.len()]
    }
}

fuzz_target!(|data: &[u8]| {
    let cfg = Config::parse_str(CONF, Path::new("booth.conf"), &Literal).expect("config");
    let ids: Vec<u32> = cfg.members.iter().map(|m| m.site_id).collect();
    let names = ["ticketA", "ticketB", "ticketC", ""];
    let mut s = Script(data);
    let me = (s.u8() % 2) as usize;
    let mut engine = Engine::new(cfg, me, u64::from(s.u32()));
    let mut mono = 1_000u64;
    let wall0 = 1_700_000_000_000i64;
    let clock = |mono: u64| Clock::new(Time::from_ms(mono), wall0 + mono as i64);
    engine.start(clock(mono));
    let mut terms: Vec<u32> = (0..engine.ticket_count())
        .map(|i| engine.ticket_view(i).term)
        .collect();
    let mut steps = 0;
    while !s.0.is_empty() && steps < 500 {
        steps += 1;
        match s.u8() % 4 {
            // Time passes, up to ~65 s, and due timers run.
            0 => {
                mono += u64::from(u16::from_be_bytes([s.u8(), s.u8()]));
                engine.handle_timeout(clock(mono));
            }
            // Jump to the engine's own next deadline.
            1 => {
                if let Some(t) = engine.next_deadline() {
                    mono = mono.max(t.ms());
                }
                engine.handle_timeout(clock(mono));
            }
            // A structured message from a peer.
            2 => {
                let from = s.u8() as usize % ids.len();
                let mut h = Header::new(s.pick(&PEER_OPS), ids[from]);
                h.result = s.pick(&RESULTS);
                h.reason = s.pick(&REASONS);
                let leader = match s.u8() % 5 {
                    0..=2 => ids[s.u8() as usize % ids.len()],
                    3 => NO_ONE,
                    _ => s.u32(),
                };
                let term = match s.u8() % 3 {
                    0 => terms.iter().copied().max().unwrap_or(0),
                    1 => u32::from(s.u8()),
                    _ => s.u32(),
                };
                let msg = TicketMsg {
                    header: h,
                    body: TicketBody {
                        name: s.pick(&names).to_string(),
                        leader,
                        term,
                        term_valid_for: u32::from(s.u8()),
                    },
                };
                let _ = engine.handle_packet(clock(mono), from, &msg);
            }
            // Raw bytes through the decoder, as the daemon does.
            _ => {
                let n = (s.u8() as usize).min(s.0.len());
                let (raw, rest) = s.0.split_at(n);
                s.0 = rest;
                if let Ok(r) = wire::decode_datagram(raw, None) {
                    if let Some(from) = ids.iter().position(|&id| id == r.msg.header.from) {
                        let _ = engine.handle_packet(clock(mono), from, &r.msg);
                    }
                }
            }
        }
        while engine.poll_output().is_some() {}
        for (i, old) in terms.iter_mut().enumerate() {
            let v = engine.ticket_view(i);
            assert!(
                v.term >= *old,
                "{}: term went down from {} to {}",
                v.name,
                old,
                v.term
            );
            *old = v.term;
        }
    }
});
