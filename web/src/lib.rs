//! The page's wasm side, run inside a Web Worker (`web/www/worker.js`) so that decoding and
//! inference never freeze the page. The worker loads one model bundle at a time and classifies
//! the photos the page sends it; the page itself (`web/www/app.js`) only draws.
//!
//! Everything that decides a prediction (bundle checks, preprocessing, the network) is the
//! `shared` crate's, the same code `trainer classify` runs, so the page and the command line
//! agree to float precision.

mod backend;
mod error;
mod prediction;

use std::cell::RefCell;
use std::rc::Rc;

use shared::bundle::{Bundle, Manifest};
use wasm_bindgen::prelude::*;

use backend::Backend;
use error::{Code, PageError};
pub use prediction::Prediction;
use prediction::{Model, Photo};
/// `initThreadPool(n)` for the page: starts rayon's pool of `n` Web Workers, which burn's CPU
/// backend then runs on (threaded module only).
#[cfg(all(feature = "threads", target_arch = "wasm32"))]
pub use wasm_bindgen_rayon::init_thread_pool;

/// The loaded model; one per worker.
struct Loaded {
    model: Model,
    backend: Backend,
}

thread_local! {
    static LOADED: RefCell<Option<Rc<Loaded>>> = const { RefCell::new(None) };
}

#[wasm_bindgen(start)]
fn start() {
    // A panic would otherwise surface as an opaque "unreachable" trap.
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&info.to_string().into())
    }));
}

/// Checks a bundle's manifest without the weights: the page shows the model's tasks and
/// classes while the weights download. Returns the manifest as JSON.
#[wasm_bindgen]
pub fn read_manifest(file: &str, bytes: &[u8]) -> Result<String, PageError> {
    let manifest = Manifest::parse(file, bytes).map_err(|err| Code::BadBundle.error(err))?;
    serde_json::to_string(&manifest).map_err(|err| Code::BadBundle.error(err))
}

/// Loads a bundle (manifest and weights, named `manifest_file` and `weights_file` in
/// messages) onto `backend` ("webgpu" or "cpu"), replacing the model loaded before. Checks
/// the version, the checksum, every tensor's shape and the class count.
#[wasm_bindgen]
pub async fn load_model(
    manifest_file: String,
    manifest: Vec<u8>,
    weights_file: String,
    weights: js_sys::Uint8Array,
    backend: String,
) -> Result<(), PageError> {
    let weights = copy_weights(&weights_file, &weights)?;
    let backend = Backend::parse(&backend)?;
    let device = backend::device(backend).await?;
    let bundle = Bundle::from_bytes(&manifest_file, &manifest, &weights_file, weights, &device)
        .map_err(|err| Code::BadBundle.error(err))?;
    let model = Model::new(bundle);
    LOADED.with_borrow_mut(|loaded| *loaded = Some(Rc::new(Loaded { model, backend })));
    Ok(())
}

/// Loading holds the file and a renamed copy of it, then the file and the f32 tensors (twice
/// an f16 file): about three times the file at its peak.
const LOADING_TAKES: usize = 3;

/// Copies the weights into the module's memory once the memory that loading them takes is
/// there. A failed allocation aborts a WebAssembly instance with a bare "unreachable", so the
/// memory is asked for first, in a way that can fail, and a refusal is said in words.
fn copy_weights(file: &str, weights: &js_sys::Uint8Array) -> Result<Vec<u8>, PageError> {
    let len = weights.length() as usize;
    let need = len.saturating_mul(LOADING_TAKES);
    let mut bytes = Vec::new();
    // Reserved for the whole load, then shrunk to the file: the rest goes back to the
    // allocator, but the module's memory has grown to hold it all.
    if bytes.try_reserve_exact(need).is_err() {
        let mib = |bytes: usize| bytes.div_ceil(1 << 20);
        return Err(Code::OutOfMemory.error(format!(
            "{file}: loading these {} MiB of weights takes about {} MiB of memory, more than \
             this browser gives the page (close other tabs, or use a smaller model)",
            mib(len),
            mib(need)
        )));
    }
    bytes.resize(len, 0);
    bytes.shrink_to_fit();
    weights.copy_to(&mut bytes);
    Ok(bytes)
}

/// Classifies one photo (JPEG, PNG or WebP bytes) with the loaded model. Other formats fail
/// with the code `unsupported-image`: the browser may decode them for [`classify_pixels`].
#[wasm_bindgen]
pub async fn classify(image: Vec<u8>) -> Result<Prediction, PageError> {
    with_model(Photo::Encoded(&image)).await
}

/// Checks a picture's size against the limits before the browser decodes it into pixels.
#[wasm_bindgen]
pub fn check_image_size(width: u32, height: u32) -> Result<(), PageError> {
    shared::preprocess::check_size(width, height).map_err(|err| Code::BadImage.error(err))
}

/// Classifies a photo the browser decoded: `width` x `height` upright RGBA pixels.
#[wasm_bindgen]
pub async fn classify_pixels(
    rgba: js_sys::Uint8Array,
    width: u32,
    height: u32,
) -> Result<Prediction, PageError> {
    check_image_size(width, height)?;
    // The pixels, their RGB copy and the resized picture: asked for first, in a way that can
    // fail, as for decoding (a failed allocation would abort the worker).
    let len = rgba.length() as usize;
    if Vec::<u8>::new().try_reserve_exact(len * 2).is_err() {
        return Err(Code::OutOfMemory.error(format!(
            "image is {width}x{height} pixels; classifying it takes about {} MiB of memory, \
             more than is available",
            (len * 2).div_ceil(1 << 20)
        )));
    }
    let pixels = rgba.to_vec();
    with_model(Photo::Pixels {
        rgba: &pixels,
        width,
        height,
    })
    .await
}

async fn with_model(photo: Photo<'_>) -> Result<Prediction, PageError> {
    let loaded = LOADED
        .with_borrow(Option::clone)
        .ok_or_else(|| Code::NoModel.error("no model is loaded"))?;
    let device = backend::device(loaded.backend).await?;
    prediction::predict(&loaded.model, photo, &device).await
}
