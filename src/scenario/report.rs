//! What a run produced: one record per step, the first failure of each agent, and the calls'
//! outcomes; printed as each step ends (stderr, or NDJSON on stdout with `--json`).

use std::io::Write;
use std::time::Instant;

use crate::call::CallOutcome;

#[derive(Debug, Clone)]
pub struct StepRecord {
    pub agent: String,
    pub index: usize,
    pub line: usize,
    pub what: String,
    /// Since the start of the run.
    pub started_ms: u64,
    pub duration_ms: u64,
    pub error: Option<String>,
}

/// A failed expectation, named by agent, step and line.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub file: String,
    pub agent: String,
    pub index: usize,
    pub line: usize,
    pub what: String,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "agent `{}` step {} ({}:{}) `{}`: {}",
            self.agent, self.index, self.file, self.line, self.what, self.message
        )
    }
}

impl Failure {
    /// The same failure without the per-call details (for counting failures by reason).
    pub fn kind(&self) -> String {
        format!(
            "agent `{}` step {} (line {}) `{}`",
            self.agent, self.index, self.line, self.what
        )
    }
}

#[derive(Debug, Clone)]
pub struct AgentReport {
    pub name: String,
    pub steps: Vec<StepRecord>,
    pub failure: Option<Failure>,
    pub outcomes: Vec<CallOutcome>,
    /// The agent placed (rather than answered) its calls.
    pub placed_calls: bool,
    /// The last final status ≥ 300 its calls saw (sent or received), if any.
    pub final_status: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct RunReport {
    pub scenario: String,
    pub file: String,
    /// Run number (`${call}`).
    pub call: u64,
    pub agents: Vec<AgentReport>,
    pub elapsed_ms: u64,
    /// A failure outside any step (set-up, the scenario's own timeout).
    pub error: Option<String>,
}

impl RunReport {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.agents.iter().all(|a| a.failure.is_none())
    }

    /// Every failure, in agent order.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self.error.iter().cloned().collect();
        out.extend(
            self.agents
                .iter()
                .filter_map(|a| a.failure.as_ref().map(|f| f.to_string())),
        );
        out
    }

    /// The SIP response code a failed run is counted under: the final status (≥ 300) seen
    /// by the first failed agent, else by any agent; None when no call failed with one.
    pub fn failure_status(&self) -> Option<u16> {
        self.agents
            .iter()
            .filter(|a| a.failure.is_some())
            .chain(self.agents.iter())
            .find_map(|a| a.final_status)
    }

    /// Whether a graceful stop cut this run short.
    pub fn interrupted(&self) -> bool {
        self.agents.iter().any(|a| {
            a.failure
                .as_ref()
                .is_some_and(|f| f.message == super::agent::STOPPED)
        })
    }

    /// Setup and ICE times of the calls placed in this run.
    pub fn caller_times(&self) -> (Vec<u64>, Vec<u64>) {
        let placed = self
            .agents
            .iter()
            .filter(|a| a.placed_calls)
            .flat_map(|a| a.outcomes.iter());
        let mut setup = Vec::new();
        let mut ice = Vec::new();
        for o in placed {
            setup.extend(o.setup_ms);
            ice.extend(o.ice_ms);
        }
        (setup, ice)
    }
}

/// Where step lines go.
#[derive(Debug, Clone)]
pub struct Printer {
    pub json: bool,
    /// Load mode prints no step lines.
    pub quiet: bool,
    pub origin: Instant,
}

impl Printer {
    pub fn step(&self, r: &StepRecord) {
        if self.quiet {
            return;
        }
        if self.json {
            let v = serde_json::json!({
                "event": "step",
                "agent": r.agent,
                "index": r.index,
                "line": r.line,
                "step": r.what,
                "at_ms": r.started_ms,
                "ms": r.duration_ms,
                "result": if r.error.is_none() { "ok" } else { "failed" },
                "error": r.error,
            });
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let _ = writeln!(out, "{v}");
        }
        eprintln!(
            "[{:>6} ms] {:<8} #{:<2} line {:<3} {:<44} {} ({} ms)",
            r.started_ms,
            r.agent,
            r.index,
            r.line,
            r.what,
            match &r.error {
                None => "ok".to_string(),
                Some(e) => format!("FAILED: {e}"),
            },
            r.duration_ms
        );
    }
}
