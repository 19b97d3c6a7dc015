// SPDX-License-Identifier: MIT
//! Rust std programs whose descriptors outlive their owners (std only).
//!
//!   rs_fd_owners fault|clean SHAPE
//!
//! double-drop        `File::from_raw_fd` twice on one number: both `File`s close it. The twin
//!                    gives the second handle a descriptor of its own (`try_clone`).
//! double-drop-reuse  the same, with another file opened between the two drops (without
//!                    lifeguard it takes the freed number, and the second drop closes it)
//! close-behind       an `OwnedFd` whose number was closed with libc's close before its drop.
//!                    The twin takes the number out of the `OwnedFd` first (`into_raw_fd`).
//! close-behind-reuse the same, with another file opened between the close and the drop
//! stream-behind      a `UnixStream` whose number was closed behind it, then written to.
//!                    The twin writes first.
//! stream-behind-reuse the same, with another file opened between the close and the write
//! tcp-behind         a `TcpStream` (loopback) whose number was closed behind it, then read
//!
//! In a debug build (debug assertions on), std checks a descriptor with fcntl(F_GETFD) when
//! its `OwnedFd` is dropped and aborts on EBADF ("IO Safety violation"); lifeguard must report
//! before that check's answer reaches the program.
//!
//! Functions a report blames: open_file, first_drop, second_drop, close_behind, drop_owner,
//! use_stream.
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

extern "C" {
    fn close(fd: i32) -> i32;
}

#[inline(never)]
fn open_file() -> File {
    File::open("/dev/null").expect("open /dev/null")
}

#[inline(never)]
fn first_drop(f: File) {
    drop(f);
}

#[inline(never)]
fn second_drop(f: File) {
    drop(f);
}

#[inline(never)]
fn close_behind(fd: RawFd) -> i32 {
    unsafe { close(fd) }
}

#[inline(never)]
fn drop_owner(fd: OwnedFd) {
    drop(fd);
}

#[inline(never)]
fn use_stream<S: Read + Write>(s: &mut S, write: bool) -> bool {
    if write {
        s.write_all(b"status: ok\n").is_ok()
    } else {
        let mut buf = [0u8; 16];
        s.read(&mut buf).is_ok()
    }
}

/// Opened between a close and the stale call: takes the freed number in a normal run.
fn reuse(yes: bool) -> Option<File> {
    if yes {
        Some(File::open("/dev/zero").expect("open /dev/zero"))
    } else {
        None
    }
}

fn double_drop(fault: bool, reused: bool) {
    let first = open_file();
    let second = if fault {
        unsafe { File::from_raw_fd(first.as_raw_fd()) } // the bug: a second owner
    } else {
        first.try_clone().expect("try_clone")
    };
    first_drop(first);
    let other = reuse(reused);
    second_drop(second);
    println!("two owners dropped; other file open: {}", other.is_some());
}

fn closed_behind(fault: bool, reused: bool) {
    let owner: OwnedFd = open_file().into();
    if fault {
        close_behind(owner.as_raw_fd()); // the bug: closed behind its owner's back
        let other = reuse(reused);
        drop_owner(owner);
        println!("owner dropped; other file open: {}", other.is_some());
    } else {
        close_behind(owner.into_raw_fd());
        println!("closed once");
    }
}

fn stream_behind(fault: bool, reused: bool) {
    let (mut a, mut b) = UnixStream::pair().expect("socketpair");
    if !fault {
        let sent = use_stream(&mut a, true);
        drop(a);
        let mut got = String::new();
        let _ = b.read_to_string(&mut got);
        println!("sent: {}; received {} bytes", sent, got.len());
        return;
    }
    close_behind(a.as_raw_fd()); // the bug
    let other = reuse(reused);
    let sent = use_stream(&mut a, true);
    std::mem::forget(a); // its number is not its own any more
    println!("sent: {}; other file open: {}", sent, other.is_some());
}

fn tcp_behind(fault: bool) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (mut server, _) = listener.accept().expect("accept");
    server.write_all(b"hello").expect("server write");
    if fault {
        close_behind(client.as_raw_fd()); // the bug
        let got = use_stream(&mut client, false);
        std::mem::forget(client);
        println!("read: {}", got);
    } else {
        println!("read: {}", use_stream(&mut client, false));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 || (args[1] != "fault" && args[1] != "clean") {
        eprintln!("usage: rs_fd_owners fault|clean SHAPE");
        std::process::exit(2);
    }
    let fault = args[1] == "fault";
    match args[2].as_str() {
        "double-drop" => double_drop(fault, false),
        "double-drop-reuse" => double_drop(fault, true),
        "close-behind" => closed_behind(fault, false),
        "close-behind-reuse" => closed_behind(fault, true),
        "stream-behind" => stream_behind(fault, false),
        "stream-behind-reuse" => stream_behind(fault, true),
        "tcp-behind" => tcp_behind(fault),
        other => {
            eprintln!("rs_fd_owners: unknown shape {}", other);
            std::process::exit(2);
        }
    }
}
