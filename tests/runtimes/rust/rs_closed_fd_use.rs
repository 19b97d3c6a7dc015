// SPDX-License-Identifier: MIT
//! Rust std: a descriptor used after its owner was dropped. A raw number is kept from a
//! `UnixStream` and wrapped again (`ManuallyDrop<UnixStream>`) after the stream is gone.
//!
//!   rs_closed_fd_use fault   the sender's stream is dropped, then send_after_drop writes to
//!                            the kept number: a closed-descriptor use
//!   rs_closed_fd_use clean   the twin sends before it drops the stream
//!
//! Use: send_after_drop. Close: drop_sender. Open: connect_pair.
use std::io::{Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixStream;

#[inline(never)]
fn connect_pair() -> (UnixStream, UnixStream) {
    UnixStream::pair().expect("socketpair")
}

#[inline(never)]
fn drop_sender(s: UnixStream) {
    drop(s);
}

#[inline(never)]
fn send_after_drop(raw: RawFd, msg: &[u8]) -> bool {
    let mut s = ManuallyDrop::new(unsafe { UnixStream::from_raw_fd(raw) });
    s.write_all(msg).is_ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 2 || (args[1] != "fault" && args[1] != "clean") {
        eprintln!("usage: rs_closed_fd_use fault|clean");
        std::process::exit(2);
    }
    let fault = args[1] == "fault";
    let (sender, mut receiver) = connect_pair();
    let raw = sender.as_raw_fd();
    let sent = if fault {
        drop_sender(sender);
        send_after_drop(raw, b"status: ok\n")
    } else {
        let sent = send_after_drop(raw, b"status: ok\n");
        drop_sender(sender);
        sent
    };
    let mut got = String::new();
    let _ = receiver.read_to_string(&mut got);
    println!("sent: {}; received {} bytes", sent, got.len());
}
