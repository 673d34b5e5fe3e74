//! The console front end: a rustyline line editor (history kept in the state directory,
//! Tab completes command names) on a plain thread, since its reads block. Each line becomes
//! a [`Request`]; the reply or the error is printed under it.

use std::path::PathBuf;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use tokio::sync::{mpsc, oneshot};

use super::command::{self, Command, NAMES};
use super::Request;

/// Tab completion of the first word.
struct Names;

impl Completer for Names {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok((0, completions(line, pos)))
    }
}

/// The command names that complete the first word of `line` up to `pos` (none once the
/// cursor is past the first word).
pub fn completions(line: &str, pos: usize) -> Vec<String> {
    let typed = line.get(..pos).unwrap_or(line);
    if typed.contains(char::is_whitespace) {
        return Vec::new();
    }
    NAMES
        .iter()
        .filter(|n| n.starts_with(typed))
        .map(|n| format!("{n} "))
        .collect()
}

impl Hinter for Names {
    type Hint = String;
}
impl Highlighter for Names {}
impl Validator for Names {}
impl Helper for Names {}

/// Where the history is kept: `$XDG_STATE_HOME/icephone/phone_history`, else
/// `~/.local/state/icephone/phone_history`.
fn history_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(base.join("icephone").join("phone_history"))
}

/// Reads lines until `quit`, end of input or Ctrl-C. `keep_running_at_eof`: end of input
/// only stops the console (the control socket still drives the phone).
pub fn spawn(requests: mpsc::Sender<Request>, keep_running_at_eof: bool) {
    std::thread::spawn(move || {
        let mut editor = match Editor::<Names, rustyline::history::DefaultHistory>::new() {
            Ok(e) => e,
            Err(e) => {
                eprintln!("icephone: no line editor ({e}); use the control socket");
                return;
            }
        };
        editor.set_helper(Some(Names));
        // rustyline's external printer would print the phone's lines above the prompt,
        // but with it keys that arrive together (a paste) wait for the next key press
        // (rustyline 17): the lines are printed as they come instead.
        let history = history_path();
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        println!("icephone phone: type `help` for the commands, Tab completes them");
        loop {
            let command = match editor.readline("icephone> ") {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                    }
                    match command::parse_line(&line) {
                        Ok(Some(c)) => c,
                        Ok(None) => continue,
                        Err(e) => {
                            println!("error: {e}");
                            continue;
                        }
                    }
                }
                Err(ReadlineError::Eof) if keep_running_at_eof => break,
                Err(ReadlineError::Eof | ReadlineError::Interrupted) => Command::Quit,
                Err(e) => {
                    eprintln!("icephone: console: {e}");
                    Command::Quit
                }
            };
            let quit = command == Command::Quit;
            let (reply, answer) = oneshot::channel();
            if requests.blocking_send(Request { command, reply }).is_err() {
                break;
            }
            match answer.blocking_recv() {
                Ok(Ok(r)) if !r.text.is_empty() => println!("{}", r.text),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => println!("error: {e}"),
                Err(_) => break,
            }
            if quit {
                break;
            }
        }
        if let Some(path) = &history {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = editor.save_history(path);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_completes_command_names_only_in_the_first_word() {
        assert_eq!(completions("ha", 2), vec!["hangup "]);
        assert_eq!(
            completions("re", 2),
            vec!["reject ", "resume ", "restart-ice "]
        );
        assert!(completions("call sip:", 9).is_empty());
        assert_eq!(completions("", 0).len(), NAMES.len());
        assert!(completions("zz", 2).is_empty());
        // A position inside a multi-byte character completes nothing rather than panic.
        assert!(completions("é", 1)
            .iter()
            .all(|c| NAMES.contains(&c.trim_end())));
    }
}
