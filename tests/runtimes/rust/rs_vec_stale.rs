// SPDX-License-Identifier: MIT
//! Rust std: a raw pointer into a `Vec` kept across a push that reallocates it.
//!
//!   rs_vec_stale fault   record_samples keeps a pointer to the first sample, then appends
//!                        past the capacity (std's RawVec moves the buffer and frees the old
//!                        one), then peek_first reads through the old pointer
//!   rs_vec_stale clean   the twin takes the pointer again after the push
//!
//! Use: peek_first. Free: grow_samples (inside std's realloc). Allocation: collect_samples.
#[inline(never)]
fn collect_samples(n: usize) -> Vec<u32> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        v.push((i as u32).wrapping_mul(2654435761));
    }
    v
}

#[inline(never)]
fn grow_samples(v: &mut Vec<u32>, extra: usize) {
    for i in 0..extra {
        v.push(i as u32);
    }
}

#[inline(never)]
fn peek_first(p: *const u32) -> u32 {
    unsafe { *p }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 2 || (args[1] != "fault" && args[1] != "clean") {
        eprintln!("usage: rs_vec_stale fault|clean");
        std::process::exit(2);
    }
    let fault = args[1] == "fault";
    let mut samples = collect_samples(64);
    let mut first = samples.as_ptr();
    grow_samples(&mut samples, 4096);
    if !fault {
        first = samples.as_ptr();
    }
    println!("first sample: {}; {} samples", peek_first(first), samples.len());
}
