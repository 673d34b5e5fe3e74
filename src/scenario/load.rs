//! Load mode (`--calls N --rate R --concurrency C`, like sipp's `-m`, `-r`, `-l`): N runs of
//! a scenario, started R per second (growing by `--rate-increase` every `--rate-interval` up
//! to `--rate-max`) with at most C at once, each a fresh set of agents on ephemeral ports.
//! A live one-screen view on a terminal, plain lines otherwise, a statistics CSV
//! (`--stats`), final stats, and a graceful stop on Ctrl-C.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Semaphore};

use super::agent::stopped;
use super::format::Scenario;
use super::report::{Printer, RunReport};
use super::usage;

/// The failure reason of runs a graceful stop cut short.
pub const INTERRUPTED: &str = "interrupted by Ctrl-C (calls hung up)";

/// How fast new runs start: `rate` per second, plus `increase` every `interval`, at most
/// `max` (sipp's -rate_increase, -rate_interval, -rate_max).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateControl {
    pub rate: f64,
    /// 0: a constant rate.
    pub increase: f64,
    pub interval: Duration,
    pub max: Option<f64>,
}

impl RateControl {
    pub fn constant(rate: f64) -> RateControl {
        RateControl {
            rate,
            increase: 0.0,
            interval: Duration::from_secs(1),
            max: None,
        }
    }

    /// The target rate `elapsed` after the start.
    pub fn at(&self, elapsed: Duration) -> f64 {
        let mut r = self.rate;
        if self.increase > 0.0 && !self.interval.is_zero() {
            let steps = (elapsed.as_secs_f64() / self.interval.as_secs_f64()).floor();
            r += self.increase * steps;
        }
        match self.max {
            Some(m) => r.min(m),
            None => r,
        }
    }
}

/// Where periodic statistics go (`--stats FILE --stats-every S`).
#[derive(Debug)]
pub struct StatsOutput {
    pub file: std::fs::File,
    pub every: Duration,
}

#[derive(Debug)]
pub struct LoadOptions {
    pub calls: u64,
    pub rate: RateControl,
    pub concurrency: usize,
    /// Redraw a one-screen view (stdout and stderr are terminals) instead of plain lines.
    pub live: bool,
    pub stats: Option<StatsOutput>,
    /// Ctrl-C stops gracefully (a second one exits at once with 130).
    pub interruptible: bool,
    /// Run every call on one SIP user agent per agent when the scenario allows it
    /// ([`super::agent_ua::shareable`]); false: each run binds its own (`--ua-per-run`).
    pub share_agents: bool,
}

#[derive(Debug, Clone, Default)]
pub struct LoadStats {
    /// Runs started.
    pub attempted: u64,
    pub succeeded: u64,
    pub failed_by_reason: BTreeMap<String, u64>,
    /// Failed runs by the final SIP status their calls saw (486, 408…).
    pub failed_by_code: BTreeMap<u16, u64>,
    /// Runs a graceful stop cut short (also counted as failed, reason [`INTERRUPTED`]).
    pub interrupted: u64,
    /// SIP retransmissions of every agent during the load.
    pub retransmissions: u64,
    pub setup_ms: Vec<u64>,
    pub ice_ms: Vec<u64>,
    pub elapsed: Duration,
    pub cpu: usage::Usage,
    pub peak_memory_kib: Option<u64>,
    /// Ctrl-C stopped the load before every call was started or ended.
    pub stopped: bool,
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

    /// Failed runs without a final SIP status (timeouts of the scenario, ICE, media…),
    /// interrupted ones apart.
    pub fn failed_without_code(&self) -> u64 {
        self.failed()
            .saturating_sub(self.interrupted)
            .saturating_sub(self.failed_by_code.values().sum::<u64>())
    }

