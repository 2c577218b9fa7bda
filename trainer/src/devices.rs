//! `trainer devices`: the adapters wgpu sees, numbered as `--device gpu:N` takes them, and
//! what `--device auto` picks.

use anyhow::Result;

#[cfg(feature = "wgpu")]
pub fn run() -> Result<()> {
    use crate::device::adapters;

    let listed = adapters::list();
    let size = |bytes: Option<u64>| match bytes {
        Some(bytes) if bytes >= 1 << 30 => format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64),
        Some(bytes) => format!("{} MiB", bytes >> 20),
        None => "unknown".into(),
    };
    let rows: Vec<[String; 6]> = listed
        .iter()
        .enumerate()
        .map(|(index, adapter)| {
            [
                format!("gpu:{index}"),
                adapter.name.clone(),
                adapter.kind_name().into(),
                format!("{:?}", adapter.backend),
                size(adapter.limits.memory),
                size(adapter.limits.max_buffer),
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("wgpu sees no adapter: no Vulkan, Metal or DX12 driver answered");
    } else {
        print_table(&rows);
    }
    match adapters::auto(&listed) {
        Some(index) => println!("--device auto picks gpu:{index}, {}", listed[index].label()),
        None => println!(
            "--device auto runs on the CPU: {}",
            adapters::no_gpu(&listed)
        ),
    }
    Ok(())
}

/// The adapters in aligned columns under a header.
#[cfg(feature = "wgpu")]
fn print_table(rows: &[[String; 6]]) {
    let header = ["device", "name", "type", "api", "memory", "largest buffer"].map(String::from);
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            std::iter::once(&header)
                .chain(rows)
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:width$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}

#[cfg(not(feature = "wgpu"))]
pub fn run() -> Result<()> {
    println!("this trainer was built without the `wgpu` feature: --device auto runs on the CPU");
    Ok(())
}
