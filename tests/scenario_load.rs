//! Load mode of `icephone run` (issue 20 part B): per-call CSV data, the statistics CSV,
//! failures by response code, the rate ramp, the live view on a terminal and the graceful
//! Ctrl-C. Loopback only; every load is bounded in calls and time.

mod scenario_support;

#[path = "support/process.rs"]
mod process;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use scenario_support::*;

/// The statistics CSV as (header, rows).
fn read_stats(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).expect("stats file written");
    icephone::scenario::data::parse_csv(&text)
        .unwrap_or_else(|e| panic!("the stats file is not CSV ({e:?}):\n{text}"))
}

fn col<'a>(header: &[String], row: &'a [String], name: &str) -> &'a str {
    let i = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    &row[i]
}

fn num(header: &[String], row: &[String], name: &str) -> f64 {
    col(header, row, name)
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e} in {row:?}"))
}

/// `p50 4 p95 13 p99 16` of the summary line starting with `prefix`, as CSV cells.
fn percentiles_of(summary: &str, prefix: &str) -> [String; 3] {
    let line = summary
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{summary}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |k: &str| {
        let i = words.iter().position(|w| *w == k).expect("percentile");
        match words[i + 1] {
            "-" => String::new(),
            v => v.to_string(),
        }
    };
    [after("p50"), after("p95"), after("p99")]
}

/// Waits for `child` at most `limit`; kills it (by its PID, via the handle) on overrun.
fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "still running after {limit:?}; stderr:\n{}",
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigint(child: &Child) {
    // SAFETY: kill(2) on the PID of a child we started and have not reaped yet.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0, "kill -INT {}", child.id());
}

fn spawn_icephone(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_icephone"))
        .current_dir(root())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("icephone starts")
}

#[test]
fn csv_rows_give_each_agent_its_user() {
    // per_agent: callee (index 0) and caller (index 1) take rows 0,1 then 2,3.
    let out = icephone(&["run", "scenarios/csv-users.toml", "--json"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("call sip:carol@127.0.0.1:"), "{err}");
    assert!(err.contains("call sip:erin@127.0.0.1:"), "{err}");
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let registered: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "registered")
        .filter_map(|e| e["aor"].as_str())
        .collect();
    assert_eq!(registered, ["sip:carol@127.0.0.1", "sip:erin@127.0.0.1"]);

    // Sequential: every agent of run N sees row N % rows; the rows cycle.
    let dir = temp_path("csv-seq", "d");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("u.csv"), "user,tone\nann,440\n\"bob\",880\n").expect("csv");
    let file = dir.join("seq.toml");
    std::fs::write(
        &file,
        r#"repeat = 3
[data]
csv = "u.csv"
[agents.alice]
tone = 500
steps = [
  { call = "sip:${csv.user}-${bob.csv.tone}@${bob.address}" },
  { expect = "call.established", timeout_ms = 3000 },
  { hangup = true },
]
[agents.bob]
aor = "sip:${csv.user}@127.0.0.1"
tone = "${csv.tone}"
steps = [{ answer = true }, { expect_hangup = true, timeout_ms = 5000 }]
"#,
    )
    .expect("scenario");
    let out = icephone(&["run", s(&file)]);
    let err = text(&out.stderr);
    // `tone` is a number: a string from the CSV there is refused before anything runs.
    assert_eq!(out.status.code(), Some(2), "{err}");
    let fixed = std::fs::read_to_string(&file)
        .expect("scenario")
        .replace("tone = \"${csv.tone}\"\n", "");
    std::fs::write(&file, fixed).expect("scenario");
    let out = icephone(&["run", s(&file)]);
    let err = text(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let calls: Vec<&str> = err
        .lines()
        .filter_map(|l| l.split("  call ").nth(1))
        .map(|c| c.split('@').next().unwrap_or(""))
        .collect();
    assert_eq!(
        calls,
        ["sip:ann-440", "sip:bob-880", "sip:ann-440"],
        "{err}"
    );
}

