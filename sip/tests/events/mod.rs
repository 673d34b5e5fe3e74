//! Picking endpoint events out of what a node saw, shared by the endpoint tests.

/// The `incoming` id of the first `SipEvent::$variant` in `$events` (an iterable of
/// `&SipEvent`), if any.
macro_rules! first_incoming {
    ($events:expr, $variant:ident) => {
        $events.iter().find_map(|e| match e {
            sip::endpoint::SipEvent::$variant { incoming, .. } => Some(*incoming),
            _ => None,
        })
    };
}

pub(crate) use first_incoming;
