//! The scenario file (TOML, documented in `scenarios/README.md`): agents, their ordered steps
//! and assertions. Steps keep the line they were written on, so a failure can name it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sip::endpoint::HeaderEdits;
use thiserror::Error;
use toml::Spanned;

use crate::signalling::control::MessageEdits;

#[derive(Debug, Error)]
pub enum FormatError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Toml { path: String, message: String },
    #[error("{path}:{line}: agent `{agent}`, step {index}: {message}")]
    Step {
        path: String,
        line: usize,
        agent: String,
        index: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// `[data]`: a CSV problem (at the CSV file's line) or a use of a column the CSV
    /// file does not have (at the scenario's line).
    #[error("{path}:{line}: {message}")]
    Data {
        path: String,
        line: usize,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    #[serde(default = "one")]
    repeat: u32,
    #[serde(default = "default_scenario_timeout")]
    timeout_ms: u64,
    #[serde(default)]
    variables: BTreeMap<String, toml::Value>,
    registrar: Option<RegistrarSpec>,
    data: Option<RawData>,
    agents: BTreeMap<String, RawAgent>,
}

/// `[data]`: per-call values from a CSV file (path relative to the scenario file).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    csv: Spanned<String>,
    order: Option<Spanned<String>>,
    #[serde(default)]
    seed: u64,
}

fn one() -> u32 {
    1
}

fn default_scenario_timeout() -> u64 {
    30_000
}

/// `[registrar]`: start the runner's own registrar/proxy on loopback for each run;
/// `${registrar}` is its address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrarSpec {
    #[serde(default = "loopback_any")]
    pub bind: String,
}

fn loopback_any() -> String {
    "127.0.0.1:0".into()
}

/// An agent's account, transport and ICE options; string fields may use `${variables}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// Address of record (default `sip:NAME@IP`).
    pub aor: Option<String>,
    pub password: Option<String>,
    pub auth_user: Option<String>,
    /// Outbound proxy / registrar HOST:PORT.
    pub proxy: Option<String>,
    /// `udp`, `tcp` (a TCP listener shares the UDP port) or `tls` (no listener; the proxy's
    /// certificate is verified against its host as written).
    #[serde(default = "udp")]
    pub transport: String,
    /// PEM file of CA certificates trusted for SIP over TLS, besides the system's.
    pub tls_ca: Option<String>,
    /// SIP bind address (default 127.0.0.1:0).
    #[serde(default = "loopback_any")]
    pub bind: String,
    /// Host candidate IPs, first signalled as default (default: the bind IP).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Inbound media on these IPs is dropped (a firewalled interface: forces ICE to pick
    /// another pair than the default, hence an updated offer).
    #[serde(default)]
    pub blocked: Vec<String>,
    /// Network namespace (`ip netns` name) all of this agent's sockets are made in; with
    /// an unspecified bind IP the namespace's route toward the proxy picks the address.
    pub netns: Option<String>,
    pub stun: Option<String>,
    pub turn: Option<String>,
    pub turn_user: Option<String>,
    pub turn_password: Option<String>,
    /// `udp`, `tcp` or `tls` (or a `turn:`/`turns:` URI in `turn`).
    pub turn_transport: Option<String>,
    #[serde(default = "yes")]
    pub ice: bool,
    /// `regular` or `aggressive`.
    #[serde(default = "regular")]
    pub nomination: String,
    #[serde(default = "yes")]
    pub rtcp_mux: bool,
    /// SRTP for the media: `off`, `sdes`, `optional` or `dtls`, as `--srtp`.
    #[serde(default = "srtp_off")]
    pub srtp: String,
    /// With `srtp = "dtls"`: `active`, `passive` or `actpass`, as `--dtls-setup`.
    #[serde(default = "actpass")]
    pub dtls_setup: String,
    /// Codecs in preference order, as `--codecs` (`["opus", "g722", "pcmu", "pcma"]`, any
    /// order or subset); default pcmu, pcma.
    pub codecs: Option<Vec<String>>,
    /// Give up on ICE after this long.
    #[serde(default = "default_ice_timeout")]
    pub ice_timeout_ms: u64,
    /// List UPDATE in Allow (false: the peer changes the session by re-INVITE).
    #[serde(default = "yes")]
    pub allow_update: bool,
    /// CRLFCRLF keepalives on flows outbound does not cover, every this many seconds (0: off),
    /// as the softphone's `--keepalive`.
    #[serde(default = "default_keepalive")]
    pub keepalive: u64,
    /// RFC 5626 outbound on the agent's registration (`--outbound`).
    #[serde(default = "yes")]
    pub outbound: bool,
    /// Contact learning from received/rport (`--contact-rewrite`).
    #[serde(default = "yes")]
    pub contact_rewrite: bool,
    /// Audio sent from the start: a sine tone in Hz, or a WAV file.
    pub tone: Option<f64>,
    pub play: Option<String>,
    /// Header edits on every response the agent sends (checked into [`Agent::response_edits`]).
    pub response_headers: Option<HeaderSpec>,
}

/// `headers = { add = [...], replace = [...], remove = [...] }` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderSpec {
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub replace: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

impl HeaderSpec {
    /// The edits, or the first line that is not `Name: value` (or not a name, in `remove`).
    pub fn check(&self) -> Result<HeaderEdits, String> {
        let lines = |list: &[String]| -> Result<Vec<(sip::message::HeaderName, String)>, String> {
            list.iter()
                .map(|l| HeaderEdits::parse_line(l).map_err(|e| e.to_string()))
                .collect()
        };
        Ok(HeaderEdits {
            remove: self
                .remove
                .iter()
                .map(|n| HeaderEdits::parse_name(n).map_err(|e| e.to_string()))
                .collect::<Result<_, _>>()?,
            replace: lines(&self.replace)?,
            add: lines(&self.add)?,
        })
    }
}

