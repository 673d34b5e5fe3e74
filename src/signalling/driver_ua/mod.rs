//! The `sip-stack` driver ([`crate::sip_driver::SipDriver`] around `sip::endpoint::Endpoint`)
//! behind the calls' channel interface: commands become endpoint calls, endpoint events
//! become [`UaEvent`]s. Each call has a slot: its own event channel and the dialog it
//! owns. A plain UA ([`spawn`]) has one slot, the main handle's; a multi-call UA
//! ([`spawn_multi`]) hands every accepted incoming INVITE out as a new per-call handle.

use std::collections::HashMap;
use std::net::SocketAddr;

use sip::endpoint::{Body, DialogId, EndpointConfig, IncomingId, NextHop, TransportKind};
use tokio::sync::mpsc;

use super::control::{ControlLink, MessageEdits, Outgoing, RawSend, Traced};
use super::transfer::{TransferCommand, TransferEvent};
use super::UaConfig;
use super::{UaCommand, UaEvent, UaHandle};
use crate::sip_driver::{SipDriver, SipDriverConfig};

mod commands;
mod events;
mod failure;
mod refer;
#[cfg(test)]
mod slot_tests;

const SDP: &str = "application/sdp";

/// Binds the driver's UDP socket and starts the translating task: one call at a time, on
/// the returned handle.
pub async fn spawn(config: UaConfig) -> std::io::Result<UaHandle> {
    start(config, None, None, None).await
}

/// As [`spawn`], with message control (edits, the message tap, raw sends).
pub async fn spawn_controlled(config: UaConfig, link: ControlLink) -> std::io::Result<UaHandle> {
    start(config, None, Some(link), None).await
}

/// As [`spawn`], for up to `max_calls` calls at once: the main handle gets registration
/// events only (and drives REGISTER), each accepted incoming call arrives on the receiver
/// as its own handle. Dropping the receiver makes further INVITEs get 486.
pub async fn spawn_multi(
    config: UaConfig,
) -> std::io::Result<(UaHandle, mpsc::Receiver<UaHandle>)> {
    // Room for every call the UA admits; a handle nobody has taken yet counts as a call.
    let (tx, rx) = mpsc::channel(config.max_calls.clamp(1, MAX_WAITING_CALLS));
    Ok((start(config, Some(tx), None, None).await?, rx))
}

/// As [`spawn_multi`], handing REFERs to the phone (see [`super::spawn_phone`]).
pub async fn spawn_phone(
    config: UaConfig,
) -> std::io::Result<(
    UaHandle,
    mpsc::Receiver<UaHandle>,
    mpsc::UnboundedReceiver<TransferEvent>,
)> {
    let (tx, rx) = mpsc::channel(config.max_calls.clamp(1, MAX_WAITING_CALLS));
    let (transfers_tx, transfers_rx) = mpsc::unbounded_channel();
    let ua = start(config, Some(tx), None, Some(transfers_tx)).await?;
    Ok((ua, rx, transfers_rx))
}

