//! Benchmark of the control plane (see README).
fn main() {}