fn udp() -> String {
    "udp".into()
}
fn yes() -> bool {
    true
}
fn regular() -> String {
    "regular".into()
}
fn srtp_off() -> String {
    "off".into()
}
fn actpass() -> String {
    "actpass".into()
}
fn default_keepalive() -> u64 {
    crate::config::DEFAULT_KEEPALIVE.as_secs()
}
fn default_ice_timeout() -> u64 {
    10_000
}

#[derive(Debug, Deserialize)]
struct RawAgent {
    #[serde(flatten)]
    spec: toml::Table,
    #[serde(default)]
    steps: Vec<Spanned<toml::Table>>,
}

/// A loaded scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub path: PathBuf,
    pub name: String,
    pub repeat: u32,
    pub timeout_ms: u64,
    pub variables: BTreeMap<String, Variable>,
    pub registrar: Option<RegistrarSpec>,
    /// `[data]`: the CSV rows runs take their `${csv.COLUMN}` values from.
    pub data: Option<super::data::Data>,
    pub agents: Vec<Agent>,
    /// `--trace-msg DIR`: each run's SIP messages, one log per agent (set by the command).
    pub trace_msg: Option<PathBuf>,
}

/// A fixed value, or a list picked per call (element `call % len`).
#[derive(Debug, Clone, PartialEq)]
pub enum Variable {
    Fixed(String),
    PerCall(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub name: String,
    pub spec: AgentSpec,
    pub steps: Vec<Step>,
    /// `response_headers`, checked.
    pub response_edits: HeaderEdits,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// 1-based line of the step in the file.
    pub line: usize,
    /// 1-based position in the agent's list.
    pub index: usize,
    pub action: Action,
    /// `headers = {...}` and `sdp = {...}`: edits of the message the step sends.
    pub edits: MessageEdits,
}

/// What a step does. Strings are substituted (`${var}`) when the step runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Register {
        expires: u32,
    },
    Call {
        target: String,
    },
    Answer {
        status: u16,
        delay_ms: u64,
    },
    Expect(Expectation),
    Dtmf {
        digits: String,
    },
    Play {
        file: String,
    },
    Tone {
        hz: f64,
    },
    Wait {
        ms: u64,
    },
    Hold,
    Resume,
    Update,
    /// ICE restart on command (RFC 8445 §9).
    IceRestart,
    HangUp,
    Assert(Assertion),
    /// `expect`/`expect_not` on the SIP messages the agent received.
    ExpectMessage(MessageExpectation),
    /// A hand-written message from the agent's SIP socket (sipp's `<send>`).
    Send {
        template: String,
        to: String,
        transport: String,
    },
}

/// A regular expression compared by its text (steps compare in tests). SIP text patterns
/// are multi-line with CRLF line ends: `^` and `$` match at each line.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Pattern {
    pub fn new(text: &str) -> Result<Pattern, String> {
        regex::RegexBuilder::new(text)
            .multi_line(true)
            .crlf(true)
            .build()
            .map(Pattern)
            .map_err(|e| format!("bad regex `{text}`: {e}"))
    }
}

/// A received SIP request or response that must (or, negated, must not) arrive.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageExpectation {
    /// A request (else a response).
    pub request: bool,
    /// `expect_not`: fails when such a message arrives within the timeout.
    pub negate: bool,
    pub method: Option<String>,
    pub status: Option<u16>,
    /// With `pattern`: the regexes run over this header's values (each must match one);
    /// alone: the header must be present.
    pub header: Option<String>,
    /// `match`: every one must match (the whole message, or the header's values).
    pub pattern: Vec<Pattern>,
    /// `body`: every one must match the body.
    pub body: Vec<Pattern>,
    pub timeout_ms: u64,
}

impl MessageExpectation {
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} {}",
            if self.negate { "expect_not" } else { "expect" },
            if self.request { "request" } else { "response" }
        );
        if let Some(m) = &self.method {
            s += &format!(" {m}");
        }
        if let Some(st) = self.status {
            s += &format!(" {st}");
        }
        if let Some(h) = &self.header {
            s += &format!(" header {h}");
        }
        for p in &self.pattern {
            s += &format!(" =~ /{}/", p.0.as_str());
        }
        for p in &self.body {
            s += &format!(" body =~ /{}/", p.0.as_str());
        }
        s + &format!(" within {} ms", self.timeout_ms)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// `call.established`, `ice.selected`, `dtmf.received`, `response`, `hangup`…
    pub what: String,
    pub status: Option<u16>,
    pub digit: Option<String>,
    pub reason: Option<String>,
    pub timeout_ms: u64,
}

/// Checked on the outcome of the agent's last call (the step waits for it to end).
#[derive(Debug, Clone, PartialEq)]
pub enum Assertion {
    SelectedPair {
        local: Option<String>,
        remote: Option<String>,
    },
    UpdatedOffer {
        method: String,
    },
    RemoteCandidates,
    IceUsed(bool),
    RtpReceived {
        min: u64,
    },
    LossPercent {
        max: f64,
    },
    SetupMs {
        max: u64,
    },
    IceMs {
        max: u64,
    },
    DtmfReceived {
        digits: String,
    },
    /// At least `min` ICE restarts each selected a pair again.
    IceRestarts {
        min: u32,
    },
    /// The media was keyed so (`sdes` or `none`), with this SRTP suite when given.
    Keying {
        keying: String,
        suite: Option<String>,
    },
    /// The call's audio went in this codec (`PCMU`, `PCMA`, `G722` or `opus`, as the
    /// `media` event names it; compared case-insensitively).
    Codec(String),
}

