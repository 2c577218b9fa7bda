//! A FashionAI label CSV, read for every task.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::labels::parse_rows;
use shared::tasks::TASKS;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for task in &TASKS {
        for (_, row) in parse_rows(&text, task) {
            if let Err(reason) = row {
                assert!(!reason.is_empty());
            }
        }
    }
});