async fn start(
    config: UaConfig,
    incoming: Option<mpsc::Sender<UaHandle>>,
    link: Option<ControlLink>,
    transfers: Option<mpsc::UnboundedSender<TransferEvent>>,
) -> std::io::Result<UaHandle> {
    let mut endpoint = EndpointConfig::new(config.aor.clone());
    if let Some(link) = &link {
        endpoint.response_edits = link.response_edits.clone();
        endpoint.trace_messages = link.trace;
    }
    endpoint.credentials = config.credentials.clone();
    // Without a configured proxy, the registrar is the AOR's host (RFC 3261 §10.2: the
    // Request-URI names the domain) when it is an address we can reach directly.
    let transport = config.transport;
    // A registrar taken from a sips: AOR is reached over TLS (RFC 3261 §26.2.2); a
    // configured proxy keeps the configured transport (a mismatch is refused, not hidden).
    let mut registrar_transport = transport;
    let registrar = config.proxy.or_else(|| {
        let uri: sip::message::Uri = config.aor.parse().ok()?;
        let sip_uri = uri.as_sip()?;
        if sip_uri.secure {
            registrar_transport = TransportKind::Tls;
        }
        // RFC 3261 §19.1.2: 5061 for TLS.
        let port = sip_uri.port.unwrap_or(registrar_transport.default_port());
        sip_uri
            .host
            .ip()
            .map(|ip| SocketAddr::new(ip, port))
            .filter(|_| config.register)
    });
    endpoint.default_transport = transport;
    endpoint.outbound_proxy = registrar.map(|addr| NextHop {
        transport: registrar_transport,
        addr,
    });
    endpoint.proxy_alternates = config
        .proxy_alternates
        .iter()
        .map(|&addr| NextHop { transport, addr })
        .collect();
    endpoint.resolved_hosts = config
        .resolved_hosts
        .iter()
        .map(|(host, targets)| {
            let hops = targets
                .iter()
                .map(|&(transport, addr)| NextHop { transport, addr })
                .collect();
            (host.clone(), hops)
        })
        .collect();
    endpoint.register_expires = config.register_expires;
    endpoint.keepalive = config.keepalive;
    endpoint.use_learned_contact = config.contact_rewrite;
    // RFC 5626 §4.1/§4.2: outbound only where we register (+sip.instance, reg-id 1, ;ob).
    endpoint.instance_id = config.instance_id.clone().filter(|_| config.register);
    endpoint.timers.t1 = config.t1;
    // `--no-update`: leave UPDATE out of Allow so the peer re-INVITEs (RFC 3311 §5.1).
    endpoint.allow_update = config.allow_update;
    endpoint.max_redirects = if config.follow_redirects {
        sip::endpoint::DEFAULT_MAX_REDIRECTS
    } else {
        0
    };
    let mut driver_config = SipDriverConfig::new(endpoint);
    driver_config.capture = config.capture.clone();
    driver_config.netns = config.netns.clone();
    driver_config.limits = config.limits;
    driver_config.advertise = config.advertise;
    driver_config.tls = config.tls.clone();
    let driver = match bind_driver(&config, driver_config.clone(), config.bind).await {
        Err(e) if config.port_fallback && e.kind() == std::io::ErrorKind::AddrInUse => {
            let any_port = SocketAddr::new(config.bind.ip(), 0);
            let driver = bind_driver(&config, driver_config, any_port).await?;
            if let Some(local) = driver.udp_local() {
                eprintln!(
                    "icephone: SIP port {} is in use; listening on port {} instead",
                    config.bind.port(),
                    local.port()
                );
            }
            driver
        }
        other => other?,
    };
    let local = driver
        .udp_local()
        .ok_or_else(|| std::io::Error::other("the SIP driver bound no UDP socket"))?;
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
    let slot_ids = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(MAIN + 1));
    let (ev_tx, ev_rx) = mpsc::channel(CALL_EVENT_QUEUE);
    let main_events = ev_tx.clone();
    let mut slots = HashMap::new();
    let backlogged = Backlogged::default();
    slots.insert(MAIN, Slot::new(ev_tx, &backlogged));
    // Without control, a raw-send channel nobody sends on (its sender kept in the bridge).
    let (control, raw_rx, raw_keep) = match link {
        Some(link) => (
            Some(BridgeControl {
                pending: link.pending,
                traced: link.traced,
            }),
            link.raw,
            None,
        ),
        None => {
            let (tx, rx) = mpsc::unbounded_channel();
            (None, rx, Some(tx))
        }
    };
    let bridge = Bridge {
        control,
        _raw_keep: raw_keep,
        driver,
        local,
        slots,
        by_dialog: HashMap::new(),
        slot_ids: slot_ids.clone(),
        waiting_for_calls: std::collections::VecDeque::new(),
        backlogged,
        sweep_at: SWEEP_MIN,
        incoming,
        commands: cmd_tx.clone(),
        max_calls: config.max_calls,
        transfers,
    };
    let (stopped_tx, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        bridge.run(cmd_rx, main_events, raw_rx).await;
        // `UaHandle::close` waits for this: the last messages are on the wire.
        drop(stopped_tx);
    });
    Ok(UaHandle {
        local,
        slot: MAIN,
        slot_ids,
        commands: cmd_tx,
        events: ev_rx,
        stopped: Some(stopped),
    })
}

/// Binds the driver's sockets at `bind` (UDP, and TCP on the same port for SIP over TCP).
async fn bind_driver(
    config: &UaConfig,
    mut driver_config: SipDriverConfig,
    bind: SocketAddr,
) -> std::io::Result<SipDriver> {
    let tcp = config.transport == TransportKind::Tcp;
    let bind = if tcp && bind.port() == 0 {
        port_free_for_both(config.netns.as_deref(), bind.ip()).await?
    } else {
        bind
    };
    driver_config.udp_bind = Some(bind);
    if tcp {
        // One port for UDP and TCP, so the Contact/Via port reaches either.
        driver_config.tcp_bind = Some(bind);
    }
    SipDriver::bind(driver_config).await
}