impl Action {
    /// Short text for progress lines and reports.
    pub fn describe(&self) -> String {
        match self {
            Action::Register { expires } => format!("register (expires {expires})"),
            Action::Call { target } => format!("call {target}"),
            Action::Answer { status, delay_ms } => format!("answer {status} after {delay_ms} ms"),
            Action::Expect(e) => {
                let mut s = format!("expect {}", e.what);
                if let Some(st) = e.status {
                    s += &format!(" {st}");
                }
                if let Some(d) = &e.digit {
                    s += &format!(" digit {d}");
                }
                s + &format!(" within {} ms", e.timeout_ms)
            }
            Action::Dtmf { digits } => format!("dtmf {digits}"),
            Action::Play { file } => format!("play {file}"),
            Action::Tone { hz } => format!("tone {hz} Hz"),
            Action::Wait { ms } => format!("wait {ms} ms"),
            Action::Hold => "hold".into(),
            Action::Resume => "resume".into(),
            Action::Update => "update".into(),
            Action::IceRestart => "ice_restart".into(),
            Action::HangUp => "hangup".into(),
            Action::Assert(a) => format!("assert {}", a.describe()),
            Action::ExpectMessage(e) => e.describe(),
            Action::Send { to, transport, .. } => format!("send to {to} over {transport}"),
        }
    }
}

