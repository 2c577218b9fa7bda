//! The web page's wasm side: page glue only; models and preprocessing come from `shared`.
//!
//! For now the page shows what the model will classify (the task table from `shared`) and
//! whether this browser offers WebGPU; photo classification builds on this.

use shared::tasks::{SKIRT_LENGTH, Task};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() -> Result<(), JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let document = window.document().ok_or("no document")?;

    let backend = document
        .get_element_by_id("backend")
        .ok_or("#backend missing from index.html")?;
    let has_webgpu = js_sys::Reflect::has(&window.navigator(), &JsValue::from_str("gpu"))?;
    backend.set_text_content(Some(if has_webgpu {
        "This browser offers WebGPU: the model will run on your GPU."
    } else {
        "This browser has no WebGPU: the model will run on the CPU (slower)."
    }));

    let classes = document
        .get_element_by_id("classes")
        .ok_or("#classes missing from index.html")?;
    let task = Task::by_name(SKIRT_LENGTH).map_err(|e| e.to_string())?;
    for class in task.classes {
        let item = document.create_element("li")?;
        item.set_text_content(Some(class));
        classes.append_child(&item)?;
    }
    Ok(())
}
