//! Human-readable logs go to stderr through tracing; `-v`, `-vv` or `RUST_LOG` choose the level.
//!
//! Colour only on a terminal and never with `NO_COLOR` set (no-color.org): a log redirected
//! to a file or a pipe carries no ANSI escape codes. Without `-v` a warning is one short
//! line (`WARN message`); with `-v` and more, timestamps and the emitting module are added.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Whether stderr gets ANSI colours: a terminal, and `NO_COLOR` unset or empty.
pub fn colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

pub fn init(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if verbose == 0 {
        builder.without_time().with_target(false).init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(!colour(false, None));
        assert!(!colour(true, Some(std::ffi::OsStr::new("1"))));
        assert!(colour(true, Some(std::ffi::OsStr::new(""))));
    }
}