    /// `486:3;408:1` (the stats CSV's `codes` column); empty without coded failures.
    pub fn codes_column(&self) -> String {
        self.failed_by_code
            .iter()
            .map(|(c, n)| format!("{c}:{n}"))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// `486 x3, 408 x1, no final response x2`.
    pub fn codes_text(&self) -> String {
        let mut parts: Vec<String> = self
            .failed_by_code
            .iter()
            .map(|(c, n)| format!("{c} x{n}"))
            .collect();
        let other = self.failed_without_code();
        if other > 0 {
            parts.push(format!("no final response x{other}"));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }

    /// Counts one finished run.
    pub fn add(&mut self, report: &RunReport) {
        let (setup, ice) = report.caller_times();
        if report.passed() {
            self.succeeded += 1;
            self.setup_ms.extend(setup);
            self.ice_ms.extend(ice);
            return;
        }
        let reason = if report.interrupted() {
            self.interrupted += 1;
            INTERRUPTED.to_string()
        } else {
            if let Some(code) = report.failure_status() {
                *self.failed_by_code.entry(code).or_default() += 1;
            }
            report
                .error
                .clone()
                .or_else(|| {
                    report
                        .agents
                        .iter()
                        .find_map(|a| a.failure.as_ref().map(|f| f.kind()))
                })
                .unwrap_or_else(|| "unknown".into())
        };
        *self.failed_by_reason.entry(reason).or_default() += 1;
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
        if self.stopped {
            s += "stopped by Ctrl-C: no new calls were started, the active ones were hung up\n";
        }
        for (reason, n) in &self.failed_by_reason {
            s += &format!("  failed {n}x: {reason}\n");
        }
        if self.failed() > self.interrupted {
            s += &format!("failures by response code: {}\n", self.codes_text());
        }
        s += &format!("SIP retransmissions: {}\n", self.retransmissions);
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

/// The header of the statistics CSV.
pub const STATS_HEADER: &str = "scenario,elapsed_s,current_rate,cumulative_rate,target_rate,active,attempted,succeeded,failed,interrupted,codes,retransmissions,setup_p50_ms,setup_p95_ms,setup_p99_ms,ice_p50_ms,ice_p95_ms,ice_p99_ms";

/// The state of a load at one moment, for the live view, the progress lines and the CSV.
#[derive(Debug, Clone)]
pub struct Snapshot<'a> {
    pub scenario: &'a str,
    pub stats: &'a LoadStats,
    pub elapsed: Duration,
    /// Calls asked for (`--calls`).
    pub calls: u64,
    pub active: u64,
    pub concurrency: usize,
    /// Calls started per second lately (the last interval).
    pub current_rate: f64,
    pub target_rate: f64,
}

impl Snapshot<'_> {
    fn done(&self) -> u64 {
        self.stats.succeeded + self.stats.failed()
    }

    /// Calls started per second since the start.
    pub fn cumulative_rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.stats.attempted as f64 / s
        } else {
            0.0
        }
    }

    /// One row of the statistics CSV (no newline).
    pub fn csv_row(&self) -> String {
        let p = |v: &[u64], q: f64| percentile(v, q).map(|v| v.to_string()).unwrap_or_default();
        let s = self.stats;
        [
            csv_field(self.scenario),
            format!("{:.3}", self.elapsed.as_secs_f64()),
            format!("{:.2}", self.current_rate),
            format!("{:.2}", self.cumulative_rate()),
            format!("{:.2}", self.target_rate),
            self.active.to_string(),
            s.attempted.to_string(),
            s.succeeded.to_string(),
            s.failed().to_string(),
            s.interrupted.to_string(),
            s.codes_column(),
            s.retransmissions.to_string(),
            p(&s.setup_ms, 50.0),
            p(&s.setup_ms, 95.0),
            p(&s.setup_ms, 99.0),
            p(&s.ice_ms, 50.0),
            p(&s.ice_ms, 95.0),
            p(&s.ice_ms, 99.0),
        ]
        .join(",")
    }

