//! The crypto ceiling for `benches/mint.rs`: raw aws-lc-rs RS256 signing with a generated key and
//! with a key parsed from PKCS#8, measured in the same run on the same machine, so the mint
//! figure can be read as a ratio of what the hardware allows.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use std::time::Instant;
fn main() {
    let generated = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).unwrap();
    let der = generated.as_der().unwrap();
    let parsed = RsaKeyPair::from_pkcs8(der.as_ref()).unwrap();
    let rng = SystemRandom::new();
    for (label, pair) in [("generated", &generated), ("parsed", &parsed)] {
        let mut sig = vec![0; pair.public_modulus_len()];
        let t = Instant::now();
        let n = 2000;
        for _ in 0..n {
            pair.sign(&RSA_PKCS1_SHA256, &rng, b"hello", &mut sig)
                .unwrap();
        }
        println!("{label}: {:.0}/s", n as f64 / t.elapsed().as_secs_f64());
        let _ = pair.public_key();
    }
}
