//! Where the phone's own lines go: stdout for people (stderr when stdout carries NDJSON,
//! `--json`), and every event as one JSON line to the control-socket clients.

use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::events::Event;

/// Lines kept for a control client that reads slowly; beyond that it misses the oldest.
const CLIENT_BACKLOG: usize = 1024;

#[derive(Debug, Clone)]
pub struct Output {
    /// stdout carries NDJSON (`--json`): the phone's lines go to stderr.
    json: bool,
    clients: broadcast::Sender<String>,
}

impl Output {
    pub fn new(json: bool) -> Output {
        let (clients, _) = broadcast::channel(CLIENT_BACKLOG);
        Output { json, clients }
    }

    /// A control client's feed of NDJSON lines.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.clients.subscribe()
    }

    /// A line for the person at the console.
    pub fn say(&self, text: &str) {
        if self.json {
            eprintln!("{text}");
            return;
        }
        println!("{text}");
    }

    /// A call's event (the same object as `--json`, with its `call` number) to the clients.
    pub fn event(&self, call: u32, event: &Event) {
        if let Ok(mut value) = serde_json::to_value(event) {
            if let Some(object) = value.as_object_mut() {
                object.insert("call".into(), json!(call));
            }
            self.send(&value);
        }
    }

    /// A phone event (transfers, registrations of the accounts) to the clients; with
    /// `--json` on stdout too.
    pub fn phone_event(&self, value: Value) {
        if self.json {
            println!("{value}");
        }
        self.send(&value);
    }

    fn send(&self, value: &Value) {
        // No client listening is not an error.
        let _ = self.clients.send(value.to_string());
    }
}
