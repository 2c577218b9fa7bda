//! Where the trainer computes: `--device auto | gpu | gpu:N | cpu`. burn's wgpu backend
//! (Vulkan, Metal or DX12, whichever the machine has) or its CPU backend; everything else is
//! the same code on either. What the chosen device allows travels with it ([`Limits`]), so
//! batches are sized to fit before they run ([`fit`]), and every result read back from it goes
//! through [`read`], which turns a device failure into an error instead of a panic.

#[cfg(feature = "wgpu")]
pub mod adapters;
pub mod fit;

use std::cell::Cell;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::sync::{Mutex, Once};

use anyhow::{Result, anyhow};
use burn::prelude::*;

use crate::ranks::Ranks;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The first discrete GPU, else another hardware GPU, else the CPU backend: never a
    /// software GPU driver (lavapipe, llvmpipe, WARP), which is slower than the CPU backend.
    Auto,
    /// A GPU through wgpu, the way `auto` picks it, but accepting a software driver; an error
    /// if wgpu finds no adapter at all.
    Gpu,
    /// Adapter N as `trainer devices` numbers them.
    GpuIndex(usize),
    /// burn's CPU backend (flex).
    Cpu,
}

/// The help text of every `--device` flag.
pub const HELP: &str = "Where to compute: auto (the first hardware GPU, else the CPU), cpu, \
                        gpu (any wgpu adapter, software drivers included) or gpu:N (adapter N \
                        of `trainer devices`)";

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(Self::Auto),
            "gpu" => Ok(Self::Gpu),
            "cpu" => Ok(Self::Cpu),
            _ => text
                .strip_prefix("gpu:")
                .and_then(|index| index.parse().ok())
                .map(Self::GpuIndex)
                .ok_or_else(|| {
                    format!("`{text}`: expected auto, cpu, gpu or gpu:N (N from `trainer devices`)")
                }),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Gpu => f.write_str("gpu"),
            Self::GpuIndex(index) => write!(f, "gpu:{index}"),
            Self::Cpu => f.write_str("cpu"),
        }
    }
}

/// A device to compute on, and what it allows.
#[derive(Clone, Debug)]
pub struct Compute {
    pub device: Device,
    /// How messages name it: the adapter and its graphics API, or the CPU backend.
    pub name: String,
    pub limits: Limits,
}

/// What a device allows; `None` where it sets no limit or does not say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the largest buffer, so of the largest tensor.
    pub max_buffer: Option<u64>,
    /// Bytes of memory (the largest device-local heap).
    pub memory: Option<u64>,
}

/// The devices this process has picked, so that a second command in the same process (`demo`)
/// gets the same one, and so that [`read`] can name a device in its errors.
static PICKED: Mutex<Vec<(DeviceChoice, Compute)>> = Mutex::new(Vec::new());

/// The device to run on, checked with a tiny computation so that a missing or broken GPU
/// driver is an error message here rather than a failure in the middle of training.
///
/// Call it before starting threads: choosing the CPU also makes it burn's default device
/// (through `BURN_DEVICE`), which burn uses when loading optimiser checkpoints; otherwise a
/// CPU run would still start the GPU driver.
pub fn pick(choice: DeviceChoice) -> Result<Compute> {
    let picked = || {
        PICKED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    };
    if let Some((_, compute)) = picked().iter().find(|(earlier, _)| *earlier == choice) {
        return Ok(compute.clone());
    }
    // Not under the lock: a failing first computation is reported through `name`, which
    // takes it.
    let compute = match choice {
        DeviceChoice::Cpu => cpu(),
        _ => gpu(choice)?,
    };
    picked().push((choice, compute.clone()));
    Ok(compute)
}

/// [`pick`] for one rank of a data-parallel run. `auto` and `gpu` give each rank on a machine
/// its own GPU, by local rank, in the order `auto` prefers them (`auto` falls back to the CPU
/// where there is no hardware GPU, `gpu` to a software one, shared); `gpu:N` and `cpu` are
/// taken as given. Call it before MPI starts (it may set environment variables).
pub fn pick_for_rank(choice: DeviceChoice, ranks: Ranks) -> Result<Compute> {
    if ranks.size == 1 || !matches!(choice, DeviceChoice::Auto | DeviceChoice::Gpu) {
        return pick(choice);
    }
    #[cfg(feature = "wgpu")]
    {
        let listed = adapters::list();
        let hardware = adapters::hardware(&listed);
        let index = match (hardware.get(ranks.local_rank), hardware.as_slice()) {
            (Some(&index), _) => Some(index),
            // Each rank sees only its own GPU (Slurm's per-task GPUs), or ranks share the one
            // there is.
            (None, &[only]) => Some(only),
            (None, []) => None,
            (None, all) => anyhow::bail!(
                "rank {} is local rank {} on its machine, which has {} GPUs: start at most {} \
                 ranks per machine",
                ranks.rank,
                ranks.local_rank,
                all.len(),
                all.len()
            ),
        };
        if let Some(index) = index {
            return pick(DeviceChoice::GpuIndex(index));
        }
    }
    pick(choice)
}

