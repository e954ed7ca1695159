//! The failover clusters: short leases, a leader killed at a random point
//! after a renewal, the time until the survivor records the ticket against
//! the lower bound that the renewal sets.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cluster::*;
use crate::netns::Lab;
use crate::procfs::load;
use crate::Params;

// The failover cluster: short leases so that ten runs fit in minutes.
pub const FO_EXPIRE: u64 = 10;
pub const FO_TIMEOUT: u64 = 1;
pub const FO_ACQUIRE_AFTER: u64 = 0;
pub const FO_TICKETS: usize = 10;

#[derive(Default, Clone)]
pub struct Failover {
    pub startup: f64,
    pub list_small: f64,
    pub grant_w: f64,
    /// (failover seconds, lower bound seconds)
    pub runs: Vec<(f64, f64)>,
    pub notes: Vec<String>,
}

fn expires_of(text: &str, ticket: &str) -> Option<String> {
    let head = format!("ticket: {ticket}, ");
    text.lines()
        .find(|l| l.starts_with(&head))
        .and_then(|l| l.split_once("expires: "))
        .map(|(_, e)| e.to_string())
}

fn leader_of(text: &str, ticket: &str) -> Option<String> {
    let head = format!("ticket: {ticket}, leader: ");
    text.lines()
        .find(|l| l.starts_with(&head))
        .map(|l| l[head.len()..].split(',').next().unwrap_or("").to_string())
}

pub fn cib_granted(lab: &Lab, k: usize, ticket: &str) -> bool {
    let xml = std::fs::read_to_string(cib_path(lab, k)).unwrap_or_default();
    let id = format!("id=\"{ticket}\"");
    xml.split('<')
        .filter(|e| e.starts_with("ticket_state") && e.contains(&id))
        .any(|e| e.contains("granted=\"true\""))
}

fn rand_unit() -> f64 {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let x = n
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

pub fn failover_cluster(side: Side, p: &Params, r: &mut Failover) -> Result<Cluster, String> {
    let mut cl = new_cluster(
        "f",
        side,
        &tickets_conf(FO_TICKETS, FO_EXPIRE, FO_TIMEOUT, FO_ACQUIRE_AFTER),
    );
    r.startup = start_cluster(&mut cl, p)?;
    let pid = pid_of(&cl, 0);
    let settled = settle(pid, Duration::from_secs(300));
    say!(
        "[{}] failover cluster ({FO_TICKETS} tickets, expire {FO_EXPIRE}, timeout {FO_TIMEOUT}, acquire-after {FO_ACQUIRE_AFTER}): start-up to list {:.3} s, busy {settled:.1} s more",
        side.name(),
        r.startup
    );
    Ok(cl)
}

/// One look at member `surv`'s `booth list` (then a 5 ms pause): whether
/// it shows tk1 led by `holder` with an expiry other than the one it showed
/// last (`last`, updated; the first sighting is no renewal).
fn renewed(cl: &Cluster, surv: usize, holder: &str, last: &mut Option<String>) -> bool {
    let mut changed = false;
    if let Some(t) = list(cl, surv) {
        if leader_of(&t, "tk1").as_deref() == Some(holder) {
            let e = expires_of(&t, "tk1");
            changed = last.is_some() && e != *last;
            *last = e;
        }
    }
    std::thread::sleep(Duration::from_millis(5));
    changed
}

pub fn failover_runs(cl: &mut Cluster, p: &Params, r: &mut Failover) {
    let side = cl.side;
    let mut holder = 0usize;
    for run in 0..p.runs {
        let surv = 1 - holder;
        let haddr = cl.hosts[holder].addr.clone();
        let saddr = cl.hosts[surv].addr.clone();
        // Catch a renewal: the survivor's displayed expiry jumps.
        let t0 = Instant::now();
        let mut last = None;
        let renewal = loop {
            if t0.elapsed() > Duration::from_secs(3 * FO_EXPIRE) {
                break None;
            }
            if renewed(cl, surv, &haddr, &mut last) {
                break Some(Instant::now());
            }
        };
        let Some(tr) = renewal else {
            r.notes
                .push(format!("run {run}: no renewal by {haddr} seen"));
            break;
        };
        let d = 0.5 + rand_unit() * (FO_EXPIRE as f64 / 2.0 - 1.0);
        // The kill comes `d` after the renewal caught above. Keep watching
        // until then: a leader that renews more often than every expire/2
        // (ours renews a timeout early, so its lease keeps its margin) may
        // renew again before it dies, and the survivor's lease then counts
        // from that renewal.
        let kill_at = tr + Duration::from_secs_f64(d);
        let mut tr = tr;
        let mut renewals_seen = 0;
        while Instant::now() < kill_at {
            if renewed(cl, surv, &haddr, &mut last) {
                tr = Instant::now();
                renewals_seen += 1;
            }
        }
        cl.kill(holder);
        let tk = Instant::now();
        // The survivor's lease ends `expire` after the renewal it saw.
        let bound = (FO_EXPIRE as f64 - (tk - tr).as_secs_f64()).max(0.0) + FO_ACQUIRE_AFTER as f64;
        let mut took = None;
        while tk.elapsed() < Duration::from_secs(4 * FO_EXPIRE) {
            if cib_granted(cl, surv, "tk1") {
                took = Some(tk.elapsed().as_secs_f64());
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let Some(took) = took else {
            r.notes.push(format!("run {run}: {saddr} never took tk1"));
            break;
        };
        say!(
            "[{}] failover run {run}: killed {haddr} {:.2} s after its last renewal seen ({renewals_seen} more during the wait), {saddr} granted after {took:.3} s, bound {bound:.3} s, excess {:.3} s, load {}",
            side.name(),
            (tk - tr).as_secs_f64(),
            took - bound,
            load()
        );
        r.runs.push((took, bound));
        // Bring the killed member back and let it learn the new holder.
        spawn(cl, holder, p.realtime);
        let t1 = Instant::now();
        loop {
            let ok = list(cl, holder)
                .map(|t| leader_of(&t, "tk1").as_deref() == Some(saddr.as_str()))
                .unwrap_or(false)
                && !cib_granted(cl, holder, "tk1");
            if ok {
                break;
            }
            if t1.elapsed() > Duration::from_secs(4 * FO_EXPIRE) {
                r.notes.push(format!(
                    "run {run}: restarted {haddr} did not settle (its CIB still granted: {})",
                    cib_granted(cl, holder, "tk1")
                ));
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        holder = surv;
    }
    let fails = count_log(cl, "nobody won elections");
    if fails > 0 {
        r.notes
            .push(format!("{fails} \"nobody won elections\" log lines"));
    }
}
