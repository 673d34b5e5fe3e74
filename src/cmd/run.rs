//! `icephone run SCENARIO.toml...`: run scenarios (each `repeat` times) or, with `--calls`,
//! load-test them; exit 0 only when every expectation held.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::RunArgs;
use crate::exit;
use crate::scenario::junit::{self, LoadCase, Suite};
use crate::scenario::load::{self, LoadOptions, RateControl, StatsOutput};
use crate::scenario::report::Printer;
use crate::scenario::{self, Scenario};

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut scenarios = Vec::new();
    for file in &args.files {
        match scenario::load_file(file) {
            Ok(s) => scenarios.push(s),
            Err(e) => {
                eprintln!("icephone: {e}");
                return Ok(ExitCode::from(exit::USAGE));
            }
        }
    }
    if let Some(0) = args.calls {
        eprintln!("icephone: --calls must be at least 1");
        return Ok(ExitCode::from(exit::USAGE));
    }
    if args.concurrency == 0 || !(args.rate > 0.0 && args.rate.is_finite()) {
        eprintln!("icephone: --concurrency must be at least 1 and --rate above 0");
        return Ok(ExitCode::from(exit::USAGE));
    }
    if let Some(max) = args.rate_max {
        if max < args.rate {
            eprintln!(
                "icephone: --rate-max ({max}) must be at least --rate ({})",
                args.rate
            );
            return Ok(ExitCode::from(exit::USAGE));
        }
    }
    let stats_file = match (&args.stats, args.calls) {
        (Some(path), Some(_)) => match std::fs::File::create(path)
            .and_then(|mut f| writeln!(f, "{}", load::STATS_HEADER).map(|()| f))
        {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("icephone: --stats {}: {e}", path.display());
                return Ok(ExitCode::from(exit::USAGE));
            }
        },
        (Some(_), None) => {
            eprintln!("icephone: --stats needs load mode (--calls N)");
            return Ok(ExitCode::from(exit::USAGE));
        }
        (None, _) => None,
    };
    if let Some(dir) = &args.trace_msg {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("icephone: --trace-msg {}: {e}", dir.display());
            return Ok(ExitCode::from(exit::USAGE));
        }
        for s in &mut scenarios {
            s.trace_msg = Some(dir.clone());
        }
    }
    let runtime = super::runtime()?;
    let mut suites = Vec::new();
    let mut all_passed = true;
    let mut interrupted = false;
    for s in scenarios {
        let (passed, suite) = match args.calls {
            Some(calls) => {
                let stats = match &stats_file {
                    Some(f) => Some(f.try_clone().map_err(|e| anyhow::anyhow!("--stats: {e}"))?),
                    None => None,
                };
                let (passed, stopped, suite) = runtime.block_on(load_mode(s, calls, &args, stats));
                interrupted |= stopped;
                (passed, suite)
            }
            None => runtime.block_on(scripted(s, args.json)),
        };
        all_passed &= passed;
        suites.push(suite);
        if interrupted {
            // Ctrl-C: the other scenarios are not started.
            break;
        }
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, junit::render(&suites))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    // Calls may still be tearing down in the background; they are not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    Ok(ExitCode::from(if interrupted {
        exit::INTERRUPTED
    } else if all_passed {
        exit::OK
    } else {
        exit::FAILURE
    }))
}

async fn scripted(s: Scenario, json: bool) -> (bool, Suite) {
    let file = s.path.display().to_string();
    let mut runs = Vec::new();
    let mut passed = true;
    for call in 0..u64::from(s.repeat) {
        eprintln!(
            "== {} ({file}){}",
            s.name,
            if s.repeat > 1 {
                format!(" run {}/{}", call + 1, s.repeat)
            } else {
                String::new()
            }
        );
        let printer = Printer {
            json,
            quiet: false,
            origin: Instant::now(),
        };
        let report = scenario::run_once(&s, call, printer).await;
        if report.passed() {
            eprintln!("PASS {} ({file}) in {} ms", s.name, report.elapsed_ms);
        } else {
            passed = false;
            for f in report.failures() {
                eprintln!("FAIL {}: {f}", s.name);
            }
        }
        runs.push(report);
    }
    (
        passed,
        Suite::Runs {
            file,
            scenario: s.name,
            runs,
        },
    )
}

async fn load_mode(
    s: Scenario,
    calls: u64,
    args: &RunArgs,
    stats_file: Option<std::fs::File>,
) -> (bool, bool, Suite) {
    let file = s.path.display().to_string();
    let rate = RateControl {
        rate: args.rate,
        increase: args.rate_increase.unwrap_or(0.0),
        interval: Duration::from_secs_f64(args.rate_interval),
        max: args.rate_max,
    };
    let ramp = match (args.rate_increase, args.rate_max) {
        (Some(inc), Some(max)) => {
            format!(" (+{inc}/s every {} s up to {max}/s)", args.rate_interval)
        }
        (Some(inc), None) => format!(" (+{inc}/s every {} s)", args.rate_interval),
        (None, _) => String::new(),
    };
    eprintln!(
        "== load: {} ({file}): {calls} call(s) at {}/s{ramp}, at most {} at once",
        s.name, args.rate, args.concurrency
    );
    let name = s.name.clone();
    let stats = load::run(
        Arc::new(s),
        LoadOptions {
            calls,
            rate,
            concurrency: args.concurrency,
            live: std::io::stderr().is_terminal() && std::io::stdout().is_terminal(),
            stats: stats_file.map(|file| StatsOutput {
                file,
                every: Duration::from_secs_f64(args.stats_every),
            }),
            interruptible: true,
            share_agents: !args.ua_per_run,
        },
    )
    .await;
    let summary = stats.summary();
    eprint!("{summary}");
    if args.json {
        let v = serde_json::json!({
            "event": "load_stats",
            "scenario": name,
            "attempted": stats.attempted,
            "succeeded": stats.succeeded,
            "failed": stats.failed_by_reason,
            "failed_by_code": stats.failed_by_code,
            "interrupted": stats.interrupted,
            "stopped": stats.stopped,
            "retransmissions": stats.retransmissions,
            "calls_per_second": stats.rate(),
            "setup_ms": percentiles(&stats.setup_ms),
            "ice_ms": percentiles(&stats.ice_ms),
            "cpu_user_s": stats.cpu.user.as_secs_f64(),
            "cpu_system_s": stats.cpu.system.as_secs_f64(),
            "peak_memory_kib": stats.peak_memory_kib,
        });
        println!("{v}");
    }
    let failed = stats.failed();
    (
        failed == 0 && !stats.stopped,
        stats.stopped,
        Suite::Load(LoadCase {
            file,
            scenario: name,
            seconds: stats.elapsed.as_secs_f64(),
            failed,
            summary,
        }),
    )
}

fn percentiles(v: &[u64]) -> serde_json::Value {
    serde_json::json!({
        "p50": load::percentile(v, 50.0),
        "p95": load::percentile(v, 95.0),
        "p99": load::percentile(v, 99.0),
    })
}
