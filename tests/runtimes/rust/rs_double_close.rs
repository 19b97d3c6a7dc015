// SPDX-License-Identifier: MIT
//! Rust std: two owners of one descriptor. `File::from_raw_fd` is called twice on the same
//! number, so two `File`s will each close it.
//!
//!   rs_double_close fault DIR   the first owner is dropped (closing the number), the program
//!                               opens its journal (which takes the freed number in a normal
//!                               run), then the second owner is dropped: its close is a double
//!                               close that, unchecked, closes the journal
//!   rs_double_close clean DIR   the twin gives the descriptor one owner: the second handle is
//!                               made with `try_clone` (a descriptor of its own)
//!
//! Second close: drop_second_owner. First close: drop_first_owner. Open: open_config.
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::Path;

#[inline(never)]
fn open_config(dir: &Path) -> File {
    let path = dir.join("config.txt");
    std::fs::write(&path, b"threads=4\nmode=fast\n").expect("write config");
    File::open(&path).expect("open config")
}

#[inline(never)]
fn drop_first_owner(f: File) {
    drop(f);
}

#[inline(never)]
fn drop_second_owner(f: File) {
    drop(f);
}

#[inline(never)]
fn open_journal(dir: &Path) -> File {
    File::create(dir.join("journal.txt")).expect("create journal")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 || (args[1] != "fault" && args[1] != "clean") {
        eprintln!("usage: rs_double_close fault|clean DIR");
        std::process::exit(2);
    }
    let fault = args[1] == "fault";
    let dir = Path::new(&args[2]);
    let mut config = open_config(dir);
    let second = if fault {
        // the bug: a second owner of the same number
        unsafe { File::from_raw_fd(config.as_raw_fd()) }
    } else {
        config.try_clone().expect("try_clone")
    };
    let mut text = String::new();
    config.read_to_string(&mut text).expect("read config");
    drop_first_owner(config);
    let mut journal = open_journal(dir);
    drop_second_owner(second);
    let written = journal.write_all(text.as_bytes()).is_ok();
    println!("config: {} lines; journal written: {}", text.lines().count(), written);
}
