//! Random cluster set-ups within the legal configuration ranges: members,
//! tickets and their timings, and the per-member and per-link behaviour the
//! simulation draws its faults from.

use std::time::Duration;

use crate::config::{
    AttrOp, AttrPrereq, Config, GrantType, MemberKind, TicketConfig, TicketMode, TicketSettings,
};
use crate::engine::Rng;

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// Wall-clock origin of every simulation (milliseconds since the Unix epoch).
pub const WALL0: i64 = 1_700_000_000_000;

/// The geo attribute `attr-prereq` tickets depend on, and a value that
/// meets every prerequisite drawn (`repl eq ACTIVE`, `repl ne DEGRADED`).
pub const PREREQ_ATTR: &str = "repl";
pub const PREREQ_OK: &str = "ACTIVE";

/// Everything drawn for one seed before the run starts.
#[derive(Clone, Debug)]
pub struct Setup {
    pub cfg: Config,
    pub members: Vec<MemberProfile>,
    pub net: NetProfile,
    pub chaos: ChaosProfile,
}

/// How one member's machine behaves.
#[derive(Clone, Debug)]
pub struct MemberProfile {
    pub kind: MemberKind,
    /// Offset of its wall clock from the true time, ms (sites disagree).
    pub wall_offset_ms: i64,
    /// Its monotonic clock reads true time plus this (an arbitrary origin).
    pub mono_offset_ms: u64,
    /// crm_ticket run time when healthy, ms (inclusive range).
    pub crm_ms: (u64, u64),
    /// Run time of the before-acquire-handler, ms.
    pub handler_ms: (u64, u64),
    /// Datagrams the socket buffer holds while the process is frozen.
    pub inbox_cap: usize,
}

/// The network when healthy: per directed link, a base delay and a jitter
/// (both ms); a message takes base + uniform(0..=jitter).
#[derive(Clone, Debug)]
pub struct NetProfile {
    pub base_ms: Vec<Vec<u64>>,
    pub jitter_ms: Vec<Vec<u64>>,
}

impl NetProfile {
    /// Longest one-way delay of the healthy network.
    pub fn max_delay(&self) -> u64 {
        let mut m = 0;
        for (b, j) in self.base_ms.iter().zip(&self.jitter_ms) {
            for (x, y) in b.iter().zip(j) {
                m = m.max(x + y);
            }
        }
        m
    }
}

/// Fault intensities of the chaos phases.
#[derive(Clone, Debug)]
pub struct ChaosProfile {
    /// Mean time between two fault or workload actions, ms.
    pub mean_gap_ms: u64,
    /// Largest per-link loss and duplication rates (per mille) in chaos.
    pub max_loss: u64,
    pub max_dup: u64,
    /// Per mille of messages held back by up to `spike_ms` (reordering).
    pub spike_rate: u64,
    pub spike_ms: u64,
    /// Slow crm_ticket run time, ms, and failure rate (per mille) when a
    /// site's crm_ticket is degraded.
    pub slow_crm_ms: (u64, u64),
    pub crm_fail: u64,
    /// Failure rate (per mille) of a site's handler when it is degraded.
    pub handler_fail: u64,
    /// Chaos phases per run.
    pub epochs: u32,
}

impl Setup {
    /// One line about a set-up: members, tickets and timings.
    pub fn describe(&self) -> String {
        let s = self;
        let kinds: String = s
            .cfg
            .members
            .iter()
            .map(|m| if m.is_site() { 'S' } else { 'A' })
            .collect();
        let t: Vec<String> = s
            .cfg
            .tickets
            .iter()
            .map(|t| {
                format!(
                    "{}(exp {} to {} r{} renew {} aa {}{}{}{})",
                    t.name,
                    ms(t.expire),
                    ms(t.timeout),
                    t.retries,
                    ms(t.renewal_freq),
                    ms(t.acquire_after),
                    if t.before_acquire_handler.is_some() {
                        " handler"
                    } else {
                        ""
                    },
                    if t.attr_prereqs.is_empty() {
                        ""
                    } else {
                        " attr-prereq"
                    },
                    if t.is_manual() { " manual" } else { "" }
                )
            })
            .collect();
        format!(
            "members {kinds}{}, max delay {}ms, tickets {}",
            if s.cfg.subsecond_times {
                ", sub-second times"
            } else {
                ""
            },
            s.net.max_delay(),
            t.join(" ")
        )
    }
}