    /// The plain progress line (not a terminal).
    pub fn line(&self) -> String {
        format!(
            "progress: {}/{} done, ok {}, failed {} ({}), active {}, rate {:.1}/s (total {:.1}/s), retransmissions {}, {:.1} s",
            self.done(),
            self.calls,
            self.stats.succeeded,
            self.stats.failed(),
            self.stats.codes_text(),
            self.active,
            self.current_rate,
            self.cumulative_rate(),
            self.stats.retransmissions,
            self.elapsed.as_secs_f64()
        )
    }

    /// The live view: a fixed number of short lines, redrawn in place.
    pub fn live(&self) -> Vec<String> {
        let s = self.stats;
        let width = 40u64;
        let filled = (self.done() * width)
            .checked_div(self.calls)
            .unwrap_or(width);
        let bar: String = (0..width)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        let pct = |v: &[u64], q: f64| show(percentile(v, q));
        let mut lines = vec![
            format!(
                "load: {}  {:.1} s",
                self.scenario,
                self.elapsed.as_secs_f64()
            ),
            format!("[{bar}] {}/{}", self.done(), self.calls),
            format!(
                "rate: current {:.1}/s, total {:.1}/s, target {:.1}/s",
                self.current_rate,
                self.cumulative_rate(),
                self.target_rate
            ),
            format!(
                "calls: started {}, active {} (at most {}), succeeded {}, failed {}",
                s.attempted,
                self.active,
                self.concurrency,
                s.succeeded,
                s.failed()
            ),
            format!("failures by response code: {}", s.codes_text()),
            format!("SIP retransmissions: {}", s.retransmissions),
            format!(
                "setup ms: p50 {} p95 {} p99 {}   ICE ms: p50 {} p95 {} p99 {}",
                pct(&s.setup_ms, 50.0),
                pct(&s.setup_ms, 95.0),
                pct(&s.setup_ms, 99.0),
                pct(&s.ice_ms, 50.0),
                pct(&s.ice_ms, 95.0),
                pct(&s.ice_ms, 99.0)
            ),
            "setup time histogram:".to_string(),
        ];
        lines.extend(histogram(&s.setup_ms, 30));
        lines
    }
}

/// Upper bounds (ms) of the setup-time histogram's buckets; the last is open.
const BUCKETS: &[u64] = &[10, 20, 50, 100, 200, 500, 1000, 2000];

/// One line per bucket: `  < 10 ms |#####      12`.
pub fn histogram(values: &[u64], width: usize) -> Vec<String> {
    let mut counts = vec![0u64; BUCKETS.len() + 1];
    for v in values {
        let i = BUCKETS.iter().position(|b| v < b).unwrap_or(BUCKETS.len());
        counts[i] += 1;
    }
    let most = counts.iter().copied().max().unwrap_or(0).max(1);
    counts
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let label = match BUCKETS.get(i) {
                Some(b) => format!("< {b} ms"),
                None => format!(">= {} ms", BUCKETS[BUCKETS.len() - 1]),
            };
            let len = (n as usize * width).div_ceil(most as usize);
            format!("  {label:>10} |{:<width$} {n}", "#".repeat(len))
        })
        .collect()
}

/// A CSV field, quoted when it needs to be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Calls started per second over the last second or so (the live view's current rate).
#[derive(Debug, Default)]
struct RateMeter {
    samples: VecDeque<(Instant, u64)>,
}

impl RateMeter {
    fn rate(&mut self, now: Instant, started: u64, window: Duration) -> f64 {
        self.samples.push_back((now, started));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > window)
            && self.samples.len() > 2
        {
            self.samples.pop_front();
        }
        let (t0, n0) = self.samples.front().copied().unwrap_or((now, started));
        let dt = now.duration_since(t0).as_secs_f64();
        if dt > 0.0 {
            (started - n0) as f64 / dt
        } else {
            0.0
        }
    }
}

