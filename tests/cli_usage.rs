//! Usage errors and messages of the command line (issue 21 items 2–4), as processes on
//! loopback: every bad number or list is a usage error (exit 2) naming the flag, each
//! subcommand's help lists only the flags it uses, and messages say a thing once.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

#[path = "support/process.rs"]
mod process;

use process::{assert_exit, json_lines};

/// Runs icephone with `args`, killed after 20 s (none of these should take a second).
fn icephone(args: &[&str]) -> Output {
    let child = process::spawn_captured(Command::new(env!("CARGO_BIN_EXE_icephone")).args(args));
    finish(child)
}

fn finish(mut child: std::process::Child) -> Output {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    panic!(
        "still running after 20 s; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `args` exit 2 and stderr names `flag`.
#[track_caller]
fn usage_error(args: &[&str], flag: &str) {
    let out = icephone(args);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(flag),
        "{args:?}: stderr does not name {flag}:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

const CALL: &[&str] = &["call", "sip:bob@127.0.0.1:9", "--bind", "127.0.0.1:0"];

fn call_with(extra: &[&str]) -> Vec<String> {
    CALL.iter().chain(extra).map(|s| s.to_string()).collect()
}

#[test]
fn bad_numbers_and_lists_are_usage_errors_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--dtmf", "12X"], "--dtmf"),
        (&["--dtmf", ""], "--dtmf"),
        (&["--duration=-1"], "--duration"),
        (&["--duration", "0"], "--duration"),
        (&["--duration", "nan"], "--duration"),
        (&["--hold-after=-2"], "--hold-after"),
        (&["--hold-for", "0"], "--hold-for"),
        (&["--codecs", ""], "--codecs"),
        (&["--codecs", "gsm"], "--codecs"),
        (&["--codecs", "opus,pcmu,opus"], "--codecs"),
        (&["--codecs", "pcmu,,pcma"], "--codecs"),
        (&["--tone", "0"], "--tone"),
        (&["--tone=-440"], "--tone"),
        (&["--t1-ms", "0"], "--t1-ms"),
        (&["--tcp-max-connections", "0"], "--tcp-max-connections"),
        (&["--tcp-idle-timeout-ms", "0"], "--tcp-idle-timeout-ms"),
    ];
    for (extra, flag) in cases {
        let args = call_with(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        usage_error(&args, flag);
    }
    let answer = ["answer", "--bind", "127.0.0.1:0", "--calls", "1"];
    let cases: &[(&[&str], &str)] = &[
        (&["--max-calls", "0"], "--max-calls"),
        (&["--answer-after=-1"], "--answer-after"),
        (&["--duration", "0"], "--duration"),
        (&["--dtmf", "12X"], "--dtmf"),
    ];
    for (extra, flag) in cases {
        let args: Vec<&str> = answer.iter().chain(extra.iter()).copied().collect();
        usage_error(&args, flag);
    }
    usage_error(&["answer", "--calls", "0"], "--calls");
    usage_error(&["demo", "--seconds", "0"], "--seconds");
    usage_error(&["demo", "--tone", "0"], "--tone");
    usage_error(&["stun", "127.0.0.1:9", "--timeout", "0"], "--timeout");
    let dir = scratch("usage");
    let scenario = dir.join("s.toml");
    std::fs::write(&scenario, "").unwrap();
    let s = scenario.to_str().unwrap();
    usage_error(&["run", s, "--calls", "2", "--rate", "0"], "--rate");
    usage_error(
        &["run", s, "--calls", "2", "--concurrency", "0"],
        "--concurrency",
    );
    usage_error(&["run", s, "--calls", "0"], "--calls");
}

#[test]
fn a_bad_config_value_is_a_usage_error_naming_the_key() {
    let dir = scratch("config-values");
    for (text, key) in [
        ("t1_ms = 0", "t1_ms"),
        ("codecs = []", "codecs"),
        ("codecs = [\"gsm\"]", "codecs"),
        ("codecs = [\"pcmu\", \"PCMU\"]", "codecs"),
        ("[limits]\ntcp_max_connections = 0", "tcp_max_connections"),
    ] {
        let file = dir.join("c.toml");
        std::fs::write(&file, text).unwrap();
        let args = call_with(&["--config", file.to_str().unwrap()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        usage_error(&args, key);
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("icephone-usage-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_missing_wav_is_said_once_with_its_path() {
    let out = icephone(
        &call_with(&["--play", "/nonexistent/missing.wav"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("/nonexistent/missing.wav"), "{err}");
    assert_eq!(
        err.matches("No such file or directory").count(),
        1,
        "said once:\n{err}"
    );
}

/// A target where nothing listens fails the call locally: `origin: "local"`, no SIP
/// `status` (nobody sent one), and a human line without a SIP code. (A name that does not
/// resolve never gets that far: exit code 6, tests/cli_dns.rs.)
#[test]
fn a_local_failure_does_not_look_like_a_peer_answer() {
    let closed = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = format!("sip:bob@127.0.0.1:{closed}");
    let out = icephone(&[
        "call",
        &target,
        "--bind",
        "127.0.0.1:0",
        "--json",
        "--duration",
        "1",
    ]);
    assert_exit(&out, 4);
    let events = json_lines(&out.stdout);
    let failed = events
        .iter()
        .find(|e| e["event"] == "call" && e["state"] == "failed")
        .unwrap_or_else(|| panic!("no failed call event in {events:?}"));
    assert_eq!(failed["origin"], "local", "{failed}");
    assert!(
        failed.get("status").is_none(),
        "a local failure has no SIP status: {failed}"
    );
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(&format!("127.0.0.1:{closed}")), "{failed}");
    assert!(!stderr(&out).contains("[408]"), "{}", stderr(&out));
}

/// Warnings and errors on stderr carry no ANSI colour codes when stderr is not a terminal.
#[test]
fn no_colour_codes_when_stderr_is_not_a_terminal() {
    // A keepalive of 0 with a warning-level log: -v makes tracing print info lines too.
    let out = icephone(&[
        "call",
        "sip:bob@127.0.0.1:9",
        "--bind",
        "127.0.0.1:0",
        "-vv",
        "--duration",
        "1",
    ]);
    let err = stderr(&out);
    assert!(err.lines().count() > 2, "some log lines expected:\n{err}");
    assert!(!err.contains('\u{1b}'), "ANSI escape in stderr:\n{err}");
}

/// Each subcommand's help lists the flags it uses, grouped, with examples at the end.
#[test]
fn help_is_per_subcommand_and_grouped() {
    let help = |cmd: &str| {
        let out = icephone(&[cmd, "--help"]);
        assert_exit(&out, 0);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let register = help("register");
    for flag in [
        "--play",
        "--tone",
        "--record",
        "--dtmf",
        "--echo",
        "--stun",
        "--turn",
        "--no-ice",
        "--nomination",
        "--codecs",
        "--rtcp-mux",
        "--media-ip",
        "--alert-after-ice",
    ] {
        assert!(
            !register.contains(flag),
            "register --help lists {flag}:\n{register}"
        );
    }
    for heading in ["Account:", "Network:", "Output:", "Examples:"] {
        assert!(
            register.contains(heading),
            "register --help lacks {heading}:\n{register}"
        );
    }
    let call = help("call");
    for heading in [
        "Account:",
        "Network:",
        "ICE:",
        "Media:",
        "Output:",
        "Examples:",
    ] {
        assert!(
            call.contains(heading),
            "call --help lacks {heading}:\n{call}"
        );
    }
    for flag in ["--turn-user <", "--turn-password <"] {
        let line = call.lines().find(|l| l.contains(flag)).unwrap();
        let described = line
            .split('>')
            .nth(1)
            .is_some_and(|rest| !rest.trim().is_empty());
        assert!(described, "{flag} has no description: {line}");
    }
    assert!(!call.contains("--max-calls"), "{call}");
    let answer = help("answer");
    assert!(!answer.contains("[default: 1] [default: 1]"), "{answer}");
    assert!(!answer.contains("(default: 1) [default: 1]"), "{answer}");
    assert!(answer.contains("Examples:"), "{answer}");
    for cmd in ["demo", "run", "stun"] {
        assert!(help(cmd).contains("Examples:"), "{cmd}");
    }
}
