//! Errors as the page receives them: a JavaScript `Error` whose `code` the page acts on (the
//! codes are listed in `web/www/protocol.js`) and whose message is for people.

use std::fmt::Display;

use wasm_bindgen::JsValue;

/// What went wrong, in the terms the page decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// A request the page should never send (an unknown backend).
    BadRequest,
    /// The manifest or the weights are not a bundle this version can use.
    BadBundle,
    /// A photo that cannot be decoded.
    BadImage,
    /// A photo in a format the classifier's decoder lacks: the browser may decode it.
    UnsupportedImage,
    /// A photo before any model was loaded.
    NoModel,
    /// The browser gives the page too little memory for this model.
    OutOfMemory,
    /// WebGPU could not start: the page runs the model on the CPU instead.
    WebGpuUnavailable,
    /// The GPU failed while computing (lost, out of memory).
    DeviceFailed,
}

impl Code {
    fn as_str(self) -> &'static str {
        match self {
            Code::BadRequest => "bad-request",
            Code::BadBundle => "bad-bundle",
            Code::BadImage => "bad-image",
            Code::UnsupportedImage => "unsupported-image",
            Code::NoModel => "no-model",
            Code::OutOfMemory => "out-of-memory",
            Code::WebGpuUnavailable => "webgpu-unavailable",
            Code::DeviceFailed => "device-failed",
        }
    }

    /// An error of this kind with `message`.
    pub fn error(self, message: impl Display) -> PageError {
        PageError {
            code: self,
            message: message.to_string(),
        }
    }
}

#[derive(Debug)]
pub struct PageError {
    code: Code,
    message: String,
}

impl From<PageError> for JsValue {
    fn from(error: PageError) -> JsValue {
        let js = js_sys::Error::new(&error.message);
        // Setting a property of a fresh, ordinary object cannot fail.
        let _ = js_sys::Reflect::set(&js, &"code".into(), &error.code.as_str().into());
        js.into()
    }
}
