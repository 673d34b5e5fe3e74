//! STUN codec (RFC 8489). Work in progress: filled in by the foundation issue.
