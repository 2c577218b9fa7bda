//! Where the network runs: the GPU through WebGPU, or burn's CPU backend in wasm.

#[cfg(feature = "webgpu")]
use std::cell::OnceCell;

use burn::prelude::Device;

use crate::error::{Code, PageError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    WebGpu,
    Cpu,
}

impl Backend {
    /// The page's names for the backends: `webgpu` or `cpu`.
    pub fn parse(name: &str) -> Result<Backend, PageError> {
        match name {
            "webgpu" => Ok(Backend::WebGpu),
            "cpu" => Ok(Backend::Cpu),
            other => Err(Code::BadRequest.error(format!(
                "unknown backend `{other}` (expected webgpu or cpu)"
            ))),
        }
    }
}

/// The device for `backend`, starting WebGPU on first use.
pub async fn device(backend: Backend) -> Result<Device, PageError> {
    match backend {
        Backend::Cpu => Ok(Device::flex()),
        Backend::WebGpu => webgpu().await,
    }
}

#[cfg(feature = "webgpu")]
thread_local! {
    /// burn's wgpu runtime can be set up once per worker; later loads reuse it.
    static WEBGPU: OnceCell<Device> = const { OnceCell::new() };
}

#[cfg(feature = "webgpu")]
async fn webgpu() -> Result<Device, PageError> {
    if let Some(device) = WEBGPU.with(|cell| cell.get().cloned()) {
        return Ok(device);
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|err| Code::WebGpuUnavailable.error(format!("WebGPU could not start: {err}")))?;
    Ok(WEBGPU.with(|cell| cell.get_or_init(|| device).clone()))
}

/// The threaded CPU module (`threads`) is built without the GPU path: the worker loads the
/// default module for WebGPU.
#[cfg(not(feature = "webgpu"))]
async fn webgpu() -> Result<Device, PageError> {
    Err(Code::WebGpuUnavailable.error("the page's threaded CPU module has no WebGPU path"))
}
