//! scratch
use esu_preflight::models::{Item, Machine};
use esu_preflight_tests::FleetSpec;
use std::time::Instant;
#[derive(serde::Deserialize)]
struct Page<T> { value: Vec<T> }
fn main() {
    let spec = FleetSpec::issue8();
    let sub = FleetSpec::subscription_id(0);
    let lic = spec.licenses(&sub);
    let ms = spec.machines(&sub, &lic);
    let page = serde_json::to_vec(&serde_json::json!({"value": &ms[..1000]})).unwrap();
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..20 { let p: Page<Item<Machine>> = serde_json::from_slice(&page).unwrap(); std::hint::black_box(p); }
        println!("Item<Machine> per page: {:?}", t.elapsed() / 20);
        let t = Instant::now();
        for _ in 0..20 { let p: serde::de::IgnoredAny = serde_json::from_slice(&page).unwrap(); std::hint::black_box(p); }
        println!("ignore per page: {:?}", t.elapsed() / 20);
    }
}
