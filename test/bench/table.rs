//! The summary table: ours (dynamic), ours (static) and the C booth side
//! by side, each row with its target and verdict.

use crate::failover::{Failover, FO_TICKETS, FO_TIMEOUT};
use crate::phases::Main;
use crate::procfs::median;
use crate::Params;

/// Columns of values: ours, static, C.
const OURS: usize = 0;
const STATIC: usize = 1;
const C: usize = 2;

/// Judges one of our values against C's (None: cannot tell).
type Judge<'a> = &'a dyn Fn(f64, Option<f64>) -> Option<bool>;

pub struct Table {
    rows: Vec<[String; 8]>,
    pass: usize,
    fail: usize,
    /// Whether each side's main phase ran (values of a side that did not
    /// are shown as "-" and not judged).
    ran: [bool; 3],
}

fn fmt(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_nan() => "n/a".into(),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 10.0 => format!("{x:.1}"),
        Some(x) if x.abs() >= 1.0 => format!("{x:.2}"),
        Some(x) => format!("{x:.3}"),
        None => "-".into(),
    }
}

fn ratio(o: Option<f64>, c: Option<f64>) -> String {
    match (o, c) {
        (Some(o), Some(c)) if c != 0.0 && !o.is_nan() && !c.is_nan() => format!("{:.2}", o / c),
        _ => "-".into(),
    }
}

impl Table {
    /// A row of the main phase: values of sides that did not run are
    /// dropped.
    fn row_main(&mut self, metric: &str, v: [Option<f64>; 3], target: &str, judge: Judged) {
        let mut v = v;
        for (i, ran) in self.ran.iter().enumerate() {
            if !ran {
                v[i] = None;
            }
        }
        self.row(metric, v, target, judge);
    }

    fn row(&mut self, metric: &str, v: [Option<f64>; 3], target: &str, judge: Judged) {
        let verdicts: Vec<Option<bool>> = match judge {
            Judged::Info => Vec::new(),
            Judged::Static(f) => vec![v[STATIC].and_then(|x| f(x, v[C]))],
            Judged::Ours(f) => [OURS, STATIC]
                .iter()
                .map(|&i| v[i].and_then(|x| f(x, v[C])))
                .collect(),
        };
        let verdict = if verdicts.contains(&Some(false)) {
            self.fail += 1;
            "FAIL"
        } else if verdicts.contains(&Some(true)) {
            self.pass += 1;
            "PASS"
        } else {
            "info"
        };
        self.rows.push([
            metric.into(),
            fmt(v[OURS]),
            fmt(v[STATIC]),
            fmt(v[C]),
            ratio(v[OURS], v[C]),
            ratio(v[STATIC], v[C]),
            target.into(),
            verdict.into(),
        ]);
    }

