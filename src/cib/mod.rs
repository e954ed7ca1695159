//! Where a site records its tickets: Pacemaker's CIB through the real
//! `crm_ticket` (the default), or a built-in state directory for hosts
//! without Pacemaker.
//!
//! For Pacemaker this module only builds argument vectors and parses output:
//! the daemon runs them as child processes on non-blocking pipes, never
//! through a shell (the C booth pastes client-supplied attribute names into a
//! shell command line).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::engine::{CibState, CibWrite};

pub mod writer;

/// The `crm_ticket` program (found on PATH, as the C booth does).
pub const CRM_TICKET: &str = "crm_ticket";

/// Exit statuses of `crm_ticket -q` that mean "no such ticket yet": 6 for
/// older Pacemaker (ENXIO), 105 (CRM_EX_NOSUCH) for current ones.
pub fn load_status_is_missing(code: i32) -> bool {
    code == 6 || code == 105
}

/// The atomic grant/revoke command of the C booth (HEAD form, with
/// `booth-cfg-name`); `--attr-value=` keeps "-1" from looking like an option.
pub fn write_argv(w: &CibWrite, cfg_name: &str) -> Vec<String> {
    vec![
        "-t".into(),
        w.ticket.to_string(),
        if w.granted { "-g" } else { "-r" }.into(),
        "--force".into(),
        "-S".into(),
        "owner".into(),
        format!("--attr-value={}", w.owner),
        "-S".into(),
        "expires".into(),
        format!("--attr-value={}", w.expires),
        "-S".into(),
        "term".into(),
        format!("--attr-value={}", w.term),
        "-S".into(),
        "booth-cfg-name".into(),
        format!("--attr-value={cfg_name}"),
    ]
}

/// The program that writes renewal batches (found on PATH).
pub const CIBADMIN: &str = "cibadmin";

/// Upper bound of one batch's XML: it travels as one argument, and Linux
/// refuses arguments longer than 128 KiB.
pub const MAX_BATCH_XML: usize = 96 * 1024;

/// One `ticket_state` element setting the attributes [`write_argv`] sets.
/// Only for tickets whose granted flag and owner are already in the CIB
/// as written: then only `expires` and `term` change, and no `crm_ticket`
/// grant or revoke semantics (last-granted) are involved.
pub fn batch_element(w: &CibWrite, cfg_name: &str) -> String {
    format!(
        "<ticket_state id=\"{}\" granted=\"{}\" owner=\"{}\" expires=\"{}\" term=\"{}\" booth-cfg-name=\"{}\"/>",
        escape(&w.ticket),
        w.granted,
        w.owner,
        w.expires,
        w.term,
        escape(cfg_name)
    )
}

/// `cibadmin` arguments writing many ticket states in one CIB update:
/// `elements` are [`batch_element`] strings.
pub fn batch_argv(elements: &[String]) -> Vec<String> {
    let mut xml = String::from("<status><tickets>");
    for e in elements {
        xml.push_str(e);
    }
    xml.push_str("</tickets></status>");
    vec![
        "--modify".into(),
        "--scope".into(),
        "status".into(),
        "--xml-text".into(),
        xml,
    ]
}

/// Bytes [`batch_argv`] adds around the elements.
pub const BATCH_XML_OVERHEAD: usize = "<status><tickets></tickets></status>".len();

/// XML attribute value escaping.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Start-up query of one ticket's state.
pub fn load_argv(ticket: &str) -> Vec<String> {
    vec!["-t".into(), ticket.into(), "-q".into()]
}

/// `geostore set` / `delete` of a geo attribute (passed literally).
pub fn attr_argv(ticket: &str, name: &str, value: Option<&str>) -> Vec<String> {
    match value {
        Some(v) => vec![
            "-t".into(),
            ticket.into(),
            "-S".into(),
            name.into(),
            format!("--attr-value={v}"),
        ],
        None => vec!["-t".into(), ticket.into(), "-D".into(), name.into()],
    }
}

/// Attributes booth itself keeps in the ticket state (not geo attributes).
const OWN_ATTRS: [&str; 6] = [
    "id",
    "granted",
    "owner",
    "expires",
    "term",
    "booth-cfg-name",
];

