//! The CIB watcher: samples every site's CIB file while a group runs and
//! counts the moments two sites held a valid grant of one ticket.

use super::*;

// ---------------------------------------------------------------------------
// The CIB watcher

/// `(ticket, granted, expires)` of every ticket_state element.
pub(crate) fn ticket_states(xml: &str) -> Vec<(String, bool, i64)> {
    fn attr(elem: &str, name: &str) -> Option<String> {
        let key = format!(" {name}=\"");
        let i = elem.find(&key)? + key.len();
        let j = elem[i..].find('"')?;
        Some(elem[i..i + j].to_string())
    }
    let mut out = Vec::new();
    for part in xml.split("<ticket_state").skip(1) {
        let elem = &part[..part.find('>').unwrap_or(part.len())];
        let Some(id) = attr(elem, "id") else { continue };
        let granted = attr(elem, "granted").as_deref() == Some("true");
        let expires = attr(elem, "expires")
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        out.push((id, granted, expires));
    }
    out
}

pub(crate) fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Samples every site's CIB until stopped; a ticket granted at two sites
/// with a valid expiry (manual tickets: granted at all, they have none) is
/// recorded against the scenario running at that moment.
pub(crate) struct Watcher {
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) phase: Arc<Mutex<String>>,
    pub(crate) duals: Arc<Mutex<Vec<(String, String)>>>,
    /// Overlaps inside the C leaders' truncation window (see `start`).
    pub(crate) c_window: Arc<Mutex<Vec<(String, String)>>>,
    pub(crate) samples: Arc<AtomicU64>,
    pub(crate) handle: Option<JoinHandle<()>>,
}

