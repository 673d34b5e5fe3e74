//! baresip, the reference ICE softphone of the lab: started with the lab's config template,
//! driven through its ctrl_tcp module (baresipctl.py), and judged by its own events.

use std::fs;
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::Value;

use super::phone::ip_port;
use super::wire::RtpStream;
use super::{lab_dir, wait_until, Lab, KAMAILIO, TURN};

/// Starts baresip in `role` with the lab's config template, registered as `user`
/// (answermode auto, PCMU, ICE with coturn as STUN server); waits until Kamailio has it.
pub fn start_baresip(lab: &Lab, role: &str, ip: &str, user: &str, password: &str) -> Child {
    start_baresip_with(lab, role, ip, user, password, None)
}

/// baresip's modules that provide a media encryption (its account parameter `mediaenc`):
/// `srtp.so` registers `srtp`, `srtp-mand` and `srtp-mandf` (SDES, RFC 4568), `dtls_srtp.so`
/// registers `dtls_srtp` and `dtls_srtpf` (RFC 5763/5764). Both ship in baresip-core.
const MEDIAENC_MODULES: [&str; 2] = ["srtp.so", "dtls_srtp.so"];

/// Like [`start_baresip`], with the account's media encryption `mediaenc` (e.g.
/// `Some("srtp-mand")` or `Some("dtls_srtp")`): the modules that provide it are loaded too.
/// With `None` the config and account are exactly those of [`start_baresip`] (clear RTP).
pub fn start_baresip_with(
    lab: &Lab,
    role: &str,
    ip: &str,
    user: &str,
    password: &str,
    mediaenc: Option<&str>,
) -> Child {
    start_baresip_configured(lab, role, ip, user, password, mediaenc, None)
}

/// baresip's codec modules beside g711.so, which the template loads: Opus (RFC 7587) and
/// G.722. Both ship in baresip-core.
const CODEC_MODULES: [&str; 2] = ["opus.so", "g722.so"];

/// Like [`start_baresip`], offering and accepting `audio_codecs` (baresip's account
/// parameter, e.g. `opus/48000/2,G722,PCMU`), with the Opus and G.722 modules loaded.
pub fn start_baresip_codecs(
    lab: &Lab,
    role: &str,
    ip: &str,
    user: &str,
    password: &str,
    audio_codecs: &str,
) -> Child {
    start_baresip_configured(lab, role, ip, user, password, None, Some(audio_codecs))
}

fn load_modules(config: &mut String, modules: &[&str], why: &str) {
    for module in modules {
        let path = format!("/usr/lib/baresip/modules/{module}");
        assert!(
            std::path::Path::new(&path).exists(),
            "baresip's {module} ({path}), needed for {why}, is missing: ./test.sh installs baresip-core"
        );
        config.push_str(&format!("module\t\t\t{module}\n"));
    }
}

fn start_baresip_configured(
    lab: &Lab,
    role: &str,
    ip: &str,
    user: &str,
    password: &str,
    mediaenc: Option<&str>,
    audio_codecs: Option<&str>,
) -> Child {
    let dir = lab.run_dir().join(format!("baresip-{user}"));
    fs::create_dir_all(&dir).expect("baresip config dir");
    let template =
        fs::read_to_string(lab_dir().join("baresip/config")).expect("tests/lab/baresip/config");
    let mut config = template.replace("@IP@", ip);
    let codecs = audio_codecs.unwrap_or("PCMU");
    let mut account = format!(
        "<sip:{user}@{KAMAILIO};transport=udp>;auth_pass={password};answermode=auto;\
         audio_codecs={codecs};regint=60;medianat=ice;stunserver=stun:{TURN}:3478"
    );
    if audio_codecs.is_some() {
        load_modules(&mut config, &CODEC_MODULES, "its codecs");
    }
    if let Some(enc) = mediaenc {
        // The account's mediaenc must be provided by a loaded module (baresip logs
        // "account: mediaenc not found" otherwise): the module files must be there.
        load_modules(&mut config, &MEDIAENC_MODULES, "its mediaenc");
        account.push_str(&format!(";mediaenc={enc}"));
    }
    fs::write(dir.join("config"), config).expect("write baresip config");
    fs::write(dir.join("accounts"), format!("{account}\n")).expect("write baresip accounts");
    let dir_arg = dir.display().to_string();
    let child = lab.spawn(
        role,
        &["baresip", "-f", &dir_arg, "-v"],
        &format!("baresip-{user}"),
        Duration::from_secs(90),
    );
    let registered = wait_until(Duration::from_secs(10), || {
        lab.kamcmd(&["ul.dump"])
            .lines()
            .any(|l| l.trim() == format!("AoR: {user}"))
    });
    assert!(registered, "baresip did not register as {user}");
    child
}

