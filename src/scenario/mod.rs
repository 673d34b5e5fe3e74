//! The scenario runner (`icephone run`): scripted call flows with ICE assertions, JUnit
//! reports and a load mode. The file format is in `scenarios/README.md`.

pub mod agent;
pub mod agent_ua;
pub mod data;
pub mod format;
pub mod instance;
pub mod junit;
pub mod load;
pub mod messages;
pub mod registrar;
pub mod report;
pub mod usage;
pub mod vars;

pub use format::{load as load_file, parse, FormatError, Scenario};
pub use instance::run_once;