impl Assertion {
    pub fn describe(&self) -> String {
        match self {
            Assertion::SelectedPair { local, remote } => format!(
                "selected_pair local={} remote={}",
                local.as_deref().unwrap_or("any"),
                remote.as_deref().unwrap_or("any")
            ),
            Assertion::UpdatedOffer { method } => format!("updated_offer method={method}"),
            Assertion::RemoteCandidates => "remote_candidates".into(),
            Assertion::IceUsed(v) => format!("ice_used={v}"),
            Assertion::RtpReceived { min } => format!("rtp_received >= {min}"),
            Assertion::LossPercent { max } => format!("loss <= {max}%"),
            Assertion::SetupMs { max } => format!("setup_ms <= {max}"),
            Assertion::IceMs { max } => format!("ice_ms <= {max}"),
            Assertion::DtmfReceived { digits } => format!("dtmf_received = {digits}"),
            Assertion::IceRestarts { min } => format!("ice_restarts >= {min}"),
            Assertion::Keying { keying, suite } => match suite {
                Some(s) => format!("keying = {keying} suite = {s}"),
                None => format!("keying = {keying}"),
            },
            Assertion::Codec(name) => format!("codec = {name}"),
        }
    }
}

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, FormatError> {
    let text = std::fs::read_to_string(path).map_err(|source| FormatError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(path, &text)
}

/// Parses scenario text; `path` names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, FormatError> {
    let shown = path.display().to_string();
    let raw: RawScenario = toml::from_str(text).map_err(|e| FormatError::Toml {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    if raw.agents.is_empty() {
        return Err(FormatError::Invalid {
            path: shown,
            message: "no [agents.NAME] table".into(),
        });
    }
    let mut variables = BTreeMap::new();
    for (name, value) in raw.variables {
        let v = match value {
            toml::Value::Array(items) if !items.is_empty() => {
                Variable::PerCall(items.iter().map(plain_string).collect())
            }
            toml::Value::Array(_) => {
                return Err(FormatError::Invalid {
                    path: shown,
                    message: format!("variable `{name}` is an empty list"),
                })
            }
            other => Variable::Fixed(plain_string(&other)),
        };
        variables.insert(name, v);
    }
    let mut agents = Vec::new();
    for (name, raw_agent) in raw.agents {
        let spec: AgentSpec =
            toml::Value::Table(raw_agent.spec)
                .try_into()
                .map_err(|e: toml::de::Error| FormatError::Invalid {
                    path: shown.clone(),
                    message: format!("agent `{name}`: {}", e.message()),
                })?;
        let response_edits = match &spec.response_headers {
            Some(h) => h.check().map_err(|message| {
                // The table has no span (the agent's keys are flattened): name the line of
                // the first bad string as written.
                let bad = [&h.add, &h.replace, &h.remove]
                    .into_iter()
                    .flatten()
                    .find(|l| message.contains(&format!("`{l}`")));
                let line = bad
                    .and_then(|l| text.find(&format!("\"{l}\"")))
                    .map(|at| line_of(text, at));
                FormatError::Invalid {
                    path: match line {
                        Some(line) => format!("{shown}:{line}"),
                        None => shown.clone(),
                    },
                    message: format!("agent `{name}`: response_headers: {message}"),
                }
            })?,
            None => HeaderEdits::default(),
        };
        let mut steps = Vec::new();
        for (i, spanned) in raw_agent.steps.into_iter().enumerate() {
            let line = line_of(text, spanned.span().start);
            let step_error = |message| FormatError::Step {
                path: shown.clone(),
                line,
                agent: name.clone(),
                index: i + 1,
                message,
            };
            let action = parse_action(spanned.get_ref()).map_err(step_error)?;
            let edits = parse_edits(spanned.get_ref()).map_err(step_error)?;
            steps.push(Step {
                line,
                index: i + 1,
                action,
                edits,
            });
        }
        agents.push(Agent {
            name,
            spec,
            steps,
            response_edits,
        });
    }
    if raw.repeat == 0 {
        return Err(FormatError::Invalid {
            path: shown,
            message: "repeat must be at least 1".into(),
        });
    }
    let data = match raw.data {
        Some(d) => Some(load_data(path, text, d)?),
        None => None,
    };
    check_csv_references(path, text, data.as_ref())?;
    Ok(Scenario {
        name: raw.name.unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
        path: path.to_path_buf(),
        repeat: raw.repeat,
        timeout_ms: raw.timeout_ms,
        variables,
        registrar: raw.registrar,
        data,
        agents,
        trace_msg: None,
    })
}

/// Reads `[data] csv` relative to the scenario file.
fn load_data(path: &Path, text: &str, raw: RawData) -> Result<super::data::Data, FormatError> {
    use super::data::{Data, Order};
    let shown = path.display().to_string();
    let order = match &raw.order {
        None => Order::Sequential,
        Some(o) => Order::parse(o.get_ref()).ok_or_else(|| FormatError::Data {
            path: shown.clone(),
            line: line_of(text, o.span().start),
            message: format!(
                "[data] order `{}`: expected sequential, random or per_agent",
                o.get_ref()
            ),
        })?,
    };
    let csv_line = line_of(text, raw.csv.span().start);
    let file = path
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join(raw.csv.get_ref());
    if !file.is_file() {
        return Err(FormatError::Data {
            path: shown,
            line: csv_line,
            message: format!("[data] csv: no file {}", file.display()),
        });
    }
    Data::load(&file, order, raw.seed).map_err(|e| {
        if e.line == 0 {
            FormatError::Data {
                path: shown,
                line: csv_line,
                message: format!("[data] csv: {}", e.message),
            }
        } else {
            FormatError::Data {
                path: file.display().to_string(),
                line: e.line,
                message: e.message,
            }
        }
    })
}

/// Every `${csv.COLUMN}` (or `${AGENT.csv.COLUMN}`) names a column of the CSV file.
fn check_csv_references(
    path: &Path,
    text: &str,
    data: Option<&super::data::Data>,
) -> Result<(), FormatError> {
    for (offset, column) in super::data::csv_references(text) {
        let line = line_of(text, offset);
        let Some(data) = data else {
            return Err(FormatError::Data {
                path: path.display().to_string(),
                line,
                message: format!(
                    "`${{csv.{column}}}` is used but there is no [data] csv = \"FILE\""
                ),
            });
        };
        if !data.columns.contains(&column) {
            return Err(FormatError::Data {
                path: path.display().to_string(),
                line,
                message: format!(
                    "unknown column `{column}` of {} (columns: {})",
                    data.path.display(),
                    data.columns.join(", ")
                ),
            });
        }
    }
    Ok(())
}

fn plain_string(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map(|before| before.matches('\n').count() + 1)
        .unwrap_or(1)
}

const ACTIONS: &[&str] = &[
    "register",
    "call",
    "answer",
    "expect",
    "dtmf",
    "play",
    "tone",
    "wait_ms",
    "hold",
    "resume",
    "update",
    "ice_restart",
    "hangup",
    "expect_hangup",
    "assert",
    "expect_not",
    "send",
];

/// Keys of message expectations besides `expect`/`expect_not`.
const MESSAGE_KEYS: &[&str] = &["status", "method", "header", "match", "body", "timeout_ms"];

/// `headers = {...}` and `sdp = {...}` of a step (checked against its action by
/// `parse_action`).
fn parse_edits(t: &toml::Table) -> Result<MessageEdits, String> {
    let mut edits = MessageEdits::default();
    let list = |table: &toml::Table, what: &str, key: &str| -> Result<Vec<String>, String> {
        match table.get(key) {
            None => Ok(Vec::new()),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| format!("`{what}.{key}` takes a list of strings, not {v}"))
                })
                .collect(),
            Some(other) => Err(format!(
                "`{what}.{key}` takes a list of strings, not {other}"
            )),
        }
    };
    let table = |key: &str, allowed: &[&str]| -> Result<Option<&toml::Table>, String> {
        match t.get(key) {
            None => Ok(None),
            Some(toml::Value::Table(table)) => {
                if let Some(k) = table.keys().find(|k| !allowed.contains(&k.as_str())) {
                    return Err(format!("`{key}` takes {}, not `{k}`", allowed.join(", ")));
                }
                Ok(Some(table))
            }
            Some(other) => Err(format!("`{key}` takes a table {{ ... }}, not {other}")),
        }
    };
    if let Some(h) = table("headers", &["add", "replace", "remove"])? {
        edits.headers = HeaderSpec {
            add: list(h, "headers", "add")?,
            replace: list(h, "headers", "replace")?,
            remove: list(h, "headers", "remove")?,
        }
        .check()?;
    }
    if let Some(sdp) = table("sdp", &["add", "remove", "remove_candidates"])? {
        edits.sdp.add = list(sdp, "sdp", "add")?;
        for line in &edits.sdp.add {
            let text = line.trim_start_matches("session:");
            // RFC 8866 §5: `<type>=<value>`, the type one letter.
            let b = text.as_bytes();
            if b.len() < 2
                || !b[0].is_ascii_lowercase()
                || b[1] != b'='
                || text.contains(['\r', '\n'])
            {
                return Err(format!("`sdp.add`: `{line}` is not an SDP line (x=...)"));
            }
        }
        edits.sdp.remove = list(sdp, "sdp", "remove")?
            .iter()
            .map(|r| {
                regex::Regex::new(r).map_err(|e| format!("`sdp.remove`: bad regex `{r}`: {e}"))
            })
            .collect::<Result<_, _>>()?;
        edits.sdp.remove_candidates = list(sdp, "sdp", "remove_candidates")?;
        for kind in &edits.sdp.remove_candidates {
            if !["host", "srflx", "prflx", "relay"].contains(&kind.as_str()) {
                return Err(format!(
                    "`sdp.remove_candidates`: `{kind}`: expected host, srflx, prflx or relay"
                ));
            }
        }
    }
    Ok(edits)
}