/// Ends our baresip (SIGTERM to its PID; `timeout` passes it on) and waits, bounded.
pub fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    if !wait_until(Duration::from_secs(5), || {
        matches!(child.try_wait(), Ok(Some(_)))
    }) {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// baresipctl.py in baresip's namespace: its events go to `<name>.out`.
pub fn control(lab: &Lab, role: &str, name: &str, extra: &[&str]) -> Child {
    let script = lab_dir().join("baresipctl.py").display().to_string();
    let mut args = vec!["/usr/bin/python3", &script, "--timeout", "40"];
    args.extend_from_slice(extra);
    let child = lab.spawn_split(role, &args, name, Duration::from_secs(45));
    // Events go only to ctrl_tcp's newest connection: nothing may call before it is ours.
    let out = lab.run_dir().join(format!("{name}.out"));
    let connected = wait_until(Duration::from_secs(10), || {
        fs::read_to_string(&out).is_ok_and(|t| t.contains("\"baresipctl\": \"connected\""))
    });
    assert!(connected, "{name}: baresipctl did not connect to ctrl_tcp");
    child
}

/// Waits for a baresipctl to end (it ends after CALL_CLOSED) and returns baresip's events.
pub fn control_events(lab: &Lab, mut ctl: Child, name: &str) -> Vec<Value> {
    let ended = wait_until(Duration::from_secs(45), || {
        matches!(ctl.try_wait(), Ok(Some(_)))
    });
    if !ended {
        let _ = ctl.kill();
    }
    let status = ctl.wait().expect("reap baresipctl");
    let out = fs::read_to_string(lab.run_dir().join(format!("{name}.out"))).unwrap_or_default();
    assert!(
        status.success(),
        "{name}: baresip did not report its call closed ({status}):\n{out}"
    );
    out.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub fn event_types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .collect()
}

/// baresip's side: its call was established, its ICE connected (CALL_RTPESTAB) and it
/// closed the call.
pub fn assert_baresip_connected(events: &[Value], who: &str) {
    let types = event_types(events);
    for t in ["CALL_ESTABLISHED", "CALL_RTPESTAB", "CALL_CLOSED"] {
        assert!(
            types.iter().any(|x| x == t),
            "{who}: baresip reported {t}: {types:?}"
        );
    }
}

/// RTP packets on the wire between two exact transport addresses, in one direction.
pub fn rtp_between(streams: &[RtpStream], from: &str, to: &str) -> u64 {
    let (fi, fp) = ip_port(from);
    let (ti, tp) = ip_port(to);
    streams
        .iter()
        .filter(|s| s.src == fi && s.sport == fp && s.dst == ti && s.dport == tp)
        .map(|s| s.packets)
        .sum()
}

/// Who places the call between icephone (alice on a1) and baresip (on b1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `icephone call sip:baresip@…` with `--duration`.
    Icephone,
    /// baresip dials alice, whom `icephone answer --register --calls 1` answers; baresip
    /// hangs up after the media time.
    Baresip,
}

/// One call between icephone and the baresip already running on b1, placed by `caller`,
/// `media_seconds` long, icephone with STUN and `extra` arguments (codecs, SRTP, `--tone`,
/// `--record` …). Returns icephone's exit code and events, and baresip's ctrl events.
pub fn call_with_baresip(
    lab: &Lab,
    caller: Caller,
    extra: &[String],
    media_seconds: &str,
) -> (i32, Vec<Value>, Vec<Value>) {
    use super::phone::{account, stun, Phone};
    let mut args: Vec<String> = match caller {
        Caller::Icephone => vec!["call".into(), "sip:baresip@icephone.test".into()],
        Caller::Baresip => ["answer", "--register", "--calls", "1"]
            .map(String::from)
            .to_vec(),
    };
    args.extend_from_slice(extra);
    if caller == Caller::Icephone {
        args.extend(["--duration".to_string(), media_seconds.to_string()]);
    }
    args.extend(account("alice", "alicepw"));
    args.extend(stun());
    match caller {
        Caller::Icephone => {
            let ctl = control(lab, "b1", "baresipctl-incoming", &[]);
            let alice = Phone::start(lab, "a1", "alice-calls", &args, Duration::from_secs(40));
            let (code, events) = alice.finish(Duration::from_secs(45));
            (
                code,
                events,
                control_events(lab, ctl, "baresipctl-incoming"),
            )
        }
        Caller::Baresip => {
            let mut alice =
                Phone::start(lab, "a1", "alice-answers", &args, Duration::from_secs(40));
            alice.wait_event(Duration::from_secs(10), |e| e["event"] == "registered");
            let dial = format!("sip:alice@{KAMAILIO}");
            let ctl = control(
                lab,
                "b1",
                "baresipctl-outgoing",
                &["--dial", &dial, "--hangup-after", media_seconds],
            );
            let baresip_events = control_events(lab, ctl, "baresipctl-outgoing");
            let (code, events) = alice.finish(Duration::from_secs(25));
            (code, events, baresip_events)
        }
    }
}
