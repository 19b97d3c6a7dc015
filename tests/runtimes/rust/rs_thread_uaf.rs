// SPDX-License-Identifier: MIT
//! Rust std: a use after free through a raw pointer handed to another thread.
//!
//! The main thread allocates a frame buffer (`Box<[u64]>`), hands its raw pointer to a worker
//! over a channel, and later frees it; the worker sums the buffer when told to.
//!
//!   rs_thread_uaf fault   main frees the buffer (release_frame), then tells the worker to go:
//!                         sum_frame reads freed memory on the worker thread
//!   rs_thread_uaf clean   the twin waits for the worker's answer before it frees
//!
//! Use: sum_frame (worker thread). Free: release_frame. Allocation: make_frame. Every step is
//! a channel message; nothing depends on timing.
use std::sync::mpsc;
use std::thread;

struct FramePtr(*const u64, usize);
unsafe impl Send for FramePtr {}

#[inline(never)]
fn make_frame(len: usize) -> *mut [u64] {
    let v: Vec<u64> = (0..len as u64).map(|i| i * 3 + 1).collect();
    Box::into_raw(v.into_boxed_slice())
}

#[inline(never)]
fn release_frame(frame: *mut [u64]) {
    drop(unsafe { Box::from_raw(frame) });
}

#[inline(never)]
fn sum_frame(p: &FramePtr) -> u64 {
    let mut total = 0u64;
    for i in 0..p.1 {
        total = total.wrapping_add(unsafe { std::ptr::read_volatile(p.0.add(i)) });
    }
    total
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 2 || (args[1] != "fault" && args[1] != "clean") {
        eprintln!("usage: rs_thread_uaf fault|clean");
        std::process::exit(2);
    }
    let fault = args[1] == "fault";
    let (to_worker, from_main) = mpsc::channel::<FramePtr>();
    let (go, wait_go) = mpsc::channel::<()>();
    let (answer, from_worker) = mpsc::channel::<u64>();
    let worker = thread::Builder::new()
        .name("summer".into())
        .spawn(move || {
            let frame = from_main.recv().unwrap();
            wait_go.recv().unwrap();
            answer.send(sum_frame(&frame)).unwrap();
        })
        .unwrap();
    let frame = make_frame(512);
    to_worker.send(FramePtr(frame as *const u64, 512)).unwrap();
    let total = if fault {
        release_frame(frame);
        go.send(()).unwrap();
        from_worker.recv().unwrap()
    } else {
        go.send(()).unwrap();
        let total = from_worker.recv().unwrap();
        release_frame(frame);
        total
    };
    worker.join().unwrap();
    println!("sum: {}", total);
}