/// Parses `crm_ticket -t T -q` output: a "State XML:" preamble, then one
/// `<ticket_state .../>` element whose attributes are the ticket's state.
pub fn parse_load(output: &str) -> Result<CibState, String> {
    let start = output
        .find("<ticket_state")
        .ok_or("crm_ticket xml output empty")?;
    let attrs = parse_element_attrs(&output[start + "<ticket_state".len()..])?;
    Ok(state_of(attrs))
}

/// Start-up query of every ticket's state at once (`crm_ticket -q`
/// without a ticket prints the whole `tickets` section).
pub fn load_all_argv() -> Vec<String> {
    vec!["-q".into()]
}

/// Parses `crm_ticket -q` output for all tickets: each `ticket_state`
/// element's id and state.
pub fn parse_load_all(output: &str) -> Result<Vec<(String, CibState)>, String> {
    let mut out = Vec::new();
    for part in output.split("<ticket_state").skip(1) {
        let attrs = parse_element_attrs(part)?;
        let id = attrs
            .iter()
            .find(|(k, _)| k == "id")
            .map(|(_, v)| v.clone())
            .ok_or("crm_ticket xml parse failed: ticket_state without id")?;
        out.push((id, state_of(attrs)));
    }
    if out.is_empty() && !output.contains("<tickets") {
        return Err("crm_ticket xml output empty".into());
    }
    Ok(out)
}

fn state_of(attrs: Vec<(String, String)>) -> CibState {
    let mut st = CibState::default();
    for (k, v) in attrs {
        match k.as_str() {
            "granted" => {
                st.granted = v.starts_with("true") || v.parse::<i64>().is_ok_and(|n| n != 0)
            }
            "owner" => st.owner = v.trim().parse().ok(),
            "expires" => st.expires = v.trim().parse().ok(),
            "term" => st.term = v.trim().parse().ok(),
            _ if OWN_ATTRS.contains(&k.as_str()) || k == "last-granted" => {}
            _ => st.attrs.push((k, v)),
        }
    }
    st
}

/// Attributes of one XML start tag (up to `>` or `/>`), entities decoded.
fn parse_element_attrs(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        if rest.starts_with("/>") || rest.starts_with('>') {
            return Ok(out);
        }
        let eq = rest
            .find('=')
            .ok_or("crm_ticket xml parse failed: attribute without value")?;
        let name = rest[..eq].trim().to_string();
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '<' || c == '>') {
            return Err("crm_ticket xml parse failed: bad attribute name".into());
        }
        rest = rest[eq + 1..].trim_start();
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
        let quote = quote.ok_or("crm_ticket xml parse failed: unquoted attribute")?;
        let end = rest[1..]
            .find(quote)
            .ok_or("crm_ticket xml parse failed: unterminated attribute")?;
        out.push((name, unescape(&rest[1..1 + end])));
        rest = &rest[end + 2..];
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(semi) = rest.find(';') else { break };
        let ent = &rest[1..semi];
        let decoded = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The built-in ticket store: one small file per ticket in a directory,
