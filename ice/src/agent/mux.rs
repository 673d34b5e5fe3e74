//! Dropping the RTCP component once the answer accepts rtcp-mux.

use super::IceAgent;

impl IceAgent {
    /// RFC 5761 §5.1.3 / RFC 8839 §4.2.2: the offer carried component 2 (RFC 8445
    /// §5.1.1.1, for a peer without rtcp-mux), the answer accepted rtcp-mux, so RTCP shares
    /// component 1: component 2's pairs leave the check list, its local candidates are no
    /// longer signalled and its remote candidates are ignored from now on. Call it before
    /// adding the answer's candidates. Returns whether a component was dropped.
    pub fn drop_rtcp_component(&mut self) -> bool {
        if self.config.components < 2 {
            return false;
        }
        self.config.components = 1;
        self.components.truncate(1);
        for pair in self.checklist.pairs.iter_mut().filter(|p| p.component == 2) {
            pair.removed = true;
        }
        let pairs = &self.checklist.pairs;
        let live = |id: &usize| pairs.get(*id).is_some_and(|p| !p.removed);
        self.checklist.triggered.retain(live);
        self.nomination_queue.retain(live);
        tracing::debug!("rtcp-mux accepted: component 2 dropped");
        true
    }
}