fn cpu() -> Compute {
    if std::env::var("BURN_DEVICE").as_deref() != Ok("flex") {
        // SAFETY: called from the main thread before the program starts other threads.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    Compute {
        device: Device::flex(),
        name: format!(
            "the CPU (burn's flex backend, {} matrix kernels)",
            cpu_kernels()
        ),
        limits: Limits::default(),
    }
}

/// The instruction set of the CPU backend's matrix kernels on this CPU: the `gemm` crate picks
/// them at run time by the same checks (AVX-512 only in builds with the `avx512` feature).
fn cpu_kernels() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if cfg!(feature = "avx512") && std::arch::is_x86_feature_detected!("avx512f") {
            "AVX-512"
        } else if std::arch::is_x86_feature_detected!("fma") {
            "AVX2"
        } else {
            "scalar"
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        "NEON"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "portable"
    }
}

#[cfg(feature = "wgpu")]
fn gpu(choice: DeviceChoice) -> Result<Compute> {
    let listed = adapters::list();
    let opened = match choice {
        DeviceChoice::Auto => match adapters::auto(&listed) {
            Some(index) => adapters::open(&listed, index),
            None => {
                eprintln!("note: {}; running on the CPU", adapters::no_gpu(&listed));
                return Ok(cpu());
            }
        },
        DeviceChoice::Gpu => adapters::open(&listed, adapters::any(&listed)?),
        DeviceChoice::GpuIndex(index) => {
            adapters::open(&listed, adapters::checked(&listed, index)?)
        }
        DeviceChoice::Cpu => unreachable!("the CPU needs no adapter"),
    }?;
    let sum = read(
        Tensor::<1>::ones([4], &opened.device).sum(),
        "a first computation",
    );
    match (sum.as_deref(), choice) {
        (Ok([4.0]), _) => Ok(opened),
        (Err(err), DeviceChoice::Auto) => {
            eprintln!(
                "note: {} does not work ({err:#}); running on the CPU",
                opened.name
            );
            Ok(cpu())
        }
        (Err(err), _) => Err(anyhow!("{} does not work: {err:#}", opened.name)),
        (Ok(sum), _) => Err(anyhow!("{} computed 1+1+1+1 = {sum:?}", opened.name)),
    }
}

#[cfg(not(feature = "wgpu"))]
fn gpu(choice: DeviceChoice) -> Result<Compute> {
    if choice == DeviceChoice::Auto {
        return Ok(cpu());
    }
    anyhow::bail!("this trainer was built without the `wgpu` feature: no GPU support")
}

/// The values of a tensor computed on a device, as f32. burn reports a failed computation (out
/// of memory, a buffer over the device's limit, a lost device) when its result is read; this
/// turns that into an error naming the device and `what` was computed.
pub fn read<const D: usize>(tensor: Tensor<D>, what: &str) -> Result<Vec<f32>> {
    let device = tensor.device();
    let data = tensor
        .try_into_data()
        .map_err(|err| anyhow!("{what} failed on {}: {err}", name(&device)))?;
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|err| anyhow!("{what}: unexpected values from {}: {err:?}", name(&device)))
}

/// Runs `f`, which reports a failed device the only way some of burn's calls can, by
/// panicking: `None` then, and nothing printed (the caller reports the failure).
pub fn catch_failure<T>(f: impl FnOnce() -> T) -> Option<T> {
    thread_local!(static QUIET: Cell<bool> = const { Cell::new(false) });
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.get() {
                default(info);
            }
        }));
    });
    QUIET.set(true);
    let result = std::panic::catch_unwind(AssertUnwindSafe(f)).ok();
    QUIET.set(false);
    result
}

/// How messages name `device`.
pub fn name(device: &Device) -> String {
    let picked = PICKED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    picked
        .iter()
        .find(|(_, compute)| compute.device == *device)
        .map(|(_, compute)| compute.name.clone())
        .unwrap_or_else(|| format!("{device:?}"))
}

#[cfg(test)]
mod tests {
    use super::DeviceChoice;

    #[test]
    fn device_choices_parse_and_print_back() {
        for text in ["auto", "gpu", "gpu:0", "gpu:12", "cpu"] {
            let choice: DeviceChoice = text.parse().unwrap();
            assert_eq!(choice.to_string(), text);
        }
        assert_eq!("gpu:3".parse(), Ok(DeviceChoice::GpuIndex(3)));
        for bad in ["", "GPU", "gpu:", "gpu:-1", "gpu:one", "cuda"] {
            let err = bad.parse::<DeviceChoice>().unwrap_err();
            assert!(
                err.contains("expected auto, cpu, gpu or gpu:N"),
                "{bad}: {err}"
            );
        }
    }
}
