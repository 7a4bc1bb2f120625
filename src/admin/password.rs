//! Where `berth htpasswd add` gets a password: the first line of stdin
//! (`--password-stdin`, for scripts), or a prompt without echo when stdin is
//! a terminal. There is no option that takes the password itself: a command
//! line is visible to every user in `ps` and lands in shell history, and
//! `--password-stdin` covers what apache's `htpasswd -b` is used for.

use std::io::{self, BufRead, IsTerminal, Write};

use anyhow::{Context, bail};

/// The password, from stdin's first line when `from_stdin`, else asked twice
/// on the terminal.
pub fn read(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        return first_line(&mut io::stdin().lock()).context("reading the password from stdin");
    }
    if !io::stdin().is_terminal() {
        bail!("stdin is not a terminal: pass the password on stdin with --password-stdin");
    }
    let password = prompt("New password: ")?;
    if prompt("Re-type new password: ")? != password {
        bail!("the passwords do not match");
    }
    Ok(password)
}

/// The first line without its line ending, as `docker login
/// --password-stdin` reads it.
fn first_line(input: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    input.read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Asks on stderr and reads a line from the terminal with echo off.
fn prompt(question: &str) -> anyhow::Result<String> {
    eprint!("{question}");
    io::stderr().flush()?;
    let line = {
        let _quiet = NoEcho::new().context("turning off the terminal's echo")?;
        first_line(&mut io::stdin().lock())
    };
    // The newline typed was not echoed either.
    eprintln!();
    Ok(line?)
}

/// Terminal echo is off while this lives; the old settings come back on drop.
struct NoEcho(libc::termios);

impl NoEcho {
    fn new() -> io::Result<NoEcho> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut old: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 and a valid pointer to a termios.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut old) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut quiet = old;
        // ECHONL keeps nothing echoed but the newline; off, the prompt adds it.
        quiet.c_lflag &= !(libc::ECHO | libc::ECHONL);
        // SAFETY: as above, with settings derived from the current ones.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(NoEcho(old))
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `new`.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_drops_the_line_ending_only() {
        for (input, want) in [("pw\n", "pw"), ("pw\r\nrest\n", "pw"), (" p w \n", " p w "), ("", ""), ("pw", "pw")] {
            assert_eq!(first_line(&mut input.as_bytes()).unwrap(), want, "{input:?}");
        }
    }
}
