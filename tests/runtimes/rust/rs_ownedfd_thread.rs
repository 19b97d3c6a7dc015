// SPDX-License-Identifier: MIT
//! Rust std: an `OwnedFd` made on a worker thread from a number the main thread still owns.
//!
//!   rs_ownedfd_thread fault DIR   main hands the raw number of its stream's write end to a
//!                                 worker, which wraps it in an `OwnedFd`; main drops its own
//!                                 end, opens its state file (which takes the number in a
//!                                 normal run) and tells the worker to finish: the worker's
//!                                 drop closes the number a second time, on its own thread
//!   rs_ownedfd_thread clean DIR   the twin hands the worker a duplicate (`try_clone_to_owned`)
//!
//! Second close: worker_release (worker thread). First close: close_writer. Open: make_stream_pair.
//! Every step is a channel message.
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc;
use std::thread;

#[inline(never)]
fn make_stream_pair() -> (UnixStream, UnixStream) {
    UnixStream::pair().expect("socketpair")
}

#[inline(never)]
fn close_writer(w: UnixStream) {
    drop(w);
}

#[inline(never)]
fn worker_release(fd: OwnedFd) -> RawFd {
    let n = fd.as_raw_fd();
    drop(fd);
    n
}

enum Handoff {
    Raw(RawFd),
    Owned(OwnedFd),
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 || (args[1] != "fault" && args[1] != "clean") {
        eprintln!("usage: rs_ownedfd_thread fault|clean DIR");
        std::process::exit(2);
    }
    let fault = args[1] == "fault";
    let (mut reader, mut writer) = make_stream_pair();
    writer.write_all(b"ping").expect("write");
    let (to_worker, handed) = mpsc::channel::<Handoff>();
    let (finish, told) = mpsc::channel::<()>();
    let (done, finished) = mpsc::channel::<RawFd>();
    let worker = thread::Builder::new()
        .name("releaser".into())
        .spawn(move || {
            let fd = match handed.recv().unwrap() {
                Handoff::Raw(n) => unsafe { OwnedFd::from_raw_fd(n) }, // the bug: a second owner
                Handoff::Owned(fd) => fd,
            };
            told.recv().unwrap();
            done.send(worker_release(fd)).unwrap();
        })
        .unwrap();
    if fault {
        to_worker.send(Handoff::Raw(writer.as_raw_fd())).unwrap();
    } else {
        to_worker.send(Handoff::Owned(writer.as_fd().try_clone_to_owned().unwrap())).unwrap();
    }
    close_writer(writer);
    let state_path = Path::new(&args[2]).join("state.txt");
    let mut state = File::create(&state_path).expect("create state");
    finish.send(()).unwrap();
    finished.recv().unwrap();
    worker.join().unwrap();
    let saved = state.write_all(b"state\n").is_ok();
    let mut got = [0u8; 4];
    reader.read_exact(&mut got).expect("read");
    println!("pipe said {}; state saved: {}", String::from_utf8_lossy(&got), saved);
}
