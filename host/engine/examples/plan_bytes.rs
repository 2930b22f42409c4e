//! SCRATCH (not committed): bytes and allocations a plan keeps per person.
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use engine::config::Config;
use engine::cycle::{CycleInput, Pipeline, plan_cycle};
use engine::testing::{native_plugins, records_after, synthetic_directory};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static USABLE: AtomicUsize = AtomicUsize::new(0);
static COUNT: AtomicUsize = AtomicUsize::new(0);
static LIVECOUNT: AtomicUsize = AtomicUsize::new(0);
static M: mimalloc::MiMalloc = mimalloc::MiMalloc;
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { M.alloc(l) };
        LIVE.fetch_add(l.size(), Relaxed);
        USABLE.fetch_add(unsafe { libmimalloc_sys::mi_usable_size(p as _) }, Relaxed);
        COUNT.fetch_add(1, Relaxed);
        LIVECOUNT.fetch_add(1, Relaxed);
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        USABLE.fetch_sub(unsafe { libmimalloc_sys::mi_usable_size(p as _) }, Relaxed);
        LIVECOUNT.fetch_sub(1, Relaxed);
        unsafe { M.dealloc(p, l) }
    }
}
#[global_allocator]
static G: Counting = Counting;

const CONFIG: &str = include_str!("../testdata/zoom.toml");

fn main() {
    let people: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let config = Config::from_toml_str(CONFIG).expect("config");
    let pipeline = Pipeline::build(&config).expect("pipeline");
    let plugins = native_plugins(&config);
    let directory = synthetic_directory(people);
    let mut input = CycleInput {
        cycle_id: "c1",
        people: &directory,
        records: &[],
        pipeline: &pipeline,
        plugins: &plugins,
    };
    let records = records_after(&plan_cycle(&input));
    for case in ["initial", "no-change"] {
        input.records = if case == "initial" { &[] } else { &records };
        let (l0, u0, c0, lc0) = (
            LIVE.load(Relaxed),
            USABLE.load(Relaxed),
            COUNT.load(Relaxed),
            LIVECOUNT.load(Relaxed),
        );
        let plan = plan_cycle(&input);
        let (l1, u1, c1, lc1) = (
            LIVE.load(Relaxed),
            USABLE.load(Relaxed),
            COUNT.load(Relaxed),
            LIVECOUNT.load(Relaxed),
        );
        let p = people as f64;
        println!(
            "{case:>9}: kept {:.0} B/person requested, {:.0} B usable, {:.1} live blocks/person, {:.1} allocations/person",
            (l1 - l0) as f64 / p,
            (u1 - u0) as f64 / p,
            (lc1 - lc0) as f64 / p,
            (c1 - c0) as f64 / p
        );
        if std::env::var_os("SHOW").is_some() {
            println!(
                "{}\n{}",
                serde_json::to_string_pretty(&plan.actions[1]).unwrap(),
                serde_json::to_string_pretty(&plan.log[1]).unwrap()
            );
        }
        drop(plan);
    }
    println!(
        "sizes: Value {} ModifiedProperty {} Step {} LogEntry {} PlannedAction {} Record {} Text {}",
        size_of::<engine::model::Value>(),
        size_of::<engine::log::ModifiedProperty>(),
        size_of::<engine::log::Step>(),
        size_of::<engine::log::LogEntry>(),
        size_of::<engine::plan::PlannedAction>(),
        size_of::<engine::model::ProvisionedRecord>(),
        size_of::<engine::log::Text>()
    );
}
