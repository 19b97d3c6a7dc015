// SPDX-License-Identifier: MIT
//! Rust std: a real threaded program (threads, channels, `Arc<Mutex<_>>`, file I/O). It must
//! run clean and unchanged under `lifeguard verify`, with the same output.
//!
//!   rs_threaded DIR   four workers take jobs from a shared channel; each job writes a file in
//!                     DIR, reads it back, counts its words into a shared map and reports on a
//!                     result channel; main writes a summary file and prints the totals. The
//!                     output does not depend on which worker took which job.
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;

const WORDS: [&str; 8] = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"];

fn job_text(job: usize) -> String {
    let mut text = String::new();
    for line in 0..(20 + job % 7) {
        for w in 0..(3 + (job + line) % 5) {
            text.push_str(WORDS[(job * 7 + line * 3 + w) % WORDS.len()]);
            text.push(' ');
        }
        text.push('\n');
    }
    text
}

fn run_job(dir: &Path, job: usize, counts: &Mutex<BTreeMap<String, usize>>) -> (usize, usize) {
    let path: PathBuf = dir.join(format!("job-{job}.txt"));
    let mut f = fs::File::create(&path).expect("create");
    f.write_all(job_text(job).as_bytes()).expect("write");
    drop(f);
    let reader = BufReader::new(fs::File::open(&path).expect("open"));
    let mut lines = 0;
    let mut words = 0;
    let mut local: BTreeMap<String, usize> = BTreeMap::new();
    for line in reader.lines() {
        let line = line.expect("read");
        lines += 1;
        for w in line.split_whitespace() {
            words += 1;
            *local.entry(w.to_string()).or_default() += 1;
        }
    }
    let mut shared = counts.lock().unwrap();
    for (w, n) in local {
        *shared.entry(w).or_default() += n;
    }
    fs::remove_file(&path).expect("remove");
    (lines, words)
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: rs_threaded DIR");
        std::process::exit(2);
    }));
    let jobs = 64;
    let counts = Arc::new(Mutex::new(BTreeMap::new()));
    let (job_tx, job_rx) = mpsc::channel::<usize>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<(usize, usize, usize)>();
    let started = Arc::new((Mutex::new(0usize), Condvar::new()));
    let mut workers = Vec::new();
    for id in 0..4 {
        let (job_rx, done_tx, counts, dir, started) =
            (job_rx.clone(), done_tx.clone(), counts.clone(), dir.clone(), started.clone());
        workers.push(thread::Builder::new().name(format!("worker-{id}")).spawn(move || {
            {
                let (lock, cv) = &*started;
                *lock.lock().unwrap() += 1;
                cv.notify_all();
            }
            loop {
                let job = match job_rx.lock().unwrap().recv() {
                    Ok(job) => job,
                    Err(_) => break,
                };
                let (lines, words) = run_job(&dir, job, &counts);
                done_tx.send((job, lines, words)).unwrap();
            }
        }).unwrap());
    }
    drop(done_tx);
    {
        let (lock, cv) = &*started;
        let mut n = lock.lock().unwrap();
        while *n < 4 {
            n = cv.wait(n).unwrap();
        }
    }
    for job in 0..jobs {
        job_tx.send(job).unwrap();
    }
    drop(job_tx);
    let mut results: Vec<(usize, usize, usize)> = done_rx.iter().collect();
    for w in workers {
        w.join().unwrap();
    }
    results.sort();
    let lines: usize = results.iter().map(|r| r.1).sum();
    let words: usize = results.iter().map(|r| r.2).sum();
    let summary = dir.join("summary.txt");
    let counts = counts.lock().unwrap();
    let mut out = String::new();
    for (w, n) in counts.iter() {
        out.push_str(&format!("{w} {n}\n"));
    }
    fs::write(&summary, &out).expect("write summary");
    let back = fs::read_to_string(&summary).expect("read summary");
    fs::remove_file(&summary).expect("remove summary");
    println!("{} jobs, {} lines, {} words", results.len(), lines, words);
    print!("{back}");
}
