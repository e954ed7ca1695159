//! The command line scanned into options in command-line order, and GNU
//! getopt's view of it where getopts' differs: the element each reported
//! position refers to, where parsing fails, and getopt's failure messages.

use super::{CliExit, Occurrence, OptSpec, ALERTS_DIR, JSON, STATE_DIR};

/// getopt-style failure: GNU getopt's own message, then C's hint.
pub(super) fn failure(argv0: &str, fail: &getopts::Fail) -> CliExit {
    use getopts::Fail;
    let describe = |name: &str, short: &str, long: &str| {
        if name.chars().count() == 1 {
            format!("{argv0}: {short} -- '{name}'")
        } else {
            format!("{argv0}: {long}")
        }
    };
    let first = match fail {
        Fail::UnrecognizedOption(n) => {
            describe(n, "invalid option", &format!("unrecognized option '--{n}'"))
        }
        Fail::ArgumentMissing(n) => describe(
            n,
            "option requires an argument",
            &format!("option '--{n}' requires an argument"),
        ),
        Fail::UnexpectedArgument(n) => format!("{argv0}: option '--{n}' doesn't allow an argument"),
        // Every option is declared "multi" and none is required.
        other => format!("{argv0}: {other}"),
    };
    CliExit {
        code: 1,
        stdout: String::new(),
        stderr: format!("{first}\nPlease use '-h' for usage.\n"),
    }
}

/// For every argument position getopts reports, the command-line element it
/// refers to. getopts counts elements it iterates over (options and
/// operands) but not option values it consumed from the next element; this
/// walks the arguments the same way so that options bundled in one element
/// (`-wF`) can be ordered by their place inside it.
pub(super) fn option_elements<'a>(
    args: &'a [String],
    specs: &[OptSpec],
    daemon: bool,
) -> Vec<&'a str> {
    let takes_arg = |ch: char| specs.iter().any(|s| s.letter == ch && s.takes_arg);
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(cur) = it.next() {
        if cur == "--" {
            break;
        }
        out.push(cur.as_str());
        if cur.len() < 2 || !cur.starts_with('-') {
            continue;
        }
        let value_follows = if let Some(long) = cur.strip_prefix("--") {
            // getopts also reads a one-letter long name as the short option
            // (`--c FILE` is `-c FILE`).
            let mut chars = long.chars();
            match (chars.next(), chars.next()) {
                (Some(ch), None) => takes_arg(ch),
                _ => daemon && (long == STATE_DIR || long == ALERTS_DIR),
            }
        } else {
            // The first letter taking an argument swallows the rest of the
            // element, or the next element if it is the last letter.
            cur.char_indices()
                .skip(1)
                .find(|&(_, ch)| takes_arg(ch))
                .is_some_and(|(i, ch)| i + ch.len_utf8() == cur.len())
        };
        if value_follows {
            it.next();
        }
    }
    out
}

/// The command line up to the option getopt fails on (an unknown option, or
/// one whose argument is missing), with the letters before it when it is
/// part of a bundle (`-Fx` becomes `-F`); `None` if no such option is found.
/// Walks the arguments as GNU getopt does; operands are kept (they do not
/// matter for the options' order).
pub(super) fn before_failure(
    args: &[String],
    specs: &[OptSpec],
    daemon: bool,
    json: bool,
) -> Option<Vec<String>> {
    let spec = |ch: char| specs.iter().find(|s| s.letter == ch);
    let mut i = 0;
    while i < args.len() {
        let cur = args[i].as_str();
        if cur == "--" {
            return None;
        }
        let cut = |within: Option<usize>| {
            let mut b = args[..i].to_vec();
            if let Some(k) = within.filter(|&k| k > 1) {
                b.push(cur[..k].to_string());
            }
            Some(b)
        };
        if cur.len() < 2 || !cur.starts_with('-') {
            i += 1;
            continue;
        }
        if let Some(long) = cur.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, _)) => (n, true),
                None => (long, false),
            };
            let mut chars = name.chars();
            let takes_arg = match (chars.next(), chars.next()) {
                (Some(ch), None) => spec(ch).map(|s| s.takes_arg),
                _ if daemon && (name == STATE_DIR || name == ALERTS_DIR) => Some(true),
                _ if json && name == JSON => Some(false),
                _ => None,
            };
            match takes_arg {
                None => return cut(None),
                Some(true) if !inline => {
                    if i + 1 >= args.len() {
                        return cut(None);
                    }
                    i += 1;
                }
                Some(_) => {}
            }
            i += 1;
            continue;
        }
        for (k, ch) in cur.char_indices().skip(1) {
            match spec(ch) {
                None => return cut(Some(k)),
                Some(s) if s.takes_arg => {
                    if k + ch.len_utf8() == cur.len() {
                        if i + 1 >= args.len() {
                            return cut(Some(k));
                        }
                        i += 1;
                    }
                    break;
                }
                Some(_) => {}
            }
        }
        i += 1;
    }
    None
}

