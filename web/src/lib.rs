//! The page's wasm side, run inside a Web Worker (`web/www/worker.js`) so that decoding and
//! inference never freeze the page. The worker loads one model bundle at a time and classifies
//! the photos the page sends it; the page itself (`web/www/app.js`) only draws.
//!
//! Everything that decides a prediction (bundle checks, preprocessing, the network) is the
//! `shared` crate's, the same code `trainer classify` runs, so the page and the command line
//! agree to float precision.

mod backend;
mod prediction;

use std::cell::RefCell;
use std::rc::Rc;

use shared::bundle::{Bundle, Manifest};
use wasm_bindgen::prelude::*;

use backend::Backend;
pub use prediction::Prediction;

/// The loaded model; one per worker.
struct Loaded {
    bundle: Bundle,
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

/// Checks a bundle's manifest without the weights: the page shows the model's task and
/// classes while the weights download. Returns the manifest as JSON.
#[wasm_bindgen]
pub fn read_manifest(file: &str, bytes: &[u8]) -> Result<String, JsError> {
    let manifest = Manifest::parse(file, bytes)?;
    Ok(serde_json::to_string(&manifest)?)
}

/// Loads a bundle (manifest and weights, named `manifest_file` and `weights_file` in
/// messages) onto `backend` ("webgpu" or "cpu"), replacing the model loaded before. Checks
/// the version, the checksum, every tensor's shape and the class count.
#[wasm_bindgen]
pub async fn load_model(
    manifest_file: String,
    manifest: Vec<u8>,
    weights_file: String,
    weights: Vec<u8>,
    backend: String,
) -> Result<(), JsError> {
    let backend = Backend::parse(&backend)?;
    let device = backend::device(backend).await?;
    let bundle = Bundle::from_bytes(&manifest_file, &manifest, &weights_file, weights, &device)?;
    LOADED.with_borrow_mut(|loaded| *loaded = Some(Rc::new(Loaded { bundle, backend })));
    Ok(())
}

/// Classifies one photo (JPEG, PNG or WebP bytes) with the loaded model.
#[wasm_bindgen]
pub async fn classify(image: Vec<u8>) -> Result<Prediction, JsError> {
    let loaded = LOADED
        .with_borrow(Option::clone)
        .ok_or_else(|| JsError::new("no model is loaded"))?;
    let device = backend::device(loaded.backend).await?;
    prediction::predict(&loaded.bundle, &image, &device).await
}
