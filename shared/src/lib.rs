//! What the trainer and the web page share: the ResNet model, torchvision weight import,
//! image preprocessing, the FashionAI task table and its label files.

pub mod answers;
pub mod bundle;
pub mod calibration;
#[cfg(not(target_arch = "wasm32"))]
pub mod fuzz;
pub mod heads;
pub mod labels;
pub mod model;
pub mod precision;
pub mod preprocess;
pub mod ranking;
pub mod sha256;
pub mod tasks;
pub mod weights;