/// An ephemeral port free for both UDP and TCP on `ip` (released again before the driver
/// binds it; another process taking it in between makes the bind fail, never a wrong call).
/// Probed in the UA's network namespace, where the driver will bind.
async fn port_free_for_both(
    netns: Option<&str>,
    ip: std::net::IpAddr,
) -> std::io::Result<SocketAddr> {
    use crate::netns::{bind_tcp_listener, bind_udp};
    for _ in 0..20 {
        let tcp = bind_tcp_listener(netns, SocketAddr::new(ip, 0)).await?;
        let addr = tcp.local_addr()?;
        if bind_udp(netns, addr).await.is_ok() {
            return Ok(addr);
        }
    }
    Err(std::io::Error::other("no port free for both UDP and TCP"))
}

/// Which call a command or event belongs to.
pub(crate) type SlotId = u64;

/// What a handle asks of the bridge, tagged with the handle's slot.
#[derive(Debug)]
pub(crate) enum BridgeRequest {
    /// A command of the handle's call.
    Command(UaCommand),
    /// A new call handle opened on this UA ([`UaHandle::open_call`]): its slot starts here.
    /// With `takes_calls`, the next incoming INVITE that no earlier handle waits for goes
    /// to it (one call per handle).
    OpenSlot {
        events: mpsc::Sender<UaEvent>,
        takes_calls: bool,
        /// Told once the slot exists: an INVITE that arrives after is sure to find it
        /// (the bridge does not take its commands and endpoint events in a fixed order).
        opened: tokio::sync::oneshot::Sender<()>,
    },
    /// A transfer command about the slot's dialog (the phone console).
    Transfer(TransferCommand),
}
/// Commands from all of a UA's handles waiting for the bridge; a handle's `send` waits for
/// room beyond this.
const COMMAND_QUEUE: usize = 256;
/// Events waiting for one call (a dialog has few); beyond this they wait in the slot's
/// backlog and the bridge stops taking endpoint events until that call catches up.
pub(crate) const CALL_EVENT_QUEUE: usize = 64;
/// Accepted calls whose handle nobody has taken yet, at most (`--max-calls` is capped here).
const MAX_WAITING_CALLS: usize = 4096;
/// Below this many slots, dropped handles are not looked for.
const SWEEP_MIN: usize = 64;
/// The slot of the handle [`spawn`] returns: the one call of a plain UA, and registration.
const MAIN: SlotId = 0;

/// One call's share of the user agent.
struct Slot {
    events: mpsc::Sender<UaEvent>,
    /// Events that found the call's channel full, in order (sent before any newer one).
    backlog: std::collections::VecDeque<UaEvent>,
    /// How many slots have a backlog (this one counts while its backlog is not empty).
    backlogged: Backlogged,
    dialog: Option<DialogId>,
    /// The initial INVITE we have to answer.
    incoming_call: Option<IncomingId>,
    /// The in-dialog offer we have to answer.
    incoming_offer: Option<IncomingId>,
    /// Our INVITE has no final response yet.
    our_invite_pending: bool,
}

impl Slot {
    fn new(events: mpsc::Sender<UaEvent>, backlogged: &Backlogged) -> Slot {
        Slot {
            events,
            backlog: std::collections::VecDeque::new(),
            backlogged: backlogged.clone(),
            dialog: None,
            incoming_call: None,
            incoming_offer: None,
            our_invite_pending: false,
        }
    }