/// The options in command-line order, and the operands.
pub(super) fn scan(
    specs: &[OptSpec],
    daemon: bool,
    json: bool,
    args: &[String],
) -> Result<(Vec<Occurrence>, Vec<String>), getopts::Fail> {
    let mut go = getopts::Options::new();
    // Options and operands may be mixed in any order (GNU getopt permutes
    // too; C then lost operands placed before the last option, which we do
    // not reproduce).
    go.parsing_style(getopts::ParsingStyle::FloatingFrees);
    for s in specs {
        let name = s.letter.to_string();
        if s.takes_arg {
            go.optmulti(&name, "", "", "ARG");
        } else {
            go.optflagmulti(&name, "", "");
        }
    }
    if daemon {
        go.optmulti("", STATE_DIR, "", "DIR");
        go.optmulti("", ALERTS_DIR, "", "DIR");
    }
    if json {
        go.optflagmulti("", JSON, "");
    }
    let matches = go.parse(args)?;

    // getopts groups matches per option; C acts on options one by one, so
    // the first offending option decides the message (and `-h` before a
    // misplaced `-F` still prints help). Restore the command-line order.
    let elements = option_elements(args, specs, daemon);
    let mut occurrences: Vec<((usize, usize), Occurrence)> = Vec::new();
    for s in specs {
        let name = s.letter.to_string();
        let found: Vec<(usize, Option<String>)> = if s.takes_arg {
            let with_values = matches.opt_strs_pos(&name).into_iter();
            with_values.map(|(pos, v)| (pos, Some(v))).collect()
        } else {
            let flags = matches.opt_positions(&name).into_iter();
            flags.map(|pos| (pos, None)).collect()
        };
        for (pos, value) in found {
            let within = elements.get(pos).and_then(|e| e.find(s.letter));
            let letter = Some(s.letter);
            let occ = Occurrence {
                letter,
                long: "",
                value,
            };
            occurrences.push(((pos, within.unwrap_or(0)), occ));
        }
    }
    let longs: &[&'static str] = match (daemon, json) {
        (true, _) => &[STATE_DIR, ALERTS_DIR],
        (false, true) => &[JSON],
        _ => &[],
    };
    for &long in longs {
        let found: Vec<(usize, Option<String>)> = if long == JSON {
            let flags = matches.opt_positions(long).into_iter();
            flags.map(|pos| (pos, None)).collect()
        } else {
            let with_values = matches.opt_strs_pos(long).into_iter();
            with_values.map(|(pos, v)| (pos, Some(v))).collect()
        };
        for (pos, value) in found {
            let occ = Occurrence {
                letter: None,
                long,
                value,
            };
            occurrences.push(((pos, 0), occ));
        }
    }
    crate::sort::by_key(&mut occurrences, |(k, _)| *k);
    let ordered = occurrences.into_iter().map(|(_, occ)| occ).collect();
    Ok((ordered, matches.free))
}