/// Redraws the live view in place on stderr.
#[derive(Debug, Default)]
struct Screen {
    drawn: usize,
}

impl Screen {
    fn draw(&mut self, lines: &[String]) {
        let mut out = String::new();
        if self.drawn > 0 {
            // Back to the first line of the previous frame, then clear to the end.
            out += &format!("\x1b[{}F\x1b[J", self.drawn);
        }
        // A line longer than the terminal would wrap and throw the redraw off.
        let width = terminal_width().map_or(usize::MAX, |w| w.saturating_sub(1).max(20));
        for l in lines {
            out.extend(l.chars().take(width));
            out += "\n";
        }
        self.drawn = lines.len();
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }
}

/// Columns of the terminal on stderr (None when it is not one).
fn terminal_width() -> Option<usize> {
    // SAFETY: TIOCGWINSZ fills the zeroed winsize we own; fd 2 stays open.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0).then_some(usize::from(ws.ws_col))
}

/// Runs the load and returns its stats. Every run is bounded by the scenario's timeout.
pub async fn run(scenario: Arc<Scenario>, mut opts: LoadOptions) -> LoadStats {
    let started = Instant::now();
    let cpu_before = usage::cpu();
    let retransmissions_before = crate::sip_driver::retransmissions();
    let permits = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let shared = if opts.share_agents && super::agent_ua::shareable(&scenario) {
        match super::agent_ua::SharedAgents::bind(&scenario).await {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                // Each run then binds its own, and reports the same error if it recurs.
                eprintln!("icephone: {e}; each run binds its own SIP user agents");
                None
            }
        }
    } else {
        None
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<RunReport>();
    let (stop_tx, stop_rx) = watch::channel(false);
    let launched = Arc::new(AtomicU64::new(0));
    let printer = Printer {
        json: false,
        quiet: true,
        origin: started,
    };
    let ctrl_c = opts.interruptible.then(|| {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            let _ = stop_tx.send(true);
            eprintln!(
                "\ninterrupted: no new calls; hanging up the active ones (Ctrl-C again exits at once)"
            );
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted again: exiting now");
                std::process::exit(crate::exit::INTERRUPTED.into());
            }
        })
    });
    let launcher = {
        let scenario = scenario.clone();
        let permits = permits.clone();
        let launched = launched.clone();
        let mut stop = stop_rx.clone();
        let (calls, rate) = (opts.calls, opts.rate);
        tokio::spawn(async move {
            let origin = tokio::time::Instant::from_std(started);
            let mut due = origin;
            for i in 0..calls {
                tokio::select! {
                    () = tokio::time::sleep_until(due) => {}
                    () = stopped(&mut stop) => return,
                }
                let permit = tokio::select! {
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => return,
                    },
                    () = stopped(&mut stop) => return,
                };
                let scenario = scenario.clone();
                let tx = tx.clone();
                let printer = printer.clone();
                let stop = stop.clone();
                let shared = shared.clone();
                launched.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let report = super::instance::run_once_until(
                        &scenario,
                        i,
                        printer,
                        Some(stop),
                        shared.as_deref(),
                    )
                    .await;
                    drop(permit);
                    let _ = tx.send(report);
                });
                // Due times add up (a run held back by the concurrency cap is caught up on),
                // each spaced by the rate in force when the previous one was due.
                let r = rate.at(due.duration_since(origin));
                due += Duration::from_secs_f64(1.0 / r.max(1e-3));
            }
        })
    };
    let mut launcher = launcher;
    let mut launcher_done = false;
    let mut stats = LoadStats::default();
    let mut done = 0u64;
    let period = Duration::from_millis(if opts.live { 250 } else { 1000 });
    let mut progress = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    progress.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let every = opts
        .stats
        .as_ref()
        .map(|s| s.every)
        .unwrap_or(Duration::from_secs(3600));
    let mut stats_tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    stats_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut meter = RateMeter::default();
    meter.samples.push_back((started, 0));
    let mut last_row = (started, 0u64);
    let mut screen = Screen::default();
    let name = scenario.name.clone();
    // Bounded: the launcher starts at most N runs, and every run ends by its own timeout.
    loop {
        if launcher_done && done >= launched.load(Ordering::Relaxed) {
            break;
        }
        tokio::select! {
            report = rx.recv() => {
                let Some(report) = report else { break };
                done += 1;
                stats.add(&report);
            }
            _ = &mut launcher, if !launcher_done => launcher_done = true,
            _ = progress.tick() => {
                let now = Instant::now();
                refresh(&mut stats, &launched, retransmissions_before);
                let current_rate = meter.rate(now, stats.attempted, Duration::from_secs(1));
                let snap = Snapshot {
                    scenario: &name,
                    stats: &stats,
                    elapsed: now - started,
                    calls: opts.calls,
                    active: stats.attempted.saturating_sub(done),
                    concurrency: opts.concurrency,
                    current_rate,
                    target_rate: opts.rate.at(now - started),
                };
                if opts.live {
                    screen.draw(&snap.live());
                } else {
                    eprintln!("{}", snap.line());
                }
            }
            _ = stats_tick.tick(), if opts.stats.is_some() => {
                let now = Instant::now();
                refresh(&mut stats, &launched, retransmissions_before);
                write_row(&mut opts, &name, &stats, started, now, &mut last_row, done);
            }
        }
    }
    stats.stopped = *stop_rx.borrow();
    if let Some(task) = ctrl_c {
        task.abort();
    }
    drop(stop_tx);
    stats.elapsed = started.elapsed();
    refresh(&mut stats, &launched, retransmissions_before);
    let now = started + stats.elapsed;
    if opts.live {
        let snap = Snapshot {
            scenario: &name,
            stats: &stats,
            elapsed: stats.elapsed,
            calls: opts.calls,
            active: 0,
            concurrency: opts.concurrency,
            current_rate: meter.rate(now, stats.attempted, Duration::from_secs(1)),
            target_rate: opts.rate.at(stats.elapsed),
        };
        screen.draw(&snap.live());
    }
    // The final row: the whole load (it agrees with the summary).
    write_row(&mut opts, &name, &stats, started, now, &mut last_row, done);
    let cpu_after = usage::cpu();
    stats.cpu = usage::Usage {
        user: cpu_after.user.saturating_sub(cpu_before.user),
        system: cpu_after.system.saturating_sub(cpu_before.system),
    };
    stats.peak_memory_kib = usage::peak_memory_kib();
    stats
}