#[test]
fn bad_csv_data_is_a_usage_error_naming_file_and_line() {
    let dir = temp_path("csv-bad", "d");
    std::fs::create_dir_all(&dir).expect("dir");
    let scenario = |csv: &str, column: &str| {
        format!(
            "[data]\ncsv = \"{csv}\"\norder = \"random\"\n\n[agents.a]\naor = \"sip:${{csv.{column}}}@127.0.0.1\"\nsteps = [{{ wait_ms = 1 }}]\n"
        )
    };
    let cases: [(&str, Option<&str>, &str, &str, String); 5] = [
        // (csv file name, its contents, column used, what the message names, expected)
        ("gone.csv", None, "user", "no file", "s.toml:2:".into()),
        (
            "u.csv",
            Some("user,pw\na,1\n"),
            "usr",
            "unknown column `usr`",
            "s.toml:6:".into(),
        ),
        (
            "ragged.csv",
            Some("user,pw\na,1\nb\n"),
            "user",
            "1 field(s), the header has 2",
            "ragged.csv:3:".into(),
        ),
        (
            "empty.csv",
            Some(""),
            "user",
            "empty file",
            "empty.csv:1:".into(),
        ),
        (
            "header.csv",
            Some("user\n"),
            "user",
            "no data rows",
            "header.csv:1:".into(),
        ),
    ];
    for (csv, contents, column, message, at) in cases {
        if let Some(c) = contents {
            std::fs::write(dir.join(csv), c).expect("csv");
        }
        let file = dir.join("s.toml");
        std::fs::write(&file, scenario(csv, column)).expect("scenario");
        let out = icephone(&["run", s(&file)]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{csv}: {err}");
        assert!(err.contains(message), "{csv}: `{message}` not in {err}");
        assert!(err.contains(&at), "{csv}: `{at}` not in {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // An unknown order, and ${csv.X} without [data].
    let file = dir.join("o.toml");
    std::fs::write(
        &file,
        "[data]\ncsv = \"u.csv\"\norder = \"shuffled\"\n[agents.a]\nsteps = [{ wait_ms = 1 }]\n",
    )
    .expect("scenario");
    let out = icephone(&["run", s(&file)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("o.toml:3: [data] order `shuffled`"));
    std::fs::write(
        &file,
        "[agents.a]\nsteps = [\n  { call = \"${csv.user}\" },\n]\n",
    )
    .expect("scenario");
    let out = icephone(&["run", s(&file)]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("o.toml:3: `${csv.user}` is used but there is no [data]"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn csv_users_in_load_mode_all_succeed() {
    let out = icephone(&[
        "run",
        "scenarios/csv-users.toml",
        "--calls",
        "6",
        "--rate",
        "20",
        "--concurrency",
        "3",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("attempted 6, succeeded 6, failed 0"), "{err}");
}

#[test]
fn the_rate_ramps_and_the_last_stats_row_agrees_with_the_summary() {
    let stats = temp_path("stats", "csv");
    let out = icephone(&[
        "run",
        "scenarios/load-small.toml",
        "--calls",
        "60",
        "--rate",
        "5",
        "--rate-increase",
        "10",
        "--rate-interval",
        "1",
        "--rate-max",
        "25",
        "--concurrency",
        "20",
        "--stats",
        s(&stats),
        "--stats-every",
        "0.5",
    ]);
    let err = text(&out.stderr);
    let (header, rows) = read_stats(&stats);
    let _ = std::fs::remove_file(&stats);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("(+10/s every 1 s up to 25/s)"), "{err}");
    assert!(rows.len() >= 5, "periodic rows and a final one: {rows:?}");
    // The target rate steps 5 → 15 → 25 and stops there; calls really start faster.
    let targets: Vec<f64> = rows
        .iter()
        .map(|r| num(&header, r, "target_rate"))
        .collect();
    assert_eq!(targets[0], 5.0, "{targets:?}");
    assert!(targets.windows(2).all(|w| w[0] <= w[1]), "{targets:?}");
    assert_eq!(*targets.last().unwrap(), 25.0, "{targets:?}");
    assert!(targets.contains(&15.0), "{targets:?}");
    let current: Vec<f64> = rows
        .iter()
        .map(|r| num(&header, r, "current_rate"))
        .collect();
    let first = current[0];
    let fastest = current.iter().cloned().fold(0.0, f64::max);
    assert!(
        first <= 8.0,
        "the first half second runs at ~5/s: {current:?}"
    );
    assert!(fastest >= 15.0, "later rows run at 15-25/s: {current:?}");
    let elapsed: Vec<f64> = rows.iter().map(|r| num(&header, r, "elapsed_s")).collect();
    assert!(elapsed.windows(2).all(|w| w[0] < w[1]), "{elapsed:?}");

    // The final row is the summary's numbers.
    let last = rows.last().unwrap();
    assert_eq!(col(&header, last, "scenario"), "small load");
    assert_eq!(col(&header, last, "attempted"), "60");
    assert_eq!(col(&header, last, "succeeded"), "60");
    assert_eq!(col(&header, last, "failed"), "0");
    assert_eq!(col(&header, last, "active"), "0");
    assert_eq!(col(&header, last, "codes"), "");
    assert!(
        err.contains("attempted 60, succeeded 60, failed 0"),
        "{err}"
    );
    let retrans = err
        .lines()
        .find_map(|l| l.strip_prefix("SIP retransmissions: "))
        .unwrap_or_else(|| panic!("no retransmissions line in {err}"));
    assert_eq!(col(&header, last, "retransmissions"), retrans);
    let setup = percentiles_of(&err, "setup time ms:");
    assert!(!setup[0].is_empty(), "{err}");
    assert_eq!(
        [
            col(&header, last, "setup_p50_ms"),
            col(&header, last, "setup_p95_ms"),
            col(&header, last, "setup_p99_ms")
        ],
        setup.each_ref().map(String::as_str)
    );
    let ice = percentiles_of(&err, "ICE time ms:");
    assert_eq!(
        [
            col(&header, last, "ice_p50_ms"),
            col(&header, last, "ice_p95_ms"),
            col(&header, last, "ice_p99_ms")
        ],
        ice.each_ref().map(String::as_str)
    );
    let wall = err
        .lines()
        .find_map(|l| {
            l.split(" in ")
                .nth(1)?
                .split(" s (")
                .next()?
                .parse::<f64>()
                .ok()
        })
        .expect("elapsed in the summary");
    assert!(
        (num(&header, last, "elapsed_s") - wall).abs() < 0.05,
        "{wall} vs {last:?}"
    );
}

const BUSY: &str = r#"[agents.alice]
steps = [
  { call = "${bob.uri}" },
  { expect = "call.established", timeout_ms = 2000 },
]

[agents.bob]
steps = [{ answer = 486 }]
"#;

#[test]
fn failures_are_counted_by_response_code() {
    let file = write_temp("load-busy", BUSY);
    let stats = temp_path("busy-stats", "csv");
    let out = icephone(&[
        "run",
        s(&file),
        "--calls",
        "3",
        "--rate",
        "50",
        "--concurrency",
        "3",
        "--stats",
        s(&stats),
        "--json",
    ]);
    let err = text(&out.stderr);
    let (header, rows) = read_stats(&stats);
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&stats);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("attempted 3, succeeded 0, failed 3"), "{err}");
    assert!(err.contains("failures by response code: 486 x3"), "{err}");
    let last = rows.last().expect("a final row");
    assert_eq!(col(&header, last, "codes"), "486:3");
    assert_eq!(col(&header, last, "failed"), "3");
    let stdout = text(&out.stdout);
    let load: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "load_stats")
        .unwrap_or_else(|| panic!("no load_stats in {stdout}"));
    assert_eq!(load["failed_by_code"]["486"], 3, "{load}");
    assert!(load["retransmissions"].as_u64().is_some(), "{load}");
}

#[test]
fn bad_load_flags_are_usage_errors() {
    for (args, phrase) in [
        (
            &["--calls", "2", "--rate", "10", "--rate-max", "5"][..],
            "--rate-max (5) must be at least --rate (10)",
        ),
        (&["--stats", "/tmp/x.csv"][..], "--stats needs load mode"),
        (
            &["--calls", "2", "--stats", "/nonexistent-dir/x.csv"][..],
            "--stats /nonexistent-dir/x.csv",
        ),
        (
            &["--calls", "2", "--rate-increase", "0"][..],
            "rate-increase",
        ),
        (&["--calls", "2", "--stats-every", "0"][..], "stats-every"),
    ] {
        let mut all = vec!["run", "scenarios/load-small.toml"];
        all.extend_from_slice(args);
        let out = icephone(&all);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(phrase), "{args:?}: `{phrase}` not in {err}");
    }
}

#[test]
fn ctrl_c_stops_starting_calls_and_hangs_up_the_active_ones() {
    // The callee is a separate `icephone answer`: its events show how each call ended.
    let port = process::free_udp_port();
    let answer = spawn_icephone(&[
        "answer",
        "--json",
        "--bind",
        &format!("127.0.0.1:{port}"),
        "--aor",
        "sip:bob@127.0.0.1",
        "--max-calls",
        "8",
    ]);
    process::wait_listening(port);
    let file = write_temp(
        "ctrl-c",
        &format!(
            r#"timeout_ms = 20000
[agents.alice]
aor = "sip:alice-${{call}}@127.0.0.1"
steps = [
  {{ call = "sip:bob@127.0.0.1:{port}" }},
  {{ expect = "call.established", timeout_ms = 3000 }},
  {{ wait_ms = 8000 }},
  {{ hangup = true }},
]
"#
        ),
    );
    let stats = temp_path("ctrl-c-stats", "csv");
    let started = Instant::now();
    let run = spawn_icephone(&[
        "run",
        s(&file),
        "--calls",
        "40",
        "--rate",
        "10",
        "--concurrency",
        "4",
        "--stats",
        s(&stats),
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    sigint(&run);
    let out = wait_bounded(run, Duration::from_secs(20));
    let took = started.elapsed();
    let err = text(&out.stderr);
    let (header, rows) = read_stats(&stats);
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&stats);
    // The answerer has nothing more to do: stop it (by its PID) and read its events.
    sigint(&answer);
    let answer_out = text(&wait_bounded(answer, Duration::from_secs(10)).stdout);

    assert_eq!(out.status.code(), Some(130), "{err}");
    // Calls hold 8 s: the run ended on the interrupt, not by finishing them.
    assert!(took < Duration::from_secs(8), "{took:?}\n{err}");
    assert!(err.contains("interrupted: no new calls"), "{err}");
    assert!(err.contains("stopped by Ctrl-C"), "{err}");
    let attempted: u64 = err
        .lines()
        .find_map(|l| {
            l.strip_prefix("calls: attempted ")?
                .split(',')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no summary in {err}"));
    assert!((1..40).contains(&attempted), "{err}");
    assert!(
        err.contains(&format!("failed {attempted}x: interrupted by Ctrl-C")),
        "{err}"
    );
    let last = rows.last().expect("a final stats row");
    assert_eq!(col(&header, last, "attempted"), attempted.to_string());
    assert_eq!(col(&header, last, "interrupted"), attempted.to_string());
    assert_eq!(col(&header, last, "active"), "0");

    // Every call that was answered was hung up by the runner (BYE): none was left up.
    let events: Vec<serde_json::Value> = answer_out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &serde_json::Value| e["event"] == "call")
        .collect();
    let established = events
        .iter()
        .filter(|e| e["state"] == "established")
        .count();
    let hung_up = events
        .iter()
        .filter(|e| e["state"] == "ended" && e["reason"] == "remote hung up")
        .count();
    assert!(established >= 1, "{answer_out}");
    assert_eq!(established as u64, attempted, "{answer_out}");
    assert_eq!(hung_up, established, "{answer_out}");
}

#[test]
fn a_second_ctrl_c_exits_at_once() {
    // A peer that never answers: the INVITEs stay unanswered, so the graceful stop has to
    // wait for the hang-ups (bounded, 3 s) and a second Ctrl-C cuts that short.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let port = silent.local_addr().expect("addr").port();
    let file = write_temp(
        "ctrl-c-twice",
        &format!(
            r#"timeout_ms = 20000
[agents.alice]
steps = [
  {{ call = "sip:nobody@127.0.0.1:{port}" }},
  {{ expect = "call.established", timeout_ms = 15000 }},
]
"#
        ),
    );
    let run = spawn_icephone(&[
        "run",
        s(&file),
        "--calls",
        "20",
        "--rate",
        "10",
        "--concurrency",
        "5",
    ]);
    std::thread::sleep(Duration::from_millis(1200));
    sigint(&run);
    std::thread::sleep(Duration::from_millis(300));
    let second = Instant::now();
    sigint(&run);
    let out = wait_bounded(run, Duration::from_secs(10));
    let _ = std::fs::remove_file(&file);
    drop(silent);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        second.elapsed() < Duration::from_secs(1),
        "{:?}",
        second.elapsed()
    );
    assert!(err.contains("interrupted: no new calls"), "{err}");
    assert!(err.contains("interrupted again: exiting now"), "{err}");
    // No graceful end: no report.
    assert!(!err.contains("calls: attempted"), "{err}");
}

#[test]
fn the_live_view_is_redrawn_on_a_terminal() {
    // `script` gives the run a pseudo-terminal for stdout and stderr.
    let out = Command::new("timeout")
        .args(["60", "script", "-q", "-e", "-c"])
        .arg(format!(
            "{} run scenarios/load-small.toml --calls 12 --rate 10 --concurrency 4",
            env!("CARGO_BIN_EXE_icephone")
        ))
        .arg("/dev/null")
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("script runs");
    let all = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        !all.contains("progress: "),
        "no plain lines on a terminal:\n{all}"
    );
    for phrase in [
        "setup time histogram:",
        "rate: current ",
        "failures by response code: none",
        "SIP retransmissions: 0",
        "] 12/12",
    ] {
        assert!(all.contains(phrase), "`{phrase}` missing:\n{all}");
    }
    // Redrawn in place: back up to the first line of the frame and clear.
    assert!(all.contains("F\u{1b}[J"), "{all:?}");
    assert!(
        all.contains("attempted 12, succeeded 12, failed 0"),
        "{all}"
    );
}

#[test]
fn sip_retransmissions_are_counted_in_the_summary_and_the_stats() {
    // Nobody answers the INVITE: Timer A sends it again at 0.5 and 1.5 s (RFC 3261
    // §17.1.1.2) before the expectation gives up at 2 s.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let port = silent.local_addr().expect("addr").port();
    let file = write_temp(
        "retransmit",
        &format!(
            r#"timeout_ms = 10000
[agents.alice]
steps = [
  {{ call = "sip:nobody@127.0.0.1:{port}" }},
  {{ expect = "call.established", timeout_ms = 2000 }},
]
"#
        ),
    );
    let stats = temp_path("retransmit-stats", "csv");
    let out = icephone(&["run", s(&file), "--calls", "1", "--stats", s(&stats)]);
    let err = text(&out.stderr);
    let (header, rows) = read_stats(&stats);
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&stats);
    drop(silent);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let counted: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("SIP retransmissions: ")?.parse().ok())
        .unwrap_or_else(|| panic!("no retransmissions line in {err}"));
    assert!(counted >= 2, "{err}");
    let last = rows.last().expect("a final row");
    assert_eq!(col(&header, last, "retransmissions"), counted.to_string());
    assert!(
        err.contains("failures by response code: no final response x1"),
        "{err}"
    );
}

/// Two agents on fixed SIP ports: only one user agent per agent for the whole load can
/// bind them, so the load succeeding shows the runs share them; with `--ua-per-run` every
/// run binds its own and the runs in flight at once collide on the ports.
fn fixed_port_scenario() -> String {
    let port = |socket: std::net::UdpSocket| socket.local_addr().unwrap().port();
    let uac = port(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
    let uas = port(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
    format!(
        r#"name = "fixed ports"
timeout_ms = 10000
[agents.uac]
ice = false
bind = "127.0.0.1:{uac}"
steps = [
  {{ call = "${{uas.uri}}" }},
  {{ expect = "call.established", timeout_ms = 5000 }},
  {{ hangup = true }},
  {{ expect = "call.ended", timeout_ms = 5000 }},
]
[agents.uas]
ice = false
bind = "127.0.0.1:{uas}"
steps = [{{ answer = true }}, {{ expect_hangup = true, timeout_ms = 5000 }}]
"#
    )
}

#[test]
fn load_runs_share_one_user_agent_per_agent_unless_told_otherwise() {
    let file = write_temp("load-fixed-ports", &fixed_port_scenario());
    let args = ["--calls", "200", "--rate", "1000", "--concurrency", "20"];
    let shared = icephone(&[&["run", s(&file)][..], &args[..]].concat());
    let err = text(&shared.stderr);
    assert_eq!(shared.status.code(), Some(0), "{err}");
    assert!(
        err.contains("attempted 200, succeeded 200, failed 0"),
        "{err}"
    );

    let per_run = icephone(&[&["run", s(&file), "--ua-per-run"][..], &args[..]].concat());
    let _ = std::fs::remove_file(&file);
    let err = text(&per_run.stderr);
    assert_eq!(per_run.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot bind SIP"), "{err}");
}
