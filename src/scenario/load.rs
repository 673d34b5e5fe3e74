//! Load mode (`--calls N --rate R --concurrency C`, like sipp's `-m`, `-r`, `-l`): N runs of
//! a scenario, started R per second with at most C at once, each a fresh set of agents on
//! ephemeral ports. Live progress on a terminal, plain lines otherwise, and final stats.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Semaphore};

use super::format::Scenario;
use super::report::{Printer, RunReport};
use super::usage;

#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    pub calls: u64,
    /// New runs per second.
    pub rate: f64,
    pub concurrency: usize,
    /// Redraw a progress bar (stderr is a terminal) instead of printing lines.
    pub tty: bool,
}

#[derive(Debug, Clone, Default)]
pub struct LoadStats {
    pub attempted: u64,
    pub succeeded: u64,
    pub failed_by_reason: BTreeMap<String, u64>,
    pub setup_ms: Vec<u64>,
    pub ice_ms: Vec<u64>,
    pub elapsed: Duration,
    pub cpu: usage::Usage,
    pub peak_memory_kib: Option<u64>,
}

impl LoadStats {
    pub fn failed(&self) -> u64 {
        self.failed_by_reason.values().sum()
    }

    /// Successful runs per second of wall time.
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.succeeded as f64 / s
        } else {
            0.0
        }
    }

    pub fn summary(&self) -> String {
        let mut s = format!(
            "calls: attempted {}, succeeded {}, failed {} in {:.2} s ({:.1} calls/s)\n",
            self.attempted,
            self.succeeded,
            self.failed(),
            self.elapsed.as_secs_f64(),
            self.rate()
        );
        for (reason, n) in &self.failed_by_reason {
            s += &format!("  failed {n}x: {reason}\n");
        }
        for (name, values) in [("setup", &self.setup_ms), ("ICE", &self.ice_ms)] {
            s += &format!(
                "{name} time ms: p50 {} p95 {} p99 {} (n={})\n",
                show(percentile(values, 50.0)),
                show(percentile(values, 95.0)),
                show(percentile(values, 99.0)),
                values.len()
            );
        }
        s += &format!(
            "CPU time: user {:.2} s, system {:.2} s; peak memory (VmHWM): {}\n",
            self.cpu.user.as_secs_f64(),
            self.cpu.system.as_secs_f64(),
            self.peak_memory_kib
                .map(|k| format!("{k} KiB"))
                .unwrap_or_else(|| "unknown".into())
        );
        s
    }
}

fn show(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// Nearest-rank percentile (None for no values).
pub fn percentile(values: &[u64], p: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Runs the load and returns its stats. Every run is bounded by the scenario's timeout.
pub async fn run(scenario: Arc<Scenario>, opts: LoadOptions) -> LoadStats {
    let started = Instant::now();
    let cpu_before = usage::cpu();
    let permits = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let (tx, mut rx) = mpsc::unbounded_channel::<RunReport>();
    let printer = Printer {
        json: false,
        quiet: true,
        origin: started,
    };
    let interval = if opts.rate > 0.0 {
        Duration::from_secs_f64(1.0 / opts.rate)
    } else {
        Duration::ZERO
    };
    let launcher = {
        let scenario = scenario.clone();
        let permits = permits.clone();
        tokio::spawn(async move {
            for i in 0..opts.calls {
                let due = tokio::time::Instant::from_std(started) + interval.mul_f64(i as f64);
                tokio::time::sleep_until(due).await;
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let scenario = scenario.clone();
                let tx = tx.clone();
                let printer = printer.clone();
                tokio::spawn(async move {
                    let report = super::run_once(&scenario, i, printer).await;
                    drop(permit);
                    let _ = tx.send(report);
                });
            }
        })
    };
    let mut stats = LoadStats {
        attempted: opts.calls,
        ..LoadStats::default()
    };
    let mut done = 0u64;
    let mut progress =
        tokio::time::interval(Duration::from_millis(if opts.tty { 200 } else { 1000 }));
    progress.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Bounded: every run ends by its own timeout, so N reports arrive.
    while done < opts.calls {
        tokio::select! {
            report = rx.recv() => {
                let Some(report) = report else { break };
                done += 1;
                let (setup, ice) = report.caller_times();
                if report.passed() {
                    stats.succeeded += 1;
                    stats.setup_ms.extend(setup);
                    stats.ice_ms.extend(ice);
                } else {
                    let reason = report
                        .error
                        .clone()
                        .or_else(|| report.agents.iter().find_map(|a| a.failure.as_ref().map(|f| f.kind())))
                        .unwrap_or_else(|| "unknown".into());
                    *stats.failed_by_reason.entry(reason).or_default() += 1;
                }
            }
            _ = progress.tick() => show_progress(&stats, done, opts, started, permits.available_permits()),
        }
    }
    let _ = launcher.await;
    show_progress(&stats, done, opts, started, opts.concurrency);
    if opts.tty {
        eprintln!();
    }
    stats.elapsed = started.elapsed();
    let cpu_after = usage::cpu();
    stats.cpu = usage::Usage {
        user: cpu_after.user.saturating_sub(cpu_before.user),
        system: cpu_after.system.saturating_sub(cpu_before.system),
    };
    stats.peak_memory_kib = usage::peak_memory_kib();
    stats
}

fn show_progress(stats: &LoadStats, done: u64, opts: LoadOptions, started: Instant, free: usize) {
    let active = opts.concurrency.saturating_sub(free);
    let secs = started.elapsed().as_secs_f64();
    if opts.tty {
        let width = 30u64;
        let filled = (done * width).checked_div(opts.calls).unwrap_or(width);
        let bar: String = (0..width)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        eprint!(
            "\r[{bar}] {done}/{} ok {} failed {} active {active} {secs:.1} s ",
            opts.calls,
            stats.succeeded,
            stats.failed()
        );
        let _ = std::io::stderr().flush();
    } else {
        eprintln!(
            "progress: {done}/{} done, ok {}, failed {}, active {active}, {secs:.1} s",
            opts.calls,
            stats.succeeded,
            stats.failed()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 95.0), Some(95));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[30, 10, 20], 50.0), Some(20));
    }

    #[test]
    fn summary_lists_failures_by_reason() {
        let mut s = LoadStats {
            attempted: 3,
            succeeded: 1,
            setup_ms: vec![10],
            elapsed: Duration::from_secs(1),
            ..LoadStats::default()
        };
        s.failed_by_reason.insert("agent `a` step 2".into(), 2);
        let text = s.summary();
        assert!(
            text.contains("attempted 3, succeeded 1, failed 2"),
            "{text}"
        );
        assert!(text.contains("failed 2x: agent `a` step 2"), "{text}");
        assert!(text.contains("setup time ms: p50 10"), "{text}");
    }
}
