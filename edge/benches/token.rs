//! What checking a bearer token costs (`jsonwebtoken`, HS256), to compare
//! with a command's or a read's whole cost (docs/PERFORMANCE.md).
//! `cargo bench -p sunday-edge --bench token`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sunday_edge::token::{Claims, Secret, mint, verify};
use uuid::Uuid;

fn token(c: &mut Criterion) {
    let secret = Secret::new("a-secret-of-the-usual-length-32b");
    let claims = Claims { sub: Uuid::now_v7(), exp: 4_000_000_000, name: Some("Ada Lovelace".into()), email: None };
    let t = mint(&secret, &claims);
    c.bench_function("verify an HS256 token", |b| b.iter(|| verify(&secret, black_box(&t), 1_000)));
    c.bench_function("mint an HS256 token", |b| b.iter(|| mint(&secret, black_box(&claims))));
}

criterion_group!(benches, token);
criterion_main!(benches);
