//! `boothd`, also installed as `booth` and `geostore`: hands argv to the
//! command-line parser and runs the selected mode.

use std::process::ExitCode;

use booth::check;
use booth::cli::{self, Invocation};
use booth::client;
use booth::config::Config;

fn main() -> ExitCode {
    let argv = match utf8_args() {
        Ok(argv) => argv,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::FAILURE;
        }
    };
    match cli::parse(&argv) {
        Ok(Invocation::Help { text, .. }) | Ok(Invocation::Version(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Invocation::Daemon(args)) => exit_status(booth::daemon::start::run(&args)),
        // Always 0, 1 or 7.
        Ok(Invocation::Status(args)) => exit_code(booth::daemon::status::run(&args)),
        Ok(Invocation::Client(args)) => exit_status(client::run_client(
            &args,
            &local_member,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )),
        Ok(Invocation::Geostore(args)) => exit_status(client::run_geostore(
            &args,
            &local_member,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )),
        Ok(Invocation::ConfigCheck(args)) => exit_code(check::run(&args)),
        Err(exit) => {
            print!("{}", exit.stdout);
            eprint!("{}", exit.stderr);
            exit_code(exit.code)
        }
    }
}

/// A mode's exit status as the process exit code; a status outside 0..=255
/// becomes 1, so that it never reads as success.
fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// The arguments as strings. Every option value ends up in a text field
/// (wire names, paths shown in messages), so non-UTF-8 input is refused
/// up front with a message naming the argument.
fn utf8_args() -> Result<Vec<String>, String> {
    let raw: Vec<_> = std::env::args_os().collect();
    let argv0 = raw
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| "boothd".into());
    raw.iter()
        .enumerate()
        .map(|(i, a)| {
            a.to_str().map(str::to_owned).ok_or_else(|| {
                format!(
                    "{argv0}: argument {i} is not valid UTF-8: {}",
                    a.to_string_lossy()
                )
            })
        })
        .collect()
}

/// Which configured member this host is, for the clients: an address of a
/// local interface equal to a member's, or in the same subnet.
fn local_member(config: &Config) -> Option<usize> {
    booth::daemon::addr::find_local(config, true)
        .ok()
        .flatten()
        .map(|(index, _exact)| index)
}

/// C's normalisation of a mode's return value: 0..0x70 as is, else 1.
fn exit_status(code: i32) -> ExitCode {
    match u8::try_from(code) {
        Ok(c) if c < 0x70 => ExitCode::from(c),
        _ => ExitCode::FAILURE,
    }
}
