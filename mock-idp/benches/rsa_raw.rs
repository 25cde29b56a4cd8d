//! The crypto ceiling for `benches/mint.rs`: raw aws-lc-rs RS256 signing with a generated key and
//! with a key parsed from PKCS#8, on one thread and on as many threads as the machine has CPUs,
//! measured in the same run on the same machine, so the mint and HTTP figures can be read as a
//! ratio of what the hardware allows.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use std::sync::Arc;
use std::time::Instant;

const SIGNATURES_PER_THREAD: usize = 2000;

fn sign_many(pair: &RsaKeyPair) {
    let rng = SystemRandom::new();
    let mut sig = vec![0; pair.public_modulus_len()];
    for _ in 0..SIGNATURES_PER_THREAD {
        pair.sign(&RSA_PKCS1_SHA256, &rng, b"hello", &mut sig)
            .unwrap();
    }
}

fn main() {
    let generated = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).unwrap();
    let der = generated.as_der().unwrap();
    let parsed = Arc::new(RsaKeyPair::from_pkcs8(der.as_ref()).unwrap());
    for (label, pair) in [("generated", &generated), ("parsed", &*parsed)] {
        let t = Instant::now();
        sign_many(pair);
        println!(
            "{label}, 1 thread: {:.0}/s",
            SIGNATURES_PER_THREAD as f64 / t.elapsed().as_secs_f64()
        );
        let _ = pair.public_key();
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let t = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let pair = Arc::clone(&parsed);
            std::thread::spawn(move || sign_many(&pair))
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    println!(
        "parsed, {threads} threads: {:.0}/s in total",
        (threads * SIGNATURES_PER_THREAD) as f64 / t.elapsed().as_secs_f64()
    );
}