fn parse_message_expectation(
    t: &toml::Table,
    key: &str,
    what: &str,
    timeout: u64,
) -> Result<Action, String> {
    let string = |name: &str| -> Result<Option<String>, String> {
        match t.get(name) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!("`{name}` must be a string, not {other}")),
        }
    };
    let patterns = |name: &str| -> Result<Vec<Pattern>, String> {
        match t.get(name) {
            None => Ok(Vec::new()),
            Some(toml::Value::String(p)) => Ok(vec![Pattern::new(p)?]),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    toml::Value::String(p) => Pattern::new(p),
                    other => Err(format!("`{name}` takes regex strings, not {other}")),
                })
                .collect(),
            Some(other) => Err(format!(
                "`{name}` takes a regex or a list of them, not {other}"
            )),
        }
    };
    let request = match what {
        "request" => true,
        "response" => false,
        other => {
            return Err(format!(
                "`{key}` on messages takes \"request\" or \"response\", not `{other}`"
            ))
        }
    };
    let status = match t.get("status") {
        None => None,
        Some(toml::Value::Integer(s)) if (100..700).contains(s) => Some(*s as u16),
        Some(other) => return Err(format!("`status` must be 100-699, not {other}")),
    };
    if request && status.is_some() {
        return Err("a request has no `status` (use `method`)".into());
    }
    let method = string("method")?;
    if !request && method.is_some() {
        return Err("match a response's method with `header = \"CSeq\"`, not `method`".into());
    }
    let header = string("header")?;
    if let Some(h) = &header {
        HeaderEdits::parse_name(h).map_err(|e| e.to_string())?;
    }
    Ok(Action::ExpectMessage(MessageExpectation {
        request,
        negate: key == "expect_not",
        method,
        status,
        header,
        pattern: patterns("match")?,
        body: patterns("body")?,
        timeout_ms: timeout,
    }))
}

fn parse_action(t: &toml::Table) -> Result<Action, String> {
    let keys: Vec<&str> = t
        .keys()
        .map(String::as_str)
        .filter(|k| ACTIONS.contains(k))
        .collect();
    let key = match keys.as_slice() {
        [k] => *k,
        [] => {
            return Err(format!(
                "no action (one of {}) in {{{}}}",
                ACTIONS.join(", "),
                t.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        }
        many => return Err(format!("more than one action: {}", many.join(", "))),
    };
    let value = t.get(key).ok_or("action vanished")?;
    let allowed: &[&str] = match key {
        "call" | "update" | "hold" | "resume" => &["headers", "sdp"],
        "answer" => &["delay_ms", "headers", "sdp"],
        "hangup" => &["headers"],
        "expect" => &[
            "status",
            "digit",
            "reason",
            "timeout_ms",
            "method",
            "header",
            "match",
            "body",
        ],
        "expect_not" => MESSAGE_KEYS,
        "send" => &["to", "transport"],
        "expect_hangup" => &["timeout_ms"],
        "assert" => &[
            "local",
            "remote",
            "method",
            "min",
            "max",
            "max_percent",
            "value",
            "digits",
            "suite",
        ],
        _ => &[],
    };
    if let Some(extra) = t
        .keys()
        .find(|k| *k != key && !allowed.contains(&k.as_str()))
    {
        return Err(format!("`{extra}` does not go with `{key}`"));
    }
    let int = |name: &str| -> Result<Option<u64>, String> {
        match t.get(name) {
            None => Ok(None),
            Some(toml::Value::Integer(i)) if *i >= 0 => Ok(Some(*i as u64)),
            Some(other) => Err(format!(
                "`{name}` must be a non-negative integer, not {other}"
            )),
        }
    };
    let string = |name: &str| -> Result<Option<String>, String> {
        match t.get(name) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!("`{name}` must be a string, not {other}")),
        }
    };
    let flag = |v: &toml::Value| -> Result<(), String> {
        match v {
            toml::Value::Boolean(true) => Ok(()),
            other => Err(format!("`{key}` takes `true`, not {other}")),
        }
    };
    let timeout = int("timeout_ms")?.unwrap_or(5_000);
    Ok(match key {
        "register" => match value {
            toml::Value::Boolean(true) => Action::Register { expires: 3600 },
            toml::Value::Integer(e) if (0..=u32::MAX as i64).contains(e) => {
                Action::Register { expires: *e as u32 }
            }
            other => {
                return Err(format!(
                    "`register` takes true or an expiry in s, not {other}"
                ))
            }
        },
        "call" => Action::Call {
            target: string("call")?.ok_or("`call` takes a SIP URI string")?,
        },
        "answer" => {
            let status = match value {
                toml::Value::Boolean(true) => 200,
                toml::Value::Integer(s) if (200..700).contains(s) => *s as u16,
                other => {
                    return Err(format!(
                        "`answer` takes true or a final status 200-699, not {other}"
                    ))
                }
            };
            Action::Answer {
                status,
                delay_ms: int("delay_ms")?.unwrap_or(0),
            }
        }
        "expect" | "expect_not" => {
            let what = string(key)?.ok_or_else(|| format!("`{key}` takes an event name"))?;
            let content = ["method", "header", "match", "body"]
                .iter()
                .any(|k| t.contains_key(*k));
            if key == "expect_not" || what == "request" || content {
                return parse_message_expectation(t, key, &what, timeout);
            }
            if !EXPECTABLE.contains(&what.as_str()) {
                return Err(format!(
                    "cannot expect `{what}`; one of {}",
                    EXPECTABLE.join(", ")
                ));
            }
            let status = int("status")?
                .map(|s| u16::try_from(s).map_err(|_| format!("status {s} is out of range")))
                .transpose()?;
            if what == "response" && status.is_none() {
                return Err("`expect = \"response\"` needs `status`".into());
            }
            Action::Expect(Expectation {
                what,
                status,
                digit: string("digit")?,
                reason: string("reason")?,
                timeout_ms: timeout,
            })
        }
        "expect_hangup" => {
            flag(value)?;
            Action::Expect(Expectation {
                what: "hangup".into(),
                status: None,
                digit: None,
                reason: None,
                timeout_ms: timeout,
            })
        }
        "dtmf" => {
            let digits = string("dtmf")?.ok_or("`dtmf` takes digits")?;
            crate::media::dtmf::DtmfSender::new(&digits).map_err(|e| format!("dtmf: {e}"))?;
            Action::Dtmf { digits }
        }
        "play" => Action::Play {
            file: string("play")?.ok_or("`play` takes a WAV file path")?,
        },
        "tone" => match value {
            toml::Value::Float(f) if *f > 0.0 => Action::Tone { hz: *f },
            toml::Value::Integer(i) if *i > 0 => Action::Tone { hz: *i as f64 },
            other => return Err(format!("`tone` takes a frequency in Hz, not {other}")),
        },
        "wait_ms" => Action::Wait {
            ms: int("wait_ms")?.ok_or("`wait_ms` takes milliseconds")?,
        },
        "hold" => flag(value).map(|_| Action::Hold)?,
        "resume" => flag(value).map(|_| Action::Resume)?,
        "update" => flag(value).map(|_| Action::Update)?,
        "ice_restart" => flag(value).map(|_| Action::IceRestart)?,
        "hangup" => flag(value).map(|_| Action::HangUp)?,
        "assert" => Action::Assert(parse_assertion(t)?),
        "send" => {
            let template = string("send")?.ok_or("`send` takes the message text")?;
            let transport = string("transport")?.unwrap_or_else(|| "udp".into());
            if !["udp", "tcp"].contains(&transport.as_str()) {
                return Err(format!("`transport` `{transport}`: expected udp or tcp"));
            }
            Action::Send {
                template,
                to: string("to")?.ok_or("`send` needs `to` (IP:PORT, e.g. \"${bob.address}\")")?,
                transport,
            }
        }
        other => return Err(format!("unknown action `{other}`")),
    })
}

