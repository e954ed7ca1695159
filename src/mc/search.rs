//! Depth-bounded exhaustive search: a depth-first walk over every
//! sequence of enabled actions up to `Limits::depth`, merging states seen
//! before by a 64-bit fingerprint.
//!
//! A state is expanded again only if it is reached with more depth left
//! than at any earlier visit, so the walk is exhaustive within the bound:
//! every state reachable in at most `depth` steps is visited (and checked),
//! whatever the order. The path to a violation is the search stack.

use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use super::props::{stays_granted, Violation};
use super::world::{Action, World};
use super::Limits;

/// What a search found.
#[derive(Debug)]
pub struct Report {
    /// Distinct states visited (fingerprints).
    pub states: u64,
    /// Actions taken (state expansions' children, merged or not).
    pub transitions: u64,
    /// States from which the fair continuation was run.
    pub liveness_checks: u64,
    /// The deepest path explored.
    pub max_depth: usize,
    /// The search stopped at `Limits::max_states` before it was exhaustive.
    pub truncated: bool,
    pub elapsed: Duration,
    /// The first violation and the actions leading to it from the start.
    pub violation: Option<(Violation, Vec<Action>)>,
}

fn fingerprint(w: &World) -> u64 {
    let mut h = DefaultHasher::new();
    w.hash(&mut h);
    h.finish()
}

struct Frame {
    world: World,
    actions: Vec<Action>,
    next: usize,
    /// The action that led here from the frame below.
    via: Option<Action>,
}

/// Explores every path of at most `limits.depth` steps from `start`,
/// stopping at the first violation.
pub fn explore(start: &World, limits: &Limits) -> Report {
    let t0 = Instant::now();
    let mut rep = Report {
        states: 1,
        transitions: 0,
        liveness_checks: 0,
        max_depth: 0,
        truncated: false,
        elapsed: Duration::ZERO,
        violation: None,
    };
    let mut seen: HashMap<u64, u16> = HashMap::new();
    seen.insert(fingerprint(start), limits.depth as u16);
    let mut stack = vec![Frame {
        actions: expandable(start, limits),
        world: start.clone(),
        next: 0,
        via: None,
    }];
    while let Some(top) = stack.last_mut() {
        let Some(&a) = top.actions.get(top.next) else {
            stack.pop();
            continue;
        };
        top.next += 1;
        rep.transitions += 1;
        let mut w = top.world.clone();
        w.apply(a);
        let depth = stack.len();
        let left = (limits.depth - depth) as u16;
        match seen.entry(fingerprint(&w)) {
            Entry::Occupied(mut o) => {
                if *o.get() >= left {
                    continue;
                }
                o.insert(left);
            }
            Entry::Vacant(v) => {
                v.insert(left);
                rep.states += 1;
            }
        }
        rep.max_depth = rep.max_depth.max(depth);
        let mut bad = w.found.first().cloned();
        if bad.is_none() && limits.liveness {
            rep.liveness_checks += 1;
            bad = stays_granted(&w, limits.live_horizon_ms);
        }
        if let Some(v) = bad {
            let mut path: Vec<Action> = stack.iter().filter_map(|f| f.via).collect();
            path.push(a);
            rep.violation = Some((v, path));
            break;
        }
        if rep.states >= limits.max_states {
            rep.truncated = true;
            break;
        }
        if left > 0 {
            stack.push(Frame {
                actions: expandable(&w, limits),
                world: w,
                next: 0,
                via: Some(a),
            });
        }
    }
    rep.elapsed = t0.elapsed();
    rep
}

/// The actions to try from `w`: none beyond the term bound.
fn expandable(w: &World, limits: &Limits) -> Vec<Action> {
    let over = w
        .engines
        .iter()
        .flatten()
        .any(|e| e.ticket_view(crate::engine::Tix::FIRST).term > limits.max_term);
    if over {
        Vec::new()
    } else {
        w.actions(limits)
    }
}

/// Replays `path` from `start`, describing every step (for a report).
pub fn trace(start: &World, path: &[Action]) -> String {
    let mut w = start.clone();
    let mut out = String::new();
    for (k, &a) in path.iter().enumerate() {
        let what = match a {
            Action::Deliver(p) => format!("deliver {}", w.describe_packet(&p)),
            Action::Duplicate(p) => format!("deliver a duplicate of {}", w.describe_packet(&p)),
            Action::Drop(p) => format!("lose {}", w.describe_packet(&p)),
            Action::Delay(p) => format!("hold back {}", w.describe_packet(&p)),
            other => format!("{other:?}"),
        };
        w.apply(a);
        let views: Vec<String> = (0..w.n()).map(|m| w.describe(m)).collect();
        out.push_str(&format!(
            "{:>3}. t={} {what}\n     {}\n",
            k + 1,
            w.now,
            views.join(" | ")
        ));
    }
    out
}