impl Watcher {
    /// `sources`: each site's CIB and implementation. A grant counts as
    /// valid while the moment it certainly lasts to is after now. Ours
    /// writes `expires` rounded down, so its lease lasts at least that long.
    /// The C booth writes it rounded to the nearest second (the lease may
    /// end half a second earlier), and a C leader announces its lease to
    /// followers truncated to whole seconds when the configuration has no
    /// sub-second times (doc/compatibility.md): every follower, C or ours,
    /// rightly takes the lease as up to a second shorter than the C leader's
    /// CIB shows. Overlaps inside that second are a property of the C
    /// leader, not a dual grant the protocol allows; they are counted
    /// apart (`c_window`) and reported, not failed.
    pub(crate) fn start(
        sources: Vec<(usize, CibSource, Impl)>,
        manual: &'static [&'static str],
    ) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let phase = Arc::new(Mutex::new(String::from("start-up")));
        let duals = Arc::new(Mutex::new(Vec::new()));
        let c_window = Arc::new(Mutex::new(Vec::new()));
        let samples = Arc::new(AtomicU64::new(0));
        let (s, p, d, n) = (stop.clone(), phase.clone(), duals.clone(), samples.clone());
        let cw = c_window.clone();
        let every = if sources
            .iter()
            .any(|(_, s, _)| matches!(s, CibSource::Pacemaker(_)))
        {
            Duration::from_millis(200)
        } else {
            Duration::from_millis(100)
        };
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                // (ticket, site, certain lease end, written lease end)
                let mut held: Vec<(String, usize, f64, f64)> = Vec::new();
                for (k, src, imp) in &sources {
                    let (certain, written) = if *imp == Impl::C {
                        (1.5, 0.5)
                    } else {
                        (0.0, 0.0)
                    };
                    for (id, granted, expires) in ticket_states(&src.read()) {
                        if granted {
                            let e = expires as f64;
                            held.push((id, *k, e - certain, e - written));
                        }
                    }
                }
                // Judged after reading: a grant must still be valid now.
                let now = now_f64();
                let mut ids: Vec<&String> = held.iter().map(|h| &h.0).collect();
                ids.sort();
                ids.dedup();
                for id in ids {
                    let manual = manual.contains(&id.as_str());
                    let mine: Vec<_> = held.iter().filter(|h| &h.0 == id).collect();
                    let certain = mine.iter().filter(|h| manual || h.2 > now).count();
                    let written = mine.iter().filter(|h| manual || h.3 > now).count();
                    if written > 1 {
                        let what = format!(
                            "{id} granted at (site, certain end, written end) {mine:?} at {now:.2}"
                        );
                        let phase = p.lock().unwrap().clone();
                        if certain > 1 {
                            d.lock().unwrap().push((phase, what));
                        } else {
                            cw.lock().unwrap().push((phase, what));
                        }
                    }
                }
                n.fetch_add(1, Ordering::Relaxed);
                if let Some(rest) = every.checked_sub(t0.elapsed()) {
                    std::thread::sleep(rest);
                }
            }
        });
        Watcher {
            stop,
            phase,
            duals,
            c_window,
            samples,
            handle: Some(handle),
        }
    }

    pub(crate) fn set_phase(&self, name: &str) {
        *self.phase.lock().unwrap() = name.to_string();
    }

    pub(crate) fn duals_in(&self, phase: &str) -> Vec<String> {
        self.duals
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == phase)
            .map(|(_, w)| w.clone())
            .collect()
    }

    /// Samples taken, dual grants and C-window overlaps (phase, what).
    #[allow(clippy::type_complexity)]
    pub(crate) fn finish(mut self) -> (u64, Vec<(String, String)>, Vec<(String, String)>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let d = self.duals.lock().unwrap().clone();
        let cw = self.c_window.lock().unwrap().clone();
        (self.samples.load(Ordering::Relaxed), d, cw)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The watcher itself must be able to fail: two CIB files with the same
/// ticket granted and a valid expiry are a dual grant; an expired one or a
/// C site's grant within its truncation window is not.
#[test]
fn watcher_catches_a_dual_grant() {
    // Removed also when an assertion fails.
    let guard = common::TempDir::new("watcher");
    let dir = guard.path().to_path_buf();
    let cib = |name: &str, expires: i64| {
        let p = dir.join(name);
        std::fs::write(
            &p,
            format!(
                "<cib><status><tickets><ticket_state id=\"ticketA\" granted=\"true\" \
                 expires=\"{expires}\"/></tickets></status></cib>\n"
            ),
        )
        .unwrap();
        CibSource::File(p)
    };
    let now = now_f64() as i64;
    let run = |sources: Vec<(usize, CibSource, Impl)>| {
        let w = Watcher::start(sources, &[]);
        std::thread::sleep(Duration::from_millis(350));
        let (samples, duals, c_window) = w.finish();
        assert!(samples >= 2);
        (duals.len(), c_window.len())
    };
    let (d, _) = run(vec![
        (0, cib("a.xml", now + 10), Impl::Rust),
        (1, cib("b.xml", now + 10), Impl::Rust),
    ]);
    assert!(d > 0, "dual grant not caught");
    let (d, _) = run(vec![
        (0, cib("c.xml", now - 1), Impl::Rust),
        (1, cib("d.xml", now + 10), Impl::Rust),
    ]);
    assert_eq!(d, 0, "an expired grant counted");
    // A C grant written as expiring at the next full second may have ended
    // half a second earlier, and followers were told one second less:
    // judged early in a second, it is inside the window.
    while now_f64().fract() > 0.1 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let next = now_f64() as i64 + 1;
    let (d, cw) = run(vec![
        (0, cib("e.xml", next), Impl::C),
        (1, cib("f.xml", now + 10), Impl::Rust),
    ]);
    assert_eq!((d, cw > 0), (0, true), "C truncation window");
}

#[test]
fn watcher_parses_ticket_states() {
    let xml = "<status><tickets><ticket_state id=\"ticketA\" owner=\"1\" expires=\"1795312695\" \
               term=\"3\" granted=\"true\" last-granted=\"17\"/><ticket_state id=\"t2\" \
               granted=\"false\" last-granted=\"5\"/></tickets></status>";
    assert_eq!(
        ticket_states(xml),
        vec![
            ("ticketA".to_string(), true, 1795312695),
            ("t2".to_string(), false, 0)
        ]
    );
}