/// Event names a step can wait for.
pub const EXPECTABLE: &[&str] = &[
    "call.incoming",
    "call.ringing",
    "call.established",
    "call.hold",
    "call.resumed",
    "call.failed",
    "call.ended",
    "ice.checking",
    "ice.selected",
    "ice.completed",
    "ice.restarted",
    "ice.failed",
    "ice.not_used",
    "updated_offer.sent",
    "updated_offer.received",
    "updated_offer.answered",
    "dtmf.sent",
    "dtmf.received",
    "dtls.connected",
    "dtls.failed",
    "dtls.closed",
    "response",
    "hangup",
];

fn parse_assertion(t: &toml::Table) -> Result<Assertion, String> {
    let name = match t.get("assert") {
        Some(toml::Value::String(s)) => s.as_str(),
        _ => return Err("`assert` takes a name".into()),
    };
    let s = |k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let uint = |k: &str| -> Result<u64, String> {
        t.get(k)
            .and_then(|v| v.as_integer())
            .filter(|i| *i >= 0)
            .map(|i| i as u64)
            .ok_or_else(|| format!("assert {name} needs `{k}` (a non-negative integer)"))
    };
    Ok(match name {
        "selected_pair" => {
            for k in ["local", "remote"] {
                if let Some(v) = s(k) {
                    if !["host", "srflx", "prflx", "relay"].contains(&v.as_str()) {
                        return Err(format!("{k} = `{v}`: expected host, srflx, prflx or relay"));
                    }
                }
            }
            Assertion::SelectedPair {
                local: s("local"),
                remote: s("remote"),
            }
        }
        "updated_offer" => {
            let method = s("method").ok_or("assert updated_offer needs `method`")?;
            if !["UPDATE", "INVITE", "none"].contains(&method.as_str()) {
                return Err(format!("method `{method}`: expected UPDATE, INVITE or none"));
            }
            Assertion::UpdatedOffer { method }
        }
        "remote_candidates" => Assertion::RemoteCandidates,
        "ice_used" => Assertion::IceUsed(
            t.get("value")
                .and_then(|v| v.as_bool())
                .ok_or("assert ice_used needs `value` (true/false)")?,
        ),
        "rtp_received" => Assertion::RtpReceived { min: uint("min")? },
        "loss" => Assertion::LossPercent {
            max: t
                .get("max_percent")
                .and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64)))
                .ok_or("assert loss needs `max_percent`")?,
        },
        "setup_ms" => Assertion::SetupMs { max: uint("max")? },
        "ice_ms" => Assertion::IceMs { max: uint("max")? },
        "dtmf_received" => Assertion::DtmfReceived {
            digits: s("digits").ok_or("assert dtmf_received needs `digits`")?,
        },
        "ice_restarts" => Assertion::IceRestarts {
            min: u32::try_from(uint("min")?)
                .map_err(|_| "assert ice_restarts: `min` is too large".to_string())?,
        },
        "keying" => {
            let keying = s("value").ok_or("assert keying needs `value` (sdes, dtls or none)")?;
            if !["sdes", "dtls", "none"].contains(&keying.as_str()) {
                return Err(format!("keying value `{keying}`: expected sdes, dtls or none"));
            }
            let suite = s("suite");
            if let Some(name) = &suite {
                let known = sdp::security::CryptoSuite::KNOWN.iter().any(|k| k.name() == name);
                if !known || keying == "none" {
                    return Err(format!(
                        "keying suite `{name}`: expected AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32 or AEAD_AES_128_GCM, with value = \"sdes\" or \"dtls\""
                    ));
                }
            }
            Assertion::Keying { keying, suite }
        }
        "codec" => {
            let name = s("value").ok_or("assert codec needs `value` (opus, G722, PCMU or PCMA)")?;
            let kind = crate::media::codec::CodecKind::from_name(&name)
                .ok_or_else(|| format!("codec value `{name}`: expected opus, G722, PCMU or PCMA"))?;
            Assertion::Codec(kind.encoding_name().to_string())
        }
        other => return Err(format!(
            "unknown assertion `{other}`; one of selected_pair, updated_offer, remote_candidates, ice_used, rtp_received, loss, setup_ms, ice_ms, dtmf_received, ice_restarts, keying, codec"
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
name = "t"
[variables]
user = ["a", "b"]
x = 5

[agents.alice]
steps = [
  { call = "${bob.uri}" },
  { expect = "call.established", timeout_ms = 3000 },

  { assert = "selected_pair", local = "host" },
]

[agents.bob]
ice = false
srtp = "sdes"
codecs = ["opus", "pcmu"]
[[agents.bob.steps]]
answer = 486
"#;

    #[test]
    fn steps_keep_their_lines() {
        let s = parse(Path::new("t.toml"), TEXT).unwrap();
        let alice = s.agents.iter().find(|a| a.name == "alice").unwrap();
        assert_eq!(
            alice.steps.iter().map(|s| s.line).collect::<Vec<_>>(),
            [9, 10, 12]
        );
        assert_eq!(
            alice.steps[1].action,
            Action::Expect(Expectation {
                what: "call.established".into(),
                status: None,
                digit: None,
                reason: None,
                timeout_ms: 3000
            })
        );
        let bob = s.agents.iter().find(|a| a.name == "bob").unwrap();
        assert!(!bob.spec.ice);
        assert_eq!(bob.spec.srtp, "sdes");
        assert_eq!(alice.spec.srtp, "off", "the default");
        assert_eq!(bob.spec.codecs, Some(vec!["opus".into(), "pcmu".into()]));
        assert_eq!(alice.spec.codecs, None, "the default: pcmu, pcma");
        assert_eq!(bob.steps[0].line, 19);
        assert_eq!(
            bob.steps[0].action,
            Action::Answer {
                status: 486,
                delay_ms: 0
            }
        );
        assert_eq!(
            s.variables["user"],
            Variable::PerCall(vec!["a".into(), "b".into()])
        );
        assert_eq!(s.variables["x"], Variable::Fixed("5".into()));
    }

    #[test]
    fn codec_assertion_takes_a_known_codec_in_any_case() {
        let text = "[agents.a]\nsteps = [{ assert = \"codec\", value = \"g722\" }]\n";
        let s = parse(Path::new("s.toml"), text).unwrap();
        assert_eq!(
            s.agents[0].steps[0].action,
            Action::Assert(Assertion::Codec("G722".into()))
        );
        for bad in [
            "{ assert = \"codec\" }",
            "{ assert = \"codec\", value = \"gsm\" }",
        ] {
            let text = format!("[agents.a]\nsteps = [{bad}]\n");
            assert!(parse(Path::new("s.toml"), &text).is_err(), "{bad}");
        }
    }

    #[test]
    fn keying_assertion_parses_and_refuses_unknown_values() {
        let text = "[agents.a]\nsrtp = \"sdes\"\nsteps = [\n  { assert = \"keying\", value = \"sdes\", suite = \"AES_CM_128_HMAC_SHA1_80\" },\n  { assert = \"keying\", value = \"none\" },\n]\n";
        let s = parse(Path::new("s.toml"), text).unwrap();
        let steps = &s.agents[0].steps;
        assert_eq!(
            steps[0].action,
            Action::Assert(Assertion::Keying {
                keying: "sdes".into(),
                suite: Some("AES_CM_128_HMAC_SHA1_80".into())
            })
        );
        assert_eq!(
            steps[1].action,
            Action::Assert(Assertion::Keying {
                keying: "none".into(),
                suite: None
            })
        );
        for bad in [
            "{ assert = \"keying\" }",
            "{ assert = \"keying\", value = \"zrtp\" }",
            "{ assert = \"keying\", value = \"sdes\", suite = \"F8_128_HMAC_SHA1_80\" }",
        ] {
            let text = format!("[agents.a]\nsteps = [{bad}]\n");
            assert!(parse(Path::new("s.toml"), &text).is_err(), "{bad}");
        }
    }

    #[test]
    fn ice_restart_step_and_assertion_parse() {
        let text = "[agents.a]\nsteps = [\n  { ice_restart = true },\n  { expect = \"ice.restarted\" },\n  { assert = \"ice_restarts\", min = 2 },\n]\n";
        let s = parse(Path::new("s.toml"), text).unwrap();
        let steps = &s.agents[0].steps;
        assert_eq!(steps[0].action, Action::IceRestart);
        assert_eq!(steps[0].action.describe(), "ice_restart");
        assert!(matches!(&steps[1].action, Action::Expect(e) if e.what == "ice.restarted"));
        assert_eq!(
            steps[2].action,
            Action::Assert(Assertion::IceRestarts { min: 2 })
        );
        let err = parse(
            Path::new("s.toml"),
            "[agents.a]\nsteps = [{ assert = \"ice_restarts\" }]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("min"), "{err}");
    }

    #[test]
    fn a_bad_step_is_named_with_its_line() {
        let text =
            "[agents.a]\nsteps = [\n  { wait_ms = 1 },\n  { expect = \"call.nonsense\" },\n]\n";
        let err = parse(Path::new("s.toml"), text).unwrap_err().to_string();
        assert!(err.starts_with("s.toml:4: agent `a`, step 2:"), "{err}");
        assert!(err.contains("call.nonsense"), "{err}");
    }

    #[test]
    fn unknown_agent_fields_and_extra_step_keys_are_refused() {
        let err = parse(Path::new("s.toml"), "[agents.a]\nbnid = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bnid"), "{err}");
        let err = parse(
            Path::new("s.toml"),
            "[agents.a]\nsteps = [{ hangup = true, delay_ms = 3 }]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`delay_ms` does not go with `hangup`"),
            "{err}"
        );
    }

    #[test]
    fn header_and_sdp_edits_and_message_steps_parse() {
        let text = r#"[agents.a]
response_headers = { add = ["X-Agent: a"], remove = ["Allow"] }
steps = [
  { call = "sip:b@127.0.0.1", headers = { add = ["Supported: 100rel", "X-Test: 1"], replace = ["User-Agent: custom"], remove = ["Allow"] }, sdp = { add = ["a=x-test:1"], remove = ["^a=ptime"], remove_candidates = ["host"] } },
  { expect = "response", status = 200, match = "a=ice-options:ice2" },
  { expect = "response", status = 200 },
  { expect = "request", method = "INVITE", header = "Supported", match = ["100rel", "^100"], timeout_ms = 3000 },
  { expect_not = "response", status = 180, timeout_ms = 1000 },
  { send = "OPTIONS sip:x SIP/2.0\n", to = "${b.address}" },
  { hangup = true, headers = { add = ["X-Bye: 1"] } },
]
"#;
        let s = parse(Path::new("m.toml"), text).unwrap();
        let a = &s.agents[0];
        assert_eq!(
            a.response_edits.add[0].1,
            "X-Agent: a".split_once(": ").unwrap().1
        );
        assert_eq!(a.response_edits.remove, [sip::message::HeaderName::Allow]);
        let call = &a.steps[0];
        assert_eq!(call.edits.headers.add.len(), 2);
        assert_eq!(call.edits.headers.replace[0].1, "custom");
        assert_eq!(call.edits.sdp.add, ["a=x-test:1"]);
        assert_eq!(call.edits.sdp.remove[0].as_str(), "^a=ptime");
        assert_eq!(call.edits.sdp.remove_candidates, ["host"]);
        match &a.steps[1].action {
            Action::ExpectMessage(e) => {
                assert!(!e.request && !e.negate);
                assert_eq!(e.status, Some(200));
                assert_eq!(e.pattern[0].0.as_str(), "a=ice-options:ice2");
            }
            other => panic!("{other:?}"),
        }
        // Without content keys, a response status is still a call event.
        assert!(matches!(&a.steps[2].action, Action::Expect(e) if e.status == Some(200)));
        match &a.steps[3].action {
            Action::ExpectMessage(e) => {
                assert!(e.request);
                assert_eq!(e.method.as_deref(), Some("INVITE"));
                assert_eq!(e.header.as_deref(), Some("Supported"));
                assert_eq!(e.pattern.len(), 2);
                assert_eq!(e.timeout_ms, 3000);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&a.steps[4].action, Action::ExpectMessage(e) if e.negate && e.status == Some(180) && e.timeout_ms == 1000)
        );
        assert!(
            matches!(&a.steps[5].action, Action::Send { to, transport, .. } if to == "${b.address}" && transport == "udp")
        );
        assert_eq!(a.steps[6].edits.headers.add[0].1, "1");
    }

    #[test]
    fn bad_edits_and_message_steps_name_their_line() {
        let bad = |steps: &str| {
            parse(
                Path::new("e.toml"),
                &format!("[agents.a]\nsteps = [\n  {{ wait_ms = 1 }},\n  {steps},\n]\n"),
            )
            .unwrap_err()
            .to_string()
        };
        let err = bad(r#"{ call = "sip:x", headers = { add = ["no colon"] } }"#);
        assert!(err.starts_with("e.toml:4: agent `a`, step 2:"), "{err}");
        assert!(err.contains("`no colon`"), "{err}");
        let err = bad(r#"{ call = "sip:x", headers = { append = ["X: 1"] } }"#);
        assert!(err.contains("`append`"), "{err}");
        let err = bad(r#"{ hangup = true, sdp = { add = ["a=x"] } }"#);
        assert!(err.contains("`sdp` does not go with `hangup`"), "{err}");
        let err = bad(r#"{ call = "sip:x", sdp = { add = ["not sdp"] } }"#);
        assert!(err.contains("not an SDP line"), "{err}");
        let err = bad(r#"{ call = "sip:x", sdp = { remove = ["("] } }"#);
        assert!(err.contains("bad regex"), "{err}");
        let err = bad(r#"{ call = "sip:x", sdp = { remove_candidates = ["local"] } }"#);
        assert!(err.contains("`local`"), "{err}");
        let err = bad(r#"{ expect = "response", status = 200, match = "(" }"#);
        assert!(
            err.starts_with("e.toml:4:") && err.contains("bad regex"),
            "{err}"
        );
        let err = bad(r#"{ expect = "request", status = 200 }"#);
        assert!(err.contains("no `status`"), "{err}");
        let err = bad(r#"{ expect_not = "call.ringing" }"#);
        assert!(err.contains("\"request\" or \"response\""), "{err}");
        let err = bad(r#"{ send = "X", to = "1.2.3.4:5", transport = "sctp" }"#);
        assert!(err.contains("sctp"), "{err}");
        let err = bad(r#"{ send = "X" }"#);
        assert!(err.contains("needs `to`"), "{err}");
        let err = parse(
            Path::new("r.toml"),
            "[agents.a]\nice = true\nresponse_headers = { add = [\"no colon\"] }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("r.toml:3: agent `a`: response_headers:"),
            "{err}"
        );
    }

    #[test]
    fn line_of_counts_newlines() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 1);
    }
}
