//! `--device auto | gpu | cpu`: burn's wgpu backend (Vulkan, Metal or DX12, whichever the
//! machine has) or its CPU backend. Everything else is the same code on either.

use anyhow::{Result, bail};
use burn::prelude::*;
use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceChoice {
    /// The GPU through wgpu if one answers, else the CPU.
    Auto,
    /// The GPU through wgpu; an error if there is none.
    Gpu,
    /// burn's CPU backend (flex).
    Cpu,
}

/// The device to run on, checked with a tiny computation so that a missing GPU driver is an
/// error message here rather than a panic in the middle of training.
///
/// Call it before starting threads: choosing the CPU also makes it burn's default device
/// (through `BURN_DEVICE`), which burn uses when loading optimiser checkpoints; otherwise a
/// CPU run would still start the GPU driver.
pub fn pick(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(cpu()),
        DeviceChoice::Gpu => gpu(),
        DeviceChoice::Auto => gpu().or_else(|err| {
            eprintln!("note: no usable GPU ({err:#}); running on the CPU");
            Ok(cpu())
        }),
    }
}

fn cpu() -> Device {
    if std::env::var("BURN_DEVICE").as_deref() != Ok("flex") {
        // SAFETY: called from the main thread before the program starts other threads.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    Device::flex()
}

#[cfg(feature = "wgpu")]
fn gpu() -> Result<Device> {
    crate::kernel_cache::configure();
    let device = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
    let probe = device.clone();
    // wgpu reports a missing adapter by panicking; keep the default hook from printing it.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let answer =
        std::panic::catch_unwind(move || Tensor::<1>::ones([4], &probe).sum().into_scalar::<f32>());
    std::panic::set_hook(hook);
    match answer {
        Ok(4.0) => Ok(device),
        Ok(sum) => bail!("the GPU computed 1+1+1+1 = {sum}"),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown error");
            bail!("wgpu could not start: {message}")
        }
    }
}

#[cfg(not(feature = "wgpu"))]
fn gpu() -> Result<Device> {
    bail!("this trainer was built without the `wgpu` feature")
}
