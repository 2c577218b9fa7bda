//! The GPUs wgpu sees, in the order burn's wgpu runtime considers them, and opening one.

use anyhow::{Result, anyhow, bail};
use burn::cubecl::future::block_on;
use burn::prelude::*;
use burn::tensor::DeviceKind;
use burn::tensor::wgpu::{WgpuBackend, wgpu};

use super::{Compute, Limits};

/// One adapter: a GPU (or a software driver) on one graphics API.
#[derive(Clone, Debug)]
pub struct Adapter {
    pub name: String,
    pub kind: wgpu::DeviceType,
    pub backend: wgpu::Backend,
    pub limits: Limits,
    /// Its place among the adapters of its kind on its API: what burn's `DeviceKind` counts.
    kind_index: usize,
}

impl Adapter {
    /// A driver that computes on the CPU: slower than burn's own CPU backend.
    pub fn is_software(&self) -> bool {
        self.kind == wgpu::DeviceType::Cpu
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            wgpu::DeviceType::DiscreteGpu => "discrete GPU",
            wgpu::DeviceType::IntegratedGpu => "integrated GPU",
            wgpu::DeviceType::VirtualGpu => "virtual GPU",
            wgpu::DeviceType::Cpu => "software",
            wgpu::DeviceType::Other => "other",
        }
    }

    /// How messages name it, e.g. `NVIDIA H100, discrete GPU on Vulkan`.
    pub fn label(&self) -> String {
        format!("{}, {} on {:?}", self.name, self.kind_name(), self.backend)
    }

    fn device_kind(&self) -> DeviceKind {
        match self.kind {
            wgpu::DeviceType::DiscreteGpu => DeviceKind::DiscreteGpu(self.kind_index),
            wgpu::DeviceType::IntegratedGpu => DeviceKind::IntegratedGpu(self.kind_index),
            wgpu::DeviceType::VirtualGpu => DeviceKind::VirtualGpu(self.kind_index),
            // burn has no selector for "other" adapters; the API's default one stands in.
            wgpu::DeviceType::Other => DeviceKind::DefaultDevice,
            wgpu::DeviceType::Cpu => DeviceKind::Cpu,
        }
    }
}

/// The graphics APIs the trainer computes with, in the order burn's wgpu runtime tries them.
/// Not OpenGL, which burn's runtime tries last: its compute support is the weakest, and on a
/// machine without another driver the CPU backend is the better choice.
fn apis() -> &'static [wgpu::Backend] {
    if cfg!(target_os = "macos") {
        &[wgpu::Backend::Metal]
    } else {
        &[wgpu::Backend::Vulkan, wgpu::Backend::Dx12]
    }
}

/// Every adapter of those graphics APIs, in the runtime's order.
pub fn list() -> Vec<Adapter> {
    let mut listed = Vec::new();
    for &api in apis() {
        if !wgpu::Instance::enabled_backend_features().contains(api.into()) {
            continue;
        }
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: api.into(),
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let mut seen: Vec<wgpu::DeviceType> = Vec::new();
        for adapter in block_on(instance.enumerate_adapters(api.into())) {
            let info = adapter.get_info();
            let kind_index = seen
                .iter()
                .filter(|&&kind| kind == info.device_type)
                .count();
            seen.push(info.device_type);
            listed.push(Adapter {
                name: info.name.clone(),
                kind: info.device_type,
                backend: info.backend,
                limits: limits(&adapter),
                kind_index,
            });
        }
    }
    listed
}

fn limits(adapter: &wgpu::Adapter) -> Limits {
    Limits {
        max_buffer: Some(max_buffer(&adapter.limits())),
        memory: memory(adapter),
    }
}

/// burn keeps a tensor in one storage buffer: both limits apply.
fn max_buffer(limits: &wgpu::Limits) -> u64 {
    limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size)
}

/// The largest device-local memory heap, as Vulkan reports it; other APIs do not say.
#[cfg(any(windows, all(unix, not(target_vendor = "apple"))))]
fn memory(adapter: &wgpu::Adapter) -> Option<u64> {
    // SAFETY: the Vulkan handles are only read, while `adapter` keeps them alive.
    unsafe {
        let vulkan = adapter.as_hal::<wgpu::hal::api::Vulkan>()?;
        let properties = vulkan
            .shared_instance()
            .raw_instance()
            .get_physical_device_memory_properties(vulkan.raw_physical_device());
        properties.memory_heaps[..properties.memory_heap_count as usize]
            .iter()
            .filter(|heap| heap.flags.contains(ash::vk::MemoryHeapFlags::DEVICE_LOCAL))
            .map(|heap| heap.size)
            .max()
    }
}