/// replaced atomically (write, fsync, rename, fsync the directory), holding
/// the same fields as the CIB ticket state.
#[derive(Clone, Debug)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    pub fn new(dir: &Path) -> io::Result<StateDir> {
        fs::create_dir_all(dir)?;
        Ok(StateDir {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, ticket: &str) -> PathBuf {
        // Ticket names are [A-Za-z0-9/-]: keep '/' out of the file name.
        self.dir.join(ticket.replace('/', "%2F"))
    }

    /// The stored states of `tickets` (None: never written), reading the
    /// directory once and only the files in it: at a first start with
    /// 10,000 tickets that is one `readdir` instead of 10,000 failed
    /// opens. Errors are per ticket.
    pub fn load_all<'a>(
        &self,
        tickets: impl Iterator<Item = &'a str>,
    ) -> Vec<(&'a str, io::Result<Option<CibState>>)> {
        let present: Option<std::collections::HashSet<std::ffi::OsString>> =
            fs::read_dir(&self.dir)
                .and_then(|d| d.map(|e| e.map(|e| e.file_name())).collect())
                .ok();
        tickets
            .map(|t| {
                let file = self.path(t);
                let there = match (&present, file.file_name()) {
                    (Some(p), Some(f)) => p.contains(f),
                    // Unlisted: ask the file itself.
                    _ => true,
                };
                (t, if there { self.load(t) } else { Ok(None) })
            })
            .collect()
    }

    /// The stored state, or None when the ticket was never written.
    pub fn load(&self, ticket: &str) -> io::Result<Option<CibState>> {
        let text = match fs::read_to_string(self.path(ticket)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut st = CibState::default();
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            match k {
                "granted" => st.granted = v == "true",
                "owner" => st.owner = v.parse().ok(),
                "expires" => st.expires = v.parse().ok(),
                "term" => st.term = v.parse().ok(),
                _ => {
                    if let Some(name) = k.strip_prefix("attr.") {
                        st.attrs.push((unescape_line(name), unescape_line(v)));
                    }
                }
            }
        }
        Ok(Some(st))
    }

    pub fn write(&self, w: &CibWrite) -> io::Result<()> {
        let mut st = self.load(&w.ticket)?.unwrap_or_default();
        st.granted = w.granted;
        st.owner = Some(w.owner as i64);
        st.expires = Some(w.expires);
        st.term = Some(w.term);
        self.store(&w.ticket, &st)
    }

    /// First half of a batched write: the new state of `w`'s ticket in a
    /// temporary file, not yet synced nor in place. Sync every staged file
    /// (one `syncfs` of the directory does), then [`StateDir::commit`].
    ///
    /// `attrs` are geo attribute changes of the same ticket, applied in
    /// order after `w`: (name, Some(value)) sets, (name, None) deletes.
    pub fn stage(
        &self,
        ticket: &str,
        w: Option<&CibWrite>,
        attrs: &[(&str, Option<&str>)],
    ) -> io::Result<Staged> {
        let mut st = self.load(ticket)?.unwrap_or_default();
        if let Some(w) = w {
            st.granted = w.granted;
            st.owner = Some(w.owner as i64);
            st.expires = Some(w.expires);
            st.term = Some(w.term);
        }
        for (name, value) in attrs {
            st.attrs.retain(|(k, _)| k != name);
            if let Some(v) = value {
                st.attrs.push((name.to_string(), v.to_string()));
            }
        }
        let path = self.path(ticket);
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, state_text(ticket, &st))?;
        Ok(Staged { tmp, path })
    }

    /// Second half: puts synced staged files in place, then syncs the
    /// directory once. A crash leaves each ticket's old or new file whole.
    pub fn commit(&self, staged: Vec<Staged>) -> io::Result<()> {
        for s in staged {
            fs::rename(&s.tmp, &s.path)?;
        }
        fs::File::open(&self.dir)?.sync_all()
    }

    /// The directory, opened (for a sync of its file system).
    pub fn open_dir(&self) -> io::Result<fs::File> {
        fs::File::open(&self.dir)
    }

    pub fn set_attr(&self, ticket: &str, name: &str, value: Option<&str>) -> io::Result<()> {
        let mut st = self.load(ticket)?.unwrap_or_default();
        st.attrs.retain(|(k, _)| k != name);
        if let Some(v) = value {
            st.attrs.push((name.to_string(), v.to_string()));
        }
        self.store(ticket, &st)
    }

    fn store(&self, ticket: &str, st: &CibState) -> io::Result<()> {
        let text = state_text(ticket, st);
        let path = self.path(ticket);
        let tmp = path.with_extension("tmp");
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        fs::File::open(&self.dir)?.sync_all()
    }
}

/// A ticket state written to a temporary file by [`StateDir::stage`].
#[derive(Debug)]
pub struct Staged {
    pub tmp: PathBuf,
    path: PathBuf,
}