/// Cluster shapes: the classic two sites plus arbitrator and three sites
/// come up most often; anything from 2 to 7 members is possible.
fn kinds(rng: &mut Rng) -> Vec<MemberKind> {
    use MemberKind::{Arbitrator as A, Site as S};
    let fixed: [&[MemberKind]; 4] = [&[S, S, A], &[S, S, S], &[S, S, S, A, A], &[S, S, S, S, A]];
    let mut k: Vec<MemberKind> = match rng.below(10) {
        0..=2 => fixed[0].to_vec(),
        3..=4 => fixed[1].to_vec(),
        5 => fixed[2].to_vec(),
        6 => fixed[3].to_vec(),
        _ => {
            let n = 2 + rng.below(6) as usize;
            let sites = 2 + rng.below(n as u64 - 1) as usize;
            (0..n).map(|i| if i < sites { S } else { A }).collect()
        }
    };
    // Members appear in the file in any order.
    for i in (1..k.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        k.swap(i, j);
    }
    k
}

fn pick(rng: &mut Rng, lo: u64, hi: u64) -> u64 {
    lo + rng.below(hi.saturating_sub(lo) + 1)
}

/// One ticket with legal timings: `timeout * (retries + 1) <= renewal-freq <
/// expire` (the configuration check, and a lease that is renewed before it
/// runs out). With `subsecond` times are any number of milliseconds, else
/// whole seconds, as a configuration file would give them.
fn ticket(rng: &mut Rng, i: usize, subsecond: bool) -> TicketConfig {
    let unit = if subsecond { 1 } else { 1000 };
    let round_up = |ms: u64| ms.div_ceil(unit) * unit;
    let timeout = if subsecond {
        pick(rng, 150, 3000)
    } else {
        let longest = if rng.below(4) == 0 { 5 } else { 2 };
        1000 * pick(rng, 1, longest)
    };
    let retries = if rng.below(8) == 0 {
        pick(rng, 3, 12) as u32
    } else {
        pick(rng, 3, 5) as u32
    };
    let min_renewal = timeout * (retries as u64 + 1);
    let drawn = match rng.below(20) {
        0..=13 => pick(rng, 4, 60) * 1000,
        14..=18 => pick(rng, 60, 300) * 1000,
        _ => pick(rng, 300, 900) * 1000,
    };
    let drawn = if subsecond {
        drawn + rng.below(1000)
    } else {
        drawn
    };
    let expire = round_up(drawn.max(min_renewal * 2 + unit));
    let renewal = if rng.below(2) == 0 {
        expire / 2
    } else {
        round_up(pick(rng, min_renewal, expire - unit)).min(expire - unit)
    };
    let renewal = renewal.max(min_renewal);
    let acquire_after = match rng.below(4) {
        0 | 1 => 0,
        2 => round_up(pick(rng, 1, 5000)),
        _ => round_up(pick(rng, 1, expire)),
    };
    let handler = (rng.below(10) < 3).then(|| {
        vec![
            "/usr/share/booth/service-runnable".to_string(),
            format!("svc{i}"),
        ]
    });
    // Some tickets depend on a geo attribute, for failover elections (auto),
    // admin grants (manual) or both.
    let attr_prereqs = if rng.below(6) == 0 {
        let kinds: &[GrantType] = match rng.below(3) {
            0 => &[GrantType::Auto],
            1 => &[GrantType::Manual],
            _ => &[GrantType::Auto, GrantType::Manual],
        };
        kinds
            .iter()
            .map(|&grant_type| {
                let (op, value) = if rng.below(2) == 0 {
                    (AttrOp::Eq, PREREQ_OK)
                } else {
                    (AttrOp::Ne, "DEGRADED")
                };
                AttrPrereq {
                    grant_type,
                    name: PREREQ_ATTR.into(),
                    op,
                    value: value.into(),
                }
            })
            .collect()
    } else {
        vec![]
    };
    TicketConfig::new(
        format!("tk{i}"),
        TicketSettings {
            expire: Duration::from_millis(expire),
            timeout: Duration::from_millis(timeout),
            retries,
            renewal_freq: Duration::from_millis(renewal),
            acquire_after: Duration::from_millis(acquire_after),
            before_acquire_handler: handler,
            attr_prereqs,
            mode: if rng.below(10) == 0 {
                TicketMode::Manual
            } else {
                TicketMode::Auto
            },
            weights: Default::default(),
        },
    )
}

/// A configuration as the config layer would produce it from a file.
pub fn config(kinds: &[MemberKind], tickets: Vec<TicketConfig>, subsecond: bool) -> Config {
    let mut cfg = Config::synthetic(kinds, tickets, |i| 0x1000 + 0x111 * i as u32);
    cfg.subsecond_times = subsecond;
    cfg
}

