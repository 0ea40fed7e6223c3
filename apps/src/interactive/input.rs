//! Where `testpmd -i` reads its commands: a line editor with history on a
//! terminal (rustyline), plain lines otherwise (`testpmd -i < cmds`), with
//! no prompt or echo so a script's output is only the commands' own.

use std::io::{BufRead, IsTerminal};

use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

/// The prompt, as dpdk-testpmd's.
const PROMPT: &str = "testpmd> ";

pub(crate) enum Input {
    /// Boxed: the editor is large, and there is one `Input`.
    Editor(Box<DefaultEditor>),
    Plain(std::io::StdinLock<'static>),
}

impl Input {
    /// A line editor when standard input and output are a terminal.
    pub(crate) fn new() -> Input {
        if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
            if let Ok(ed) = DefaultEditor::new() {
                return Input::Editor(Box::new(ed));
            }
        }
        Input::Plain(std::io::stdin().lock())
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
            Input::Plain(stdin) => {
                let mut line = String::new();
                match stdin.read_line(&mut line) {
                    Ok(0) | Err(_) => None,
                    Ok(_) => Some(line),
                }
            }
        }
    }
}