    fn print(&self) {
        let head = [
            "metric", "ours", "static", "C 1.0", "ours/C", "static/C", "target", "result",
        ];
        let mut w = [0usize; 8];
        for r in self
            .rows
            .iter()
            .map(|r| r.each_ref().map(|s| s.as_str()))
            .chain([head])
        {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |r: [&str; 8]| {
            let mut s = String::new();
            for (i, c) in r.iter().enumerate() {
                if i == 0 || i == 6 {
                    s.push_str(&format!("| {c:<width$} ", width = w[i]));
                } else {
                    s.push_str(&format!("| {c:>width$} ", width = w[i]));
                }
            }
            s.push('|');
            s
        };
        say!("{}", line(head));
        say!(
            "{}",
            line(w.map(|n| "-".repeat(n)).each_ref().map(|s| s.as_str()))
        );
        for r in &self.rows {
            say!("{}", line(r.each_ref().map(|s| s.as_str())));
        }
        say!("{} PASS, {} FAIL", self.pass, self.fail);
    }
}

/// Which of our columns a row's target applies to.
enum Judged<'a> {
    Info,
    /// Ours and static alike.
    Ours(Judge<'a>),
    /// The static build only (the dynamic one is reported).
    Static(Judge<'a>),
}

fn u(x: u64) -> Option<f64> {
    Some(x as f64)
}

/// Prints the raw figures that are not in the table, then the table.
pub fn report(p: &Params, m: [&Main; 3], fo: &Failover, fc: &Failover) {
    let n = p.tickets;
    let mut t = Table {
        rows: Vec::new(),
        pass: 0,
        fail: 0,
        ran: m.map(|x| x.ran),
    };
    let quarter = |o: f64, c: Option<f64>| c.map(|c| o <= c / 4.0);
    let at_most_c = |o: f64, c: Option<f64>| c.map(|c| o <= c);
    t.row(
        &format!("start-up to list, {FO_TICKETS} tickets (s)"),
        [Some(fo.startup), None, Some(fc.startup)],
        "info",
        Judged::Info,
    );
    t.row_main(
        &format!("start-up to list, {n} tickets (s)"),
        m.map(|x| Some(x.startup)),
        "info",
        Judged::Info,
    );
    t.row_main(
        &format!("start-up busy after list, {n} tickets (s)"),
        m.map(|x| Some(x.settled)),
        "info",
        Judged::Info,
    );
    t.row_main(
        &format!("start-up CPU s until quiet, {n} tickets"),
        m.map(|x| Some(x.startup_cpu)),
        "info",
        Judged::Info,
    );
    type Reading = fn(&Main) -> u64;
    let mem: [(&str, Reading); 6] = [
        ("RSS after start (kB)", |x| x.rss_start.0),
        ("PSS after start (kB)", |x| x.rss_start.1),
        ("RSS leader of N (kB)", |x| x.rss_granted.0),
        ("PSS leader of N (kB)", |x| x.rss_granted.1),
        ("RSS after S s soak (kB)", |x| x.rss_soak.0),
        ("PSS after S s soak (kB)", |x| x.rss_soak.1),
    ];
    for (name, get) in mem {
        let name = name
            .replace(" N ", &format!(" {n} "))
            .replace(" S ", &format!(" {} ", p.soak));
        t.row_main(
            &name,
            m.map(|x| u(get(x))),
            "static <= C/4",
            Judged::Static(&quarter),
        );
    }
    let growth = |x: &Main| Some(x.rss_soak.0 as f64 - x.rss_granted.0 as f64);
    t.row_main(
        "RSS growth during soak (kB)",
        m.map(growth),
        "<= 0",
        Judged::Ours(&|o, _| Some(o <= 0.0)),
    );
    let idle = |f: fn(&crate::procfs::Window) -> f64| m.map(|x| x.idle.as_ref().map(f));
    t.row_main(
        "wake-ups/s idle",
        idle(|w| w.wakeups_per_s()),
        "info",
        Judged::Info,
    );
    t.row_main(
        "packets/s received idle",
        idle(|w| w.packets_per_s()),
        "info",
        Judged::Info,
    );
    t.row_main(
        "wake-ups/s idle beyond packets received",
        idle(|w| w.unexplained_per_s()),
        "0",
        Judged::Ours(&|o, _| Some(o == 0.0)),
    );
    let leader = |i: usize, f: fn(&crate::procfs::Window) -> f64| {
        m.map(|x| x.leader.get(i).map(|(_, w)| f(w)))
    };
    let steps: Vec<usize> = m
        .iter()
        .find(|x| x.ran)
        .map(|x| x.leader.iter().map(|(s, _)| *s).collect())
        .unwrap_or_default();
    for (i, step) in steps.iter().enumerate() {
        let (target, judge): (&str, Judge) = if *step >= 1000 {
            ("<= C/4", &quarter)
        } else {
            ("<= C", &at_most_c)
        };
        t.row_main(
            &format!("wake-ups/s leader of {step}"),
            leader(i, |w| w.wakeups_per_s()),
            target,
            Judged::Ours(judge),
        );
        t.row_main(
            &format!("packets/s received, leader of {step}"),
            leader(i, |w| w.packets_per_s()),
            "info",
            Judged::Info,
        );
    }
    let third = |o: f64, c: Option<f64>| c.map(|c| o <= c / 3.0);
    for (i, step) in steps.iter().enumerate() {
        let (target, judge): (&str, Judge) = if *step >= 1000 {
            ("<= C/3", &third)
        } else {
            ("<= C", &at_most_c)
        };
        t.row_main(
            &format!("CPU s/h leader of {step}, {} s", p.window),
            leader(i, |w| w.cpu_per_h),
            target,
            Judged::Ours(judge),
        );
    }
    let (target, judge): (&str, Judge) = if n >= 1000 {
        ("<= C/3", &third)
    } else {
        ("<= C", &at_most_c)
    };
    t.row_main(
        &format!("CPU s/h leader of {n}, soak"),
        m.map(|x| Some(x.soak_cpu_per_h)),
        target,
        Judged::Ours(judge),
    );
    t.row_main(
        &format!("wake-ups/s leader of {n}, soak"),
        m.map(|x| Some(x.soak_wakeups)),
        "<= C",
        Judged::Ours(&at_most_c),
    );
    let all = |o: f64, _: Option<f64>| Some(o == n as f64);
    t.row_main(
        &format!("tickets held after soak (of {n})"),
        m.map(|x| u(x.soak_held as u64)),
        "all",
        Judged::Ours(&all),
    );
    t.row_main(
        &format!("granted in leader's CIB after soak (of {n})"),
        m.map(|x| u(x.soak_cib_granted as u64)),
        "all",
        Judged::Ours(&all),
    );
    t.row_main(
        "log lines with \"error\", 3 members",
        m.map(|x| u(x.error_lines as u64)),
        "info",
        Judged::Info,
    );
    // Latencies: "no worse than C", with 1 ms for timer noise.
    let no_worse = |o: f64, c: Option<f64>| c.map(|c| c.is_nan() || o <= c + 0.001);
    t.row(
        &format!("list latency, {FO_TICKETS} tickets (s)"),
        [Some(fo.list_small), None, Some(fc.list_small)],
        "<= C",
        Judged::Ours(&no_worse),
    );
    let big = |x: &Main| Some(if x.list_big_ok { x.list_big } else { f64::NAN });
    t.row_main(
        &format!("list latency, {n} tickets (s)"),
        m.map(big),
        "<= C",
        Judged::Ours(&|o, c| {
            if o.is_nan() {
                Some(false)
            } else {
                no_worse(o, c)
            }
        }),
    );
    t.row(
        "grant -w latency (s)",
        [Some(fo.grant_w), None, Some(fc.grant_w)],
        "<= C",
        Judged::Ours(&no_worse),
    );
    failover_rows(&mut t, p, fo, fc);
    say!(
        "list reply size with {n} tickets: ours {} bytes, static {} bytes, C {} bytes (C client ok: {})",
        m[OURS].list_big_bytes,
        m[STATIC].list_big_bytes,
        m[C].list_big_bytes,
        m[C].list_big_ok
    );
    for (who, notes) in [
        ("ours", &m[OURS].notes),
        ("static", &m[STATIC].notes),
        ("C", &m[C].notes),
        ("ours failover", &fo.notes),
        ("C failover", &fc.notes),
    ] {
        for n in notes {
            say!("note {who}: {n}");
        }
    }
    say!("");
    t.print();
}

fn failover_rows(t: &mut Table, p: &Params, fo: &Failover, fc: &Failover) {
    let fstats = |f: &Failover| {
        let took: Vec<f64> = f.runs.iter().map(|r| r.0).collect();
        let ex: Vec<f64> = f.runs.iter().map(|r| r.0 - r.1).collect();
        let max_ex = ex.iter().cloned().fold(f64::NAN, f64::max);
        (
            median(&took),
            median(&f.runs.iter().map(|r| r.1).collect::<Vec<_>>()),
            median(&ex),
            max_ex,
            took,
        )
    };
    let (om, ob, oe, ox, otook) = fstats(fo);
    let (cm, cb, ce, cx, ctook) = fstats(fc);
    let half = FO_TIMEOUT as f64 / 2.0;
    t.row(
        &format!("failover, median of {} (s)", fo.runs.len()),
        [Some(om), None, Some(cm)],
        "info",
        Judged::Info,
    );
    t.row(
        "failover lower bound, median (s)",
        [Some(ob), None, Some(cb)],
        "info",
        Judged::Info,
    );
    t.row(
        "failover minus bound, median (s)",
        [Some(oe), None, Some(ce)],
        &format!("<= {half}"),
        Judged::Ours(&|o, _| Some(o <= half)),
    );
    let complete = fo.runs.len() == p.runs;
    t.row(
        "failover minus bound, worst (s)",
        [Some(ox), None, Some(cx)],
        &format!("<= {half}"),
        Judged::Ours(&|o, _| Some(o <= half && complete)),
    );
    say!(
        "failover runs ours (s): {:?}",
        otook.iter().map(|v| format!("{v:.2}")).collect::<Vec<_>>()
    );
    say!(
        "failover runs C (s): {:?}",
        ctook.iter().map(|v| format!("{v:.2}")).collect::<Vec<_>>()
    );
}
