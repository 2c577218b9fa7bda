//! What the trainer and the web page share: the ResNet model, torchvision weight import,
//! image preprocessing and the FashionAI task table.

pub mod bundle;
pub mod model;
pub mod preprocess;
pub mod tasks;
pub mod weights;
