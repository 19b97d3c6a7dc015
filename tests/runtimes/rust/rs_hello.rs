// SPDX-License-Identifier: MIT
//! Rust std: hello world. It must run clean and unchanged under `lifeguard verify`.
fn main() {
    println!("Hello, world!");
}