fn refresh(stats: &mut LoadStats, launched: &AtomicU64, retransmissions_before: u64) {
    stats.attempted = launched.load(Ordering::Relaxed);
    stats.retransmissions =
        crate::sip_driver::retransmissions().saturating_sub(retransmissions_before);
}

fn write_row(
    opts: &mut LoadOptions,
    name: &str,
    stats: &LoadStats,
    started: Instant,
    now: Instant,
    last: &mut (Instant, u64),
    done: u64,
) {
    let Some(out) = opts.stats.as_mut() else {
        return;
    };
    let dt = now.duration_since(last.0).as_secs_f64();
    let current_rate = if dt > 0.0 {
        stats.attempted.saturating_sub(last.1) as f64 / dt
    } else {
        0.0
    };
    *last = (now, stats.attempted);
    let snap = Snapshot {
        scenario: name,
        stats,
        elapsed: now.duration_since(started),
        calls: opts.calls,
        active: stats.attempted.saturating_sub(done),
        concurrency: opts.concurrency,
        current_rate,
        target_rate: opts.rate.at(now.duration_since(started)),
    };
    let row = snap.csv_row();
    if let Err(e) = writeln!(out.file, "{row}").and_then(|()| out.file.flush()) {
        eprintln!("icephone: cannot write the statistics file: {e}");
        opts.stats = None;
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
    #[test]
    fn the_rate_ramps_by_steps_up_to_its_maximum() {
        let r = RateControl {
            rate: 10.0,
            increase: 5.0,
            interval: Duration::from_secs(2),
            max: Some(22.0),
        };
        assert_eq!(r.at(Duration::ZERO), 10.0);
        assert_eq!(r.at(Duration::from_millis(1999)), 10.0);
        assert_eq!(r.at(Duration::from_secs(2)), 15.0);
        assert_eq!(r.at(Duration::from_secs(5)), 20.0);
        assert_eq!(r.at(Duration::from_secs(60)), 22.0);
        assert_eq!(RateControl::constant(3.0).at(Duration::from_secs(100)), 3.0);
    }

    #[test]
    fn failures_are_counted_by_response_code() {
        let mut s = LoadStats {
            attempted: 6,
            succeeded: 1,
            ..LoadStats::default()
        };
        s.failed_by_reason.insert("a".into(), 4);
        s.failed_by_reason.insert(INTERRUPTED.into(), 1);
        s.failed_by_code.insert(486, 3);
        s.failed_by_code.insert(408, 1);
        assert_eq!(s.codes_column(), "408:1;486:3");
        assert_eq!(s.codes_text(), "408 x1, 486 x3, no final response x1");
        let text = s.summary();
        assert!(
            text.contains("failures by response code: 408 x1, 486 x3"),
            "{text}"
        );
        assert!(text.contains("SIP retransmissions: 0"), "{text}");
        assert_eq!(LoadStats::default().codes_text(), "none");
    }

    #[test]
    fn a_stats_row_has_every_column_of_the_header() {
        let mut stats = LoadStats {
            attempted: 10,
            succeeded: 8,
            retransmissions: 2,
            setup_ms: vec![5, 6, 7],
            ..LoadStats::default()
        };
        stats.failed_by_reason.insert("x".into(), 2);
        stats.failed_by_code.insert(486, 2);
        let snap = Snapshot {
            scenario: "a, \"b\"",
            stats: &stats,
            elapsed: Duration::from_secs(2),
            calls: 20,
            active: 0,
            concurrency: 4,
            current_rate: 4.0,
            target_rate: 5.0,
        };
        let row = snap.csv_row();
        let (cols, rows) = crate::scenario::data::parse_csv(&format!("{STATS_HEADER}\n{row}\n"))
            .expect("the row parses with the header");
        let get = |c: &str| rows[0][cols.iter().position(|x| x == c).unwrap()].clone();
        assert_eq!(get("scenario"), "a, \"b\"");
        assert_eq!(get("cumulative_rate"), "5.00");
        assert_eq!(get("failed"), "2");
        assert_eq!(get("codes"), "486:2");
        assert_eq!(get("retransmissions"), "2");
        assert_eq!(get("setup_p50_ms"), "6");
        assert_eq!(get("ice_p99_ms"), "");
        // The live view has a fixed height, so it can be redrawn in place.
        let empty = LoadStats::default();
        let other = Snapshot {
            stats: &empty,
            ..snap.clone()
        };
        assert_eq!(snap.live().len(), other.live().len());
        assert!(snap.live().iter().any(|l| l.contains("486 x2")));
    }

    #[test]
    fn the_histogram_puts_values_in_their_buckets() {
        let lines = histogram(&[1, 2, 15, 3000], 10);
        assert_eq!(lines.len(), BUCKETS.len() + 1);
        assert!(lines[0].contains("< 10 ms |##########") && lines[0].ends_with(" 2"));
        assert!(lines[1].ends_with(" 1"));
        assert!(lines[2].ends_with(" 0"));
        assert!(lines[8].contains(">= 2000 ms") && lines[8].ends_with(" 1"));
    }
}
