//! What netctl prints. Everything for stdout goes through `out!`/`outln!`: when the
//! reader goes away (`netctl ps | head -c 600`), netctl ends quietly as other Unix
//! tools do, killed by SIGPIPE, instead of panicking as `println!` does.

pub mod format;
pub mod table;
pub mod template;

/// `print!` that ends netctl quietly on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($arg)*) {
            $crate::output::write_failed(e)
        }
    }};
}

/// `println!` that ends netctl quietly on a closed pipe.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::output::write_failed(e)
        }
    }};
}

/// True when `err` comes from writing to a pipe nobody reads any more.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Stdout failed: on a closed pipe, die of SIGPIPE as `cat` or `ls` would (the
/// shell sees 141, nothing is printed); on any other error, say so and exit 1.
pub fn write_failed(err: std::io::Error) -> ! {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        broken_pipe()
    }
    eprintln!("netctl: cannot write to stdout: {err}");
    std::process::exit(1)
}

/// Ends the process by SIGPIPE with its default action (Rust's runtime ignores it).
pub fn broken_pipe() -> ! {
    use nix::sys::signal::{raise, signal, SigHandler, Signal};
    // SAFETY: SIG_DFL installs no handler of ours; nothing else in netctl relies
    // on SIGPIPE being ignored from here on, as the process ends now.
    unsafe {
        let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
    }
    let _ = raise(Signal::SIGPIPE);
    std::process::exit(128 + Signal::SIGPIPE as i32)
}