    /// Hands `event` to the call, behind any that wait; a call that let go drops it.
    fn emit(&mut self, event: UaEvent) {
        if !self.backlog.is_empty() {
            self.backlog.push_back(event);
            return;
        }
        match self.events.try_send(event) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(event)) => {
                self.backlog.push_back(event);
                self.backlogged.add(1);
            }
        }
    }

    /// Empties the backlog (the call let go), uncounting it.
    fn clear_backlog(&mut self) {
        if !self.backlog.is_empty() {
            self.backlog.clear();
            self.backlogged.add(-1);
        }
    }

    /// Moves the backlog into the channel while it has room, the first event into `permit`.
    fn drain_backlog(&mut self, permit: mpsc::OwnedPermit<UaEvent>) {
        let Some(first) = self.backlog.pop_front() else {
            return;
        };
        permit.send(first);
        while let Some(event) = self.backlog.pop_front() {
            if let Err(e) = self.events.try_send(event) {
                match e {
                    mpsc::error::TrySendError::Full(event) => self.backlog.push_front(event),
                    // The call let go: what waits is dropped, and the slot counts no more
                    // (its backlog may already be empty: the event popped was the last).
                    mpsc::error::TrySendError::Closed(_) => {
                        self.backlog.clear();
                        self.backlogged.add(-1);
                    }
                }
                return;
            }
        }
        self.backlogged.add(-1);
    }

    /// The call's handle was dropped.
    fn is_gone(&self) -> bool {
        self.events.is_closed()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.clear_backlog();
    }
}

/// The number of slots with a backlog, so the bridge looks for one only when there is one
/// (a scan of every call per turn cost as much as the calls at once).
#[derive(Debug, Clone, Default)]
struct Backlogged(std::sync::Arc<std::sync::atomic::AtomicIsize>);

impl Backlogged {
    fn add(&self, n: isize) {
        self.0.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    fn any(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed) > 0
    }
}

/// The user agent's end of message control, as the bridge keeps it.
struct BridgeControl {
    pending: std::sync::Arc<std::sync::Mutex<HashMap<Outgoing, MessageEdits>>>,
    traced: mpsc::UnboundedSender<Traced>,
}

struct Bridge {
    /// Message control (test tools), when the UA was spawned with it.
    control: Option<BridgeControl>,
    _raw_keep: Option<mpsc::UnboundedSender<RawSend>>,
    driver: SipDriver,
    local: SocketAddr,
    slots: HashMap<SlotId, Slot>,
    /// Which slot (call) owns each dialog: events are routed by dialog id, not by a scan.
    by_dialog: HashMap<DialogId, SlotId>,
    /// Where new slot ids come from (shared with the handles, which open slots too).
    slot_ids: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Slots opened to take incoming calls and free, oldest first.
    waiting_for_calls: std::collections::VecDeque<SlotId>,
    backlogged: Backlogged,
    /// The next sweep for dropped handles waits until there are this many slots (doubling:
    /// the sweeps cost O(1) per slot opened, not O(slots)).
    sweep_at: usize,
    /// Multi-call UA: where new calls' handles go.
    incoming: Option<mpsc::Sender<UaHandle>>,
    /// Cloned into each new call's handle: every handle's commands, tagged with its slot,
    /// arrive on the one queue.
    commands: mpsc::Sender<(SlotId, BridgeRequest)>,
    max_calls: usize,
    /// The phone console takes REFERs here; without it they are declined (603).
    transfers: Option<mpsc::UnboundedSender<TransferEvent>>,
}

/// Room for one event in slot `waiting`'s channel; never when no slot waits.
async fn room_in(
    waiting: Option<(SlotId, mpsc::Sender<UaEvent>)>,
) -> (
    SlotId,
    Result<mpsc::OwnedPermit<UaEvent>, mpsc::error::SendError<()>>,
) {
    match waiting {
        Some((slot, tx)) => (slot, tx.reserve_owned().await),
        None => std::future::pending().await,
    }
}

fn sdp_of(body: Option<Body>) -> Option<String> {
    body.map(|b| String::from_utf8_lossy(&b.bytes).into_owned())
}

