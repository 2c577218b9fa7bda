//! One photo through the network: the view the model sees (the centre crop, or the padded
//! photo), its answers (every task's,
//! and the garment head's for a model of several) and every output's activation map.

use burn::prelude::*;
use shared::answers::answers;
use shared::bundle::Bundle;
use shared::calibration::Calibration;
use shared::heads::Heads;
use shared::preprocess::{
    ImageError, batch_tensor, fit, load_resized, rgb_from_rgba, view_input, view_picture,
};
use wasm_bindgen::prelude::*;

use crate::error::{Code, PageError};

/// What the page shows for a photo.
#[wasm_bindgen(getter_with_clone)]
pub struct Prediction {
    /// The answers as JSON, exactly as `trainer classify --json` gives them
    /// (`shared::answers`): for a model of one task its classes' probabilities (at the
    /// bundle's calibrated temperature, if it has one), logits, top class and flags; for a
    /// model of several, the garment and every task's answer.
    pub answers: String,
    /// Every output's activation map (each task's classes, then the garment head's), outputs x
    /// `cam_size` x `cam_size`, in the logits' units (a map's mean plus the output's bias is
    /// its logit).
    pub cams: Vec<f32>,
    pub cam_size: usize,
    /// The map value drawn at full colour: the bundle's, fixed for the model, or else this
    /// photo's strongest (`cam_scale_fixed` says which).
    pub cam_scale: f32,
    pub cam_scale_fixed: bool,
    /// The centre crop the network saw, `view_size` x `view_size` RGBA, after EXIF rotation.
    pub view: Vec<u8>,
    pub view_size: u32,
}

/// A photo as the page hands it over.
pub enum Photo<'a> {
    /// A file's bytes, for the classifier's decoder (JPEG, PNG, WebP).
    Encoded(&'a [u8]),
    /// Upright RGBA pixels the browser decoded (formats that decoder lacks).
    Pixels {
        rgba: &'a [u8],
        width: u32,
        height: u32,
    },
}

/// A loaded bundle with what its answers need.
pub struct Model {
    pub bundle: Bundle,
    pub heads: Heads,
    pub calibrations: Vec<Option<Calibration>>,
}

impl Model {
    /// The bundle, its network made for inference only (BatchNorms folded).
    pub fn new(mut bundle: Bundle) -> Model {
        bundle.net = bundle.net.folded();
        Model {
            heads: bundle.manifest.heads(),
            calibrations: bundle.manifest.calibrations(),
            bundle,
        }
    }
}

pub async fn predict(
    model: &Model,
    photo: Photo<'_>,
    device: &Device,
) -> Result<Prediction, PageError> {
    let bundle = &model.bundle;
    let size = bundle.manifest.preprocessing.input_size();
    let resized = match photo {
        Photo::Encoded(bytes) => load_resized(bytes, size),
        Photo::Pixels {
            rgba,
            width,
            height,
        } => rgb_from_rgba(rgba, width, height).map(|rgb| fit(&rgb, size)),
    }
    .map_err(|err| match err {
        ImageError::UnknownFormat | ImageError::UnsupportedFormat { .. } => {
            Code::UnsupportedImage.error(err)
        }
        err => Code::BadImage.error(err),
    })?;
    // The very input `trainer classify` computes; the picture shows it (the padding in the
    // mean's colour).
    let input = batch_tensor(&[view_input(&resized, size)], size.crop as usize, device);
    let seen = view_picture(&resized, size);

    let net = &bundle.net;
    let features = net.features(input);
    let [_, _, cam_size, _] = features.dims();
    let logits = net.classify(features.clone());
    let logits = read(logits).await?;
    let calibrations: Vec<Option<&Calibration>> =
        model.calibrations.iter().map(Option::as_ref).collect();
    let probabilities = model.heads.softmax(&logits);
    let said = answers(&model.heads, &calibrations, &logits, &probabilities);
    // Plain numbers and strings in structs: serialising cannot fail.
    let answers = serde_json::to_string(&said).expect("answers serialise");
    let cams = read(net.class_activation_maps(features)).await?;
    // Where the bundle has no scale: this photo's strongest evidence, for or against any class.
    let strongest = cams.iter().fold(0.0, |max: f32, v| max.max(v.abs()));
    let cam_scale = match bundle.manifest.heatmap_scale {
        Some(scale) => scale,
        None if strongest > 0.0 => strongest,
        None => 1.0,
    };

    Ok(Prediction {
        answers,
        cam_scale,
        cam_scale_fixed: bundle.manifest.heatmap_scale.is_some(),
        cams,
        cam_size,
        view: image_rgba(&seen),
        view_size: size.crop,
    })
}

/// Reads a tensor back; in the browser this must wait for the GPU without blocking.
async fn read<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, PageError> {
    let data = tensor.into_data_async().await.map_err(|err| {
        Code::DeviceFailed.error(format!("reading the result back failed: {err:?}"))
    })?;
    data.try_to_vec::<f32>()
        .map_err(|err| Code::DeviceFailed.error(format!("unexpected result type: {err:?}")))
}

fn image_rgba(image: &image::RgbImage) -> Vec<u8> {
    image
        .pixels()
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect()
}
