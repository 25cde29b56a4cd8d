//! The crypto ceiling for `benches/mint.rs` and `bench/run.sh`: raw aws-lc-rs RS256 signing with a
//! generated key and with a key parsed from PKCS#8, on one thread and on as many threads as the
//! machine has CPUs at once, and RS256 verification on one thread, measured in the same run on the
//! same machine, so the mint and HTTP figures can be read as a ratio of what the hardware allows.
//!
//! Besides signatures per second of wall time, each line gives signatures per CPU-second: every
//! thread reads its own CPU time (Linux `/proc/thread-self/schedstat`, nanoseconds), so time the
//! threads spent waiting for a CPU other work held does not count. With every core signing, that is
//! the rate a server whose cores are all busy gets, whatever else runs on a shared machine; it is
//! what `bench/run.sh` compares the token endpoint's tokens per server CPU-second with.
//!
//! Each figure is the median of `RSA_RAW_ROUNDS` rounds (default 3) of `RSA_RAW_SECS` seconds
//! (default 2). `RSA_RAW_ONLY=all` measures only the all-cores signing rate: `bench/run.sh` takes it
//! beside each round's token run, so that the token figure is read against the machine's speed at
//! that moment rather than at the start of the run.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    KeyPair, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// The signing input: about the size of a token's header and claims.
const MESSAGE: &[u8] = &[b'x'; 600];

/// This thread's CPU time in nanoseconds, when the system says (Linux).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What one thread did in one round.
#[derive(Clone, Copy)]
struct Done {
    ops: u64,
    wall: Duration,
    cpu_ns: Option<u64>,
}

/// Repeats `op` for `secs` seconds of wall time.
fn timed(secs: f64, mut op: impl FnMut()) -> Done {
    let cpu0 = thread_cpu_ns();
    let started = Instant::now();
    let limit = Duration::from_secs_f64(secs);
    let mut ops = 0;
    while started.elapsed() < limit {
        for _ in 0..16 {
            op();
        }
        ops += 16;
    }
    let wall = started.elapsed();
    let cpu_ns = thread_cpu_ns()
        .zip(cpu0)
        .map(|(after, before)| after - before);
    Done { ops, wall, cpu_ns }
}

fn sign_for(pair: &RsaKeyPair, secs: f64) -> Done {
    let rng = SystemRandom::new();
    let mut sig = vec![0; pair.public_modulus_len()];
    timed(secs, || {
        pair.sign(&RSA_PKCS1_SHA256, &rng, MESSAGE, &mut sig)
            .expect("sign");
    })
}

/// Wall rate and CPU rate of one round: the threads' operations over the longest wall time, and
/// over the sum of their CPU times.
fn rates(done: &[Done]) -> (f64, Option<f64>) {
    let ops: u64 = done.iter().map(|d| d.ops).sum();
    let wall = done.iter().map(|d| d.wall).max().unwrap_or_default();
    let cpu: Option<u64> = done.iter().map(|d| d.cpu_ns).sum();
    let per_cpu = cpu
        .filter(|&ns| ns > 0)
        .map(|ns| ops as f64 / (ns as f64 / 1e9));
    (ops as f64 / wall.as_secs_f64(), per_cpu)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

/// The medians of both rates over `rounds` rounds of `round`.
fn measure(rounds: usize, mut round: impl FnMut() -> Vec<Done>) -> (f64, Option<f64>) {
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..rounds {
        let (w, c) = rates(&round());
        wall.push(w);
        cpu.extend(c);
    }
    let cpu = (cpu.len() == rounds).then(|| median(cpu));
    (median(wall), cpu)
}

fn per_cpu(rate: Option<f64>) -> String {
    rate.map_or_else(
        || "CPU time not available".to_owned(),
        |r| format!("{r:.0} per CPU-second"),
    )
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let secs: f64 = env_or("RSA_RAW_SECS", 2.0);
    let rounds: usize = env_or("RSA_RAW_ROUNDS", 3).max(1);
    let generated = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).expect("generate");
    let der = generated.as_der().expect("der");
    let parsed = Arc::new(RsaKeyPair::from_pkcs8(der.as_ref()).expect("parse"));
    let only_all = std::env::var("RSA_RAW_ONLY").as_deref() == Ok("all");
    // Warm-up: caches, the CPU's clock.
    sign_for(&parsed, secs.min(0.5));
    let single: &[(&str, &RsaKeyPair)] = if only_all {
        &[]
    } else {
        &[("generated", &generated), ("parsed", &*parsed)]
    };
    for &(label, pair) in single {
        let (wall, cpu) = measure(rounds, || vec![sign_for(pair, secs)]);
        println!("{label}, 1 thread: {wall:.0}/s, {}", per_cpu(cpu));
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (wall, cpu) = measure(rounds, || {
        let start = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let pair = Arc::clone(&parsed);
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    sign_for(&pair, secs)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("signing thread"))
            .collect()
    });
    println!(
        "parsed, {threads} threads: {wall:.0}/s in total, {}",
        per_cpu(cpu)
    );
    if only_all {
        return;
    }
    let mut sig = vec![0; parsed.public_modulus_len()];
    parsed
        .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), MESSAGE, &mut sig)
        .expect("sign");
    // Parsed once, as mock-idp keeps it (`keys::SigningKey`).
    let public = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, parsed.public_key().as_ref())
        .expect("public key");
    let (wall, cpu) = measure(rounds, || {
        vec![timed(secs, || {
            public.verify_sig(MESSAGE, &sig).expect("verify");
        })]
    });
    println!("verify, 1 thread: {wall:.0}/s, {}", per_cpu(cpu));
}