/// Draws the set-up of one seed.
pub fn setup(rng: &mut Rng) -> Setup {
    let kinds = kinds(rng);
    let n = kinds.len();
    let subsecond = rng.below(5) == 0;
    let n_tickets = match rng.below(10) {
        0..=4 => pick(rng, 1, 3),
        5..=7 => pick(rng, 4, 8),
        _ => pick(rng, 9, 20),
    } as usize;
    let tickets: Vec<TicketConfig> = (0..n_tickets).map(|i| ticket(rng, i, subsecond)).collect();
    let min_timeout = tickets
        .iter()
        .map(|t| t.timeout.as_millis() as u64)
        .min()
        .unwrap_or(1000);
    let max_timeout = tickets
        .iter()
        .map(|t| t.timeout.as_millis() as u64)
        .max()
        .unwrap_or(1000);
    // The healthy network is fast next to the shortest timeout (the timing
    // assumption of the liveness bounds); chaos makes it arbitrarily slow.
    let budget = (min_timeout / 8).clamp(2, 150);
    let mut base_ms = vec![vec![0; n]; n];
    let mut jitter_ms = vec![vec![0; n]; n];
    for a in 0..n {
        for b in 0..n {
            if a != b {
                base_ms[a][b] = pick(rng, 1, budget / 2);
                jitter_ms[a][b] = rng.below(budget / 2 + 1);
            }
        }
    }
    let members = kinds
        .iter()
        .map(|&kind| {
            let slow = rng.below(4) == 0;
            MemberProfile {
                kind,
                wall_offset_ms: if rng.below(3) == 0 {
                    0
                } else {
                    rng.below(240_001) as i64 - 120_000
                },
                mono_offset_ms: rng.below(10_000_000_000),
                crm_ms: if slow {
                    (pick(rng, 20, 200), pick(rng, 200, 1500))
                } else {
                    (pick(rng, 2, 20), pick(rng, 20, 80))
                },
                handler_ms: (pick(rng, 1, 50), pick(rng, 50, 1500)),
                inbox_cap: rng.below(65) as usize,
            }
        })
        .collect();
    let chaos = ChaosProfile {
        mean_gap_ms: pick(rng, 500, 15_000),
        max_loss: [0, 50, 200, 500][rng.below(4) as usize],
        max_dup: [0, 20, 100][rng.below(3) as usize],
        spike_rate: [0, 5, 30][rng.below(3) as usize],
        spike_ms: pick(rng, max_timeout, 4 * max_timeout),
        slow_crm_ms: (pick(rng, 200, 1000), pick(rng, 1000, 8000)),
        crm_fail: pick(rng, 100, 900),
        handler_fail: pick(rng, 200, 1000),
        epochs: pick(rng, 1, 3) as u32,
    };
    Setup {
        cfg: config(&kinds, tickets, subsecond),
        members,
        net: NetProfile { base_ms, jitter_ms },
        chaos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_timings_are_legal() {
        for seed in 0..3000 {
            let mut rng = Rng::new(seed);
            let s = setup(&mut rng);
            let n = s.cfg.members.len();
            assert!((2..=7).contains(&n));
            assert!(s.cfg.members.iter().filter(|m| m.is_site()).count() >= 2);
            assert!((1..=20).contains(&s.cfg.tickets.len()));
            for t in &s.cfg.tickets {
                let ms = |d: Duration| d.as_millis() as u64;
                assert!((3..=12).contains(&t.retries), "{t:?}");
                assert!(
                    ms(t.timeout) * (t.retries as u64 + 1) <= ms(t.renewal_freq),
                    "{t:?}"
                );
                assert!(t.renewal_freq < t.expire, "{t:?}");
                // (The default renewal period is expire / 2 in milliseconds,
                // as the configuration layer computes it, so it may have a
                // fraction of a second even then.)
                if !s.cfg.subsecond_times {
                    for d in [t.expire, t.timeout, t.acquire_after] {
                        assert_eq!(ms(d) % 1000, 0, "{t:?}");
                    }
                }
            }
            assert!(s.net.max_delay() * 4 <= ms_min_timeout(&s.cfg));
        }
    }

    fn ms_min_timeout(c: &Config) -> u64 {
        c.tickets
            .iter()
            .map(|t| t.timeout.as_millis() as u64)
            .min()
            .unwrap()
    }
}