/// The state file's text.
fn state_text(ticket: &str, st: &CibState) -> String {
    let mut text = format!("ticket={ticket}\ngranted={}\n", st.granted);
    for (k, v) in [("owner", st.owner), ("expires", st.expires)] {
        if let Some(v) = v {
            text.push_str(&format!("{k}={v}\n"));
        }
    }
    if let Some(t) = st.term {
        text.push_str(&format!("term={t}\n"));
    }
    for (k, v) in &st.attrs {
        text.push_str(&format!("attr.{}={}\n", escape_line(k), escape_line(v)));
    }
    text
}

/// Keeps `=` and newlines of attribute names/values out of the line format.
fn escape_line(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\n', "%0A")
        .replace('=', "%3D")
}

fn unescape_line(s: &str) -> String {
    s.replace("%3D", "=")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(granted: bool, owner: i32) -> CibWrite {
        CibWrite {
            ticket: "ticketA".into(),
            granted,
            owner,
            expires: 1_700_000_300,
            term: 3,
        }
    }

    #[test]
    fn write_argv_is_the_c_booth_command() {
        assert_eq!(
            write_argv(&w(true, 584690490), "booth").join(" "),
            "-t ticketA -g --force -S owner --attr-value=584690490 -S expires --attr-value=1700000300 -S term --attr-value=3 -S booth-cfg-name --attr-value=booth"
        );
        assert!(write_argv(&w(false, -1), "b").contains(&"--attr-value=-1".to_string()));
        assert!(write_argv(&w(false, -1), "b").contains(&"-r".to_string()));
    }

    #[test]
    fn batch_is_one_cibadmin_update_of_all_elements() {
        let a = batch_element(&w(true, 584690490), "booth");
        let mut b = w(false, -1);
        b.ticket = "t<&\"'>".into();
        let b = batch_element(&b, "x\"y");
        assert_eq!(
            a,
            "<ticket_state id=\"ticketA\" granted=\"true\" owner=\"584690490\" expires=\"1700000300\" term=\"3\" booth-cfg-name=\"booth\"/>"
        );
        assert!(b.starts_with(
            "<ticket_state id=\"t&lt;&amp;&quot;&apos;&gt;\" granted=\"false\" owner=\"-1\""
        ));
        assert!(b.ends_with("booth-cfg-name=\"x&quot;y\"/>"));
        let argv = batch_argv(&[a.clone(), b.clone()]);
        assert_eq!(argv[..4], ["--modify", "--scope", "status", "--xml-text"]);
        assert_eq!(
            argv[4],
            format!("<status><tickets>{a}{b}</tickets></status>")
        );
        assert_eq!(argv[4].len(), BATCH_XML_OVERHEAD + a.len() + b.len());
        // What the batch writes reads back as what crm_ticket would show.
        let st = parse_load(&format!("State XML:\n{a}\n")).unwrap();
        assert!(st.granted);
        assert_eq!(
            (st.owner, st.expires, st.term),
            (Some(584690490), Some(1_700_000_300), Some(3))
        );
    }

    #[test]
    fn parses_all_tickets_at_once() {
        let out = "State XML:\n\n<tickets>\n  <ticket_state id=\"tA\" granted=\"true\" owner=\"1\" expires=\"200\" term=\"3\" repl=\"x\"/>\n  <ticket_state id=\"t&lt;B\" expires=\"300\"/>\n</tickets>\n";
        let all = parse_load_all(out).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].0, "tA");
        assert!(all[0].1.granted);
        assert_eq!(all[0].1.term, Some(3));
        assert_eq!(all[0].1.attrs, vec![("repl".to_string(), "x".to_string())]);
        assert_eq!(all[1].0, "t<B");
        assert!(!all[1].1.granted);
        assert_eq!(all[1].1.expires, Some(300));
        assert_eq!(
            parse_load_all("State XML:\n\n<tickets/>\n").unwrap().len(),
            0
        );
        assert!(parse_load_all("").is_err());
        assert!(parse_load_all("<tickets><ticket_state granted=\"true\"/>").is_err());
        assert!(parse_load_all("<tickets><ticket_state id=\"x").is_err());
    }

    #[test]
    fn hostile_attributes_stay_single_arguments() {
        let a = attr_argv("T", "x' $(id) ;", Some("it's `rm -rf`"));
        assert_eq!(
            a,
            vec!["-t", "T", "-S", "x' $(id) ;", "--attr-value=it's `rm -rf`"]
        );
        assert_eq!(attr_argv("T", "n", None), vec!["-t", "T", "-D", "n"]);
    }

    #[test]
    fn parses_crm_ticket_output() {
        let out = "State XML:\n\n<ticket_state id=\"ticketA\" granted=\"true\" last-granted=\"1795303805\" booth-cfg-name=\"booth\" owner=\"584690490\" expires=\"1700000300\" term=\"3\" repl=\"A&amp;B &quot;x&quot;\"/>\n";
        let st = parse_load(out).unwrap();
        assert!(st.granted);
        assert_eq!(st.owner, Some(584690490));
        assert_eq!(st.expires, Some(1_700_000_300));
        assert_eq!(st.term, Some(3));
        assert_eq!(
            st.attrs,
            vec![("repl".to_string(), "A&B \"x\"".to_string())]
        );
        let st = parse_load("<ticket_state id='t' granted='false' owner='-1'/>").unwrap();
        assert!(!st.granted);
        assert_eq!(st.owner, Some(-1));
        assert!(parse_load("State XML:\n\n").is_err());
        assert!(parse_load("<ticket_state id=\"t").is_err());
        assert!(parse_load("<ticket_state id=t/>").is_err());
    }

    #[test]
    fn state_dir_round_trip() {
        let dir = std::env::temp_dir().join(format!("booth-statedir-{}", std::process::id()));
        let sd = StateDir::new(&dir).unwrap();
        assert_eq!(sd.load("ticketA").unwrap(), None);
        sd.write(&w(true, 42)).unwrap();
        sd.set_attr("ticketA", "a=b\nc", Some("v%=\n")).unwrap();
        let st = sd.load("ticketA").unwrap().unwrap();
        assert!(st.granted);
        assert_eq!(
            (st.owner, st.expires, st.term),
            (Some(42), Some(1_700_000_300), Some(3))
        );
        assert_eq!(st.attrs, vec![("a=b\nc".to_string(), "v%=\n".to_string())]);
        sd.write(&w(false, -1)).unwrap();
        let st = sd.load("ticketA").unwrap().unwrap();
        assert!(!st.granted);
        // Read together: the written one as by itself, the others absent.
        let all = sd.load_all(["ticketA", "nothing", "a/b"].into_iter());
        assert_eq!(all[0].1.as_ref().unwrap(), &Some(st.clone()));
        assert!(matches!(all[1], ("nothing", Ok(None))));
        assert!(matches!(all[2], ("a/b", Ok(None))));
        assert_eq!(st.attrs.len(), 1, "attributes survive ticket writes");
        sd.set_attr("ticketA", "a=b\nc", None).unwrap();
        assert!(sd.load("ticketA").unwrap().unwrap().attrs.is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn staged_states_are_in_place_only_after_commit() {
        let dir = std::env::temp_dir().join(format!("booth-staged-{}", std::process::id()));
        let sd = StateDir::new(&dir).unwrap();
        sd.write(&w(true, 42)).unwrap();
        sd.set_attr("ticketA", "keep", Some("1")).unwrap();
        let s = sd
            .stage(
                "ticketA",
                Some(&w(false, -1)),
                &[("keep", None), ("new", Some("2"))],
            )
            .unwrap();
        // A crash now leaves the old state whole.
        assert!(sd.load("ticketA").unwrap().unwrap().granted);
        let b = sd.stage("ticketB", None, &[("x", Some("y"))]).unwrap();
        sd.commit(vec![s, b]).unwrap();
        let st = sd.load("ticketA").unwrap().unwrap();
        assert!(!st.granted);
        assert_eq!(st.owner, Some(-1));
        assert_eq!(st.attrs, vec![("new".to_string(), "2".to_string())]);
        let st = sd.load("ticketB").unwrap().unwrap();
        assert_eq!((st.granted, st.owner), (false, None), "attributes only");
        assert_eq!(st.attrs, vec![("x".to_string(), "y".to_string())]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
