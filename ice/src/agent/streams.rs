//! Several media streams of one session (RFC 8445 §6.1.2: a check list per stream, one
//! check-list set). Each stream is an [`IceAgent`]; [`IceStreams`] routes datagrams to the
//! agent that owns the socket and keeps the set-wide rules:
//!
//! - only the first stream's check list is unfrozen initially; the others wait (§6.1.2.6);
//! - a success in any stream unfreezes the Frozen pairs of that foundation in all (§7.2.5.3.3);
//! - a Frozen pair is unfrozen on its own only if no stream has a Waiting or In-Progress pair
//!   of its foundation (§6.1.4.2 step 2).
//!
//! Each agent keeps its own Ta pacer (see ASSUMPTIONS.md). Give every stream's agent the same
//! role and tie-breaker; credentials may be shared or per stream.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Instant;

use super::events::{Handled, IceEvent, PairState, Transmit};
use super::IceAgent;

/// The agents of a session's streams, index = stream number in the order added.
#[derive(Debug, Default)]
pub struct IceStreams {
    streams: Vec<IceAgent>,
}

impl IceStreams {
    /// An empty set; add one agent per media stream with [`IceStreams::add_stream`].
    pub fn new() -> Self {
        IceStreams::default()
    }

    /// Add the next stream's agent; returns its index.
    pub fn add_stream(&mut self, mut agent: IceAgent) -> usize {
        agent.defer_initial_unfreeze = !self.streams.is_empty();
        agent.succeeded_foundations = Some(Vec::new());
        self.streams.push(agent);
        self.streams.len() - 1
    }

    /// How many streams were added.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether no stream was added yet.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// The agent of stream `index` (as returned by `add_stream`), for queries.
    pub fn stream(&self, index: usize) -> Option<&IceAgent> {
        self.streams.get(index)
    }

    /// The stream's agent, for its own inputs (remote candidates, send_data…). Call
    /// `handle_timeout` afterwards so the set-wide rules see the change.
    pub fn stream_mut(&mut self, index: usize) -> Option<&mut IceAgent> {
        self.streams.get_mut(index)
    }

    /// A datagram received on `local`: handled by the stream owning that socket, returned
    /// with that stream's index; `None` when no stream owns `local`.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        data: &[u8],
    ) -> Option<(usize, Handled)> {
        let index = self.streams.iter().position(|a| a.owns_socket(local))?;
        let handled = self
            .streams
            .get_mut(index)?
            .handle_packet(now, local, from, data);
        self.sync(now);
        Some((index, handled))
    }

    /// Drive the timers of every stream whose `poll_timeout` is due, applying the check-list
    /// set rules between them (RFC 8445 §6.1.4.2).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.sync(now);
        for index in 0..self.streams.len() {
            let Some(agent) = self.streams.get_mut(index) else {
                continue;
            };
            if agent.poll_timeout().is_some_and(|t| t <= now) {
                agent.handle_timeout(now);
                // The next stream must see what this one just started (§6.1.4.2 step 2).
                self.sync(now);
            }
        }
    }

    /// The earliest `poll_timeout` of all streams.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.streams.iter().filter_map(IceAgent::poll_timeout).min()
    }

    /// The next datagram of any stream, with the stream's index (lower indexes first).
    pub fn poll_transmit(&mut self) -> Option<(usize, Transmit)> {
        self.streams
            .iter_mut()
            .enumerate()
            .find_map(|(i, a)| a.poll_transmit().map(|t| (i, t)))
    }

    /// The next event of any stream, with the stream's index (lower indexes first).
    pub fn poll_event(&mut self) -> Option<(usize, IceEvent)> {
        self.streams
            .iter_mut()
            .enumerate()
            .find_map(|(i, a)| a.poll_event().map(|e| (i, e)))
    }

    /// Propagate successes and activity between the check lists.
    fn sync(&mut self, now: Instant) {
        let succeeded: Vec<(usize, (String, String))> = self
            .streams
            .iter_mut()
            .enumerate()
            .flat_map(|(i, a)| {
                a.succeeded_foundations
                    .as_mut()
                    .map(std::mem::take)
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |f| (i, f))
            })
            .collect();
        for (origin, foundation) in succeeded {
            for (i, agent) in self.streams.iter_mut().enumerate() {
                if i != origin {
                    let changed = agent.checklist.unfreeze_foundation(&foundation);
                    agent.emit_pair_states(changed);
                }
            }
        }
        // In stream order, so that the first stream's initial unfreezing is seen by the others
        // before they unfreeze anything themselves.
        for i in 0..self.streams.len() {
            let others: HashSet<(String, String)> = self
                .streams
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .flat_map(|(_, a)| {
                    a.checklist
                        .live()
                        .filter(|(_, p)| {
                            matches!(p.state, PairState::Waiting | PairState::InProgress)
                        })
                        .map(|(_, p)| p.foundation.clone())
                        .collect::<Vec<_>>()
                })
                .collect();
            if let Some(agent) = self.streams.get_mut(i) {
                agent.checklist.external_active = others;
                // Newly Waiting pairs may be sendable now.
                agent.pace_if_ready(now);
            }
        }
    }
}
