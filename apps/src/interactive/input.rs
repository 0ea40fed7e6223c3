//! Where `testpmd -i` reads its commands: a line editor with history on a
//! terminal (rustyline), plain lines otherwise (`testpmd -i < cmds`), with
//! no prompt or echo so a script's output is only the commands' own.

use std::io::IsTerminal;

use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

/// The prompt, as dpdk-testpmd's.
const PROMPT: &str = "testpmd> ";

pub(crate) enum Input {
    /// Boxed: the editor is large, and there is one `Input`.
    Editor(Box<DefaultEditor>),
    Plain(PlainLines),
}

impl Input {
    /// A line editor when standard input and output are a terminal.
    pub(crate) fn new() -> Input {
        if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
            if let Ok(ed) = DefaultEditor::new() {
                return Input::Editor(Box::new(ed));
            }
        }
        Input::Plain(PlainLines::default())
    }

    /// The next line; `None` at the end of input (EOF, Ctrl-D) or on a
    /// read error. Ctrl-C on the editor gives an empty line, as a shell.
    pub(crate) fn next_line(&mut self) -> Option<String> {
        match self {
            Input::Editor(ed) => match ed.readline(PROMPT) {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = ed.add_history_entry(line.as_str());
                    }
                    Some(line)
                }
                Err(ReadlineError::Interrupted) => Some(String::new()),
                Err(_) => None,
            },
            Input::Plain(lines) => lines.next_line(),
        }
    }
}

/// Lines from standard input, read so that a stop signal (SIGINT, SIGTERM)
/// ends the wait for the next one: `std`'s reader blocks in `read`, which
/// the signal handler (installed with `SA_RESTART`) does not interrupt.
#[derive(Default)]
pub(crate) struct PlainLines {
    buf: Vec<u8>,
    eof: bool,
}

impl PlainLines {
    /// The next line; `None` at end of input, on a read error, or once a
    /// stop signal arrived.
    fn next_line(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            if self.eof {
                let rest = std::mem::take(&mut self.buf);
                return (!rest.is_empty()).then(|| String::from_utf8_lossy(&rest).into_owned());
            }
            if !stdin_readable() {
                return None;
            }
            let mut chunk = [0u8; 4096];
            // SAFETY: `chunk` is a writable buffer of the length passed.
            let n = unsafe { libc::read(libc::STDIN_FILENO, chunk.as_mut_ptr().cast(), chunk.len()) };
            match n {
                0 => self.eof = true,
                n if n > 0 => self.buf.extend_from_slice(&chunk[..n as usize]),
                _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
                _ => return None,
            }
        }
    }
}

/// Waits until standard input is readable (or at its end); `false` once
/// a stop signal arrived (its handler rings the signal eventfd, and
/// interrupts `poll`) or `poll` failed. Only SIGINT and SIGTERM have
/// handlers, so no other signal ends the wait.
fn stdin_readable() -> bool {
    let wake = crate::signal::wake_fd().unwrap_or(-1); // poll skips a negative fd
    !crate::signal::requested() && crate::event::wait_readable(libc::STDIN_FILENO, wake, None)
}