#[cfg(not(any(windows, all(unix, not(target_vendor = "apple")))))]
fn memory(_adapter: &wgpu::Adapter) -> Option<u64> {
    None
}

/// What `--device auto` takes: the first discrete GPU, else the first other hardware GPU.
pub fn auto(listed: &[Adapter]) -> Option<usize> {
    hardware(listed).first().copied()
}

/// The hardware GPUs in the order `auto` prefers them: discrete ones first.
pub fn hardware(listed: &[Adapter]) -> Vec<usize> {
    let of = |wanted: fn(&Adapter) -> bool| (0..listed.len()).filter(move |&i| wanted(&listed[i]));
    of(|adapter| adapter.kind == wgpu::DeviceType::DiscreteGpu)
        .chain(of(|adapter| {
            adapter.kind != wgpu::DeviceType::DiscreteGpu && !adapter.is_software()
        }))
        .collect()
}

/// What `--device gpu` takes: `auto`'s choice, else the first adapter, software or not.
pub fn any(listed: &[Adapter]) -> Result<usize> {
    auto(listed)
        .or((!listed.is_empty()).then_some(0))
        .ok_or_else(|| anyhow!("wgpu finds no GPU (no Vulkan, Metal or DX12 adapter)"))
}

/// `gpu:N`, if there is an adapter N.
pub fn checked(listed: &[Adapter], index: usize) -> Result<usize> {
    if index >= listed.len() {
        bail!(
            "there is no gpu:{index}: wgpu sees {} adapter(s) (`trainer devices` lists them)",
            listed.len()
        );
    }
    Ok(index)
}

/// Why `auto` found no GPU, for its one-line note.
pub fn no_gpu(listed: &[Adapter]) -> String {
    match listed.iter().find(|adapter| adapter.is_software()) {
        Some(software) => format!(
            "the only GPU driver is {}, a software renderer slower than the CPU backend \
             (--device gpu uses it anyway)",
            software.label()
        ),
        None => "wgpu finds no GPU".into(),
    }
}

/// Starts burn's wgpu runtime on adapter `index` of `listed`.
pub fn open(listed: &[Adapter], index: usize) -> Result<Compute> {
    crate::kernel_cache::configure();
    let adapter = &listed[index];
    // burn's default device (which burn uses when loading optimiser checkpoints) is on the
    // first API with a hardware GPU. Where the adapter is there, it becomes that default
    // device rather than a second device on the same GPU; elsewhere its API is pinned.
    let default_api = apis()
        .iter()
        .find(|&&api| listed.iter().any(|a| a.backend == api && !a.is_software()));
    let options = if !adapter.is_software() && default_api == Some(&adapter.backend) {
        if adapter.kind != wgpu::DeviceType::Other {
            // burn's selector spelled as cubecl reads it, e.g. `DiscreteGpu(0)`.
            let kind = format!("{:?}", adapter.device_kind());
            // SAFETY: called from the main thread before the program starts other threads.
            unsafe { std::env::set_var("CUBECL_WGPU_DEFAULT_DEVICE", kind) };
        }
        Device::wgpu_options()
    } else {
        Device::wgpu_options()
            .device_kind(adapter.device_kind())
            .graphics_api(match adapter.backend {
                wgpu::Backend::Metal => WgpuBackend::Metal,
                wgpu::Backend::Dx12 => WgpuBackend::Dx12,
                _ => WgpuBackend::Vulkan,
            })
    };
    let (device, setup) = options
        .init_with_setup()
        .map_err(|err| anyhow!("{} could not start: {err}", adapter.label()))?;
    let name = setup.adapter.get_info().name;
    if name != adapter.name {
        bail!("asked wgpu for {} but it started {name}", adapter.label());
    }
    Ok(Compute {
        device,
        name: adapter.label(),
        limits: Limits {
            max_buffer: Some(max_buffer(&setup.device.limits())),
            memory: adapter.limits.memory,
        },
    })
}