impl Bridge {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<(SlotId, BridgeRequest)>,
        main_events: mpsc::Sender<UaEvent>,
        mut raw: mpsc::UnboundedReceiver<RawSend>,
    ) {
        loop {
            // A call that does not read its events holds the endpoint's back (no new events
            // are taken until it catches up) rather than growing a queue without bound.
            let waiting = if self.backlogged.any() {
                self.slots
                    .iter()
                    .find(|(_, s)| !s.backlog.is_empty())
                    .map(|(id, s)| (*id, s.events.clone()))
            } else {
                None
            };
            let backed_up = waiting.is_some();
            tokio::select! {
                Some(send) = raw.recv() => {
                    let RawSend { transport, dest, bytes, done } = send;
                    let r = flatten(
                        self.driver
                            .command(move |ep, _| ep.send_raw(transport, dest, bytes))
                            .await,
                    );
                    let _ = done.send(r);
                },
                request = commands.recv() => match request {
                    Some((slot, request)) => self.on_request(slot, request).await,
                    None => break,
                },
                (slot, permit) = room_in(waiting) => match (self.slots.get_mut(&slot), permit) {
                    (Some(s), Ok(permit)) => s.drain_backlog(permit),
                    (Some(s), Err(_)) => s.clear_backlog(),
                    (None, _) => {}
                },
                // The main handle was dropped: the UA stops (after the commands it sent).
                () = main_events.closed() => {
                    while let Ok((slot, request)) = commands.try_recv() {
                        self.on_request(slot, request).await;
                    }
                    break;
                }
                event = self.driver.next_event(), if !backed_up => match event {
                    Some(e) => self.on_event(e).await,
                    None => break,
                },
            }
        }
        self.driver
            .shutdown(std::time::Duration::from_secs(1))
            .await;
    }

    async fn on_request(&mut self, slot: SlotId, request: BridgeRequest) {
        match request {
            BridgeRequest::Command(c) => self.on_command(slot, c).await,
            BridgeRequest::Transfer(c) => self.on_transfer_command(slot, c).await,
            BridgeRequest::OpenSlot {
                events,
                takes_calls,
                opened,
            } => {
                self.sweep_gone_slots();
                self.slots.insert(slot, Slot::new(events, &self.backlogged));
                // One call per such handle: one whose call ended may be on its way out, and
                // a call given to it then would be lost.
                if takes_calls {
                    self.waiting_for_calls.push_back(slot);
                }
                let _ = opened.send(());
            }
        }
    }

    /// Forgets the calls whose handle was dropped (their dialogs' events go to the main
    /// handle from now on, as for any dialog no call owns).
    fn sweep_gone_slots(&mut self) {
        if self.slots.len() < self.sweep_at {
            return;
        }
        let gone: Vec<SlotId> = self
            .slots
            .iter()
            .filter(|(id, s)| **id != MAIN && s.is_gone())
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            if let Some(d) = self.slots.remove(id).and_then(|s| s.dialog) {
                self.by_dialog.remove(&d);
            }
        }
        self.waiting_for_calls.retain(|id| !gone.contains(id));
        self.sweep_at = (2 * self.slots.len()).max(SWEEP_MIN);
    }

    fn emit(&mut self, slot: SlotId, event: UaEvent) {
        if let Some(s) = self.slots.get_mut(&slot) {
            s.emit(event);
        }
    }

    /// The slot owning `dialog`; the main slot when none does (a plain UA reports every
    /// dialog event to its one call, as it always has).
    fn slot_of(&self, dialog: DialogId) -> SlotId {
        self.owner(dialog).unwrap_or(MAIN)
    }

    /// The slot that owns `dialog`, if any.
    fn owner(&self, dialog: DialogId) -> Option<SlotId> {
        self.by_dialog.get(&dialog).copied()
    }

    /// `slot`'s call now runs in `dialog`.
    fn bind_dialog(&mut self, slot: SlotId, dialog: DialogId) {
        if let Some(s) = self.slots.get_mut(&slot) {
            if let Some(old) = s.dialog.replace(dialog) {
                self.by_dialog.remove(&old);
            }
            self.by_dialog.insert(dialog, slot);
        }
    }

    /// `dialog` is over for its call; the slot (and its handle) stays for the next one.
    fn unbind_dialog(&mut self, dialog: DialogId) -> Option<&mut Slot> {
        let slot = self.by_dialog.remove(&dialog)?;
        let s = self.slots.get_mut(&slot)?;
        s.dialog = None;
        Some(s)
    }

    fn slot_mut(&mut self, slot: SlotId) -> Option<&mut Slot> {
        self.slots.get_mut(&slot)
    }

    /// The edits waiting for the next message of this kind (none without control).
    fn take_edits(&self, kind: Outgoing) -> MessageEdits {
        self.control
            .as_ref()
            .and_then(|c| ControlLink::take(&c.pending, kind))
            .unwrap_or_default()
    }

    fn busy_calls(&self) -> usize {
        // A dropped handle not swept yet holds no call.
        self.slots
            .values()
            .filter(|s| s.dialog.is_some() && !s.is_gone())
            .count()
    }
}

fn flatten<E: std::fmt::Display>(
    r: Result<Result<(), E>, crate::sip_driver::DriverStopped>,
) -> Result<(), String> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}
