//! What a reviewer looks at besides the whole images: the faces as aligned crops of one size (the
//! document's portrait, the selfie, the video's best frame) and single frames of the liveness video
//! (the best frame, each action where it was seen). Each is made from the sealed original on demand,
//! under admission, and recorded as `review.media_viewed` naming the reviewer before it is handed out;
//! nothing derived is stored.

use std::io::Cursor;
use std::ops::ControlFlow;

use image::{DynamicImage, RgbImage};

use super::caller::Caller;
use super::error::{ApiError, ErrorCode};
use super::reviews::{case_of, open_media, record_view};
use super::state::AppState;
use crate::media::image::decode_image;
use crate::media::video::decode_video;
use crate::pipeline::crop::face_crop;
pub use crate::pipeline::crop::CROP_SIDE;
use crate::pipeline::FaceAnalyzer;
use crate::service::record::DecisionRecord;

/// Key frames are scaled to at most this width.
const FRAME_WIDTH: u32 = 480;

fn no_face() -> ApiError {
    ApiError::detail(ErrorCode::NotFound, "no face found in this image")
}

fn jpeg(image: &RgbImage) -> Result<Vec<u8>, ApiError> {
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .map_err(ApiError::internal)?;
    Ok(out.into_inner())
}

/// The frame of `bytes` (a video) shown at `at_s` seconds: the first sampled frame at or after it, or
/// the last one.
fn frame_at(
    bytes: Vec<u8>,
    at_s: f64,
    limits: &crate::media::video::VideoLimits,
) -> Result<RgbImage, ApiError> {
    let mut found = None;
    decode_video(bytes, limits, |frame| {
        let done = frame.time_s + 1e-3 >= at_s;
        found = Some(frame.image);
        if done {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    found.ok_or_else(|| ApiError::detail(ErrorCode::NotFound, "the video has no frame"))
}

/// The decision record of a case's verification, when it has one.
async fn record_of(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Option<DecisionRecord>, ApiError> {
    let (_, verification) = case_of(state, &caller.org, id).await?;
    Ok(verification
        .record
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok()))
}

/// One face of a case as an aligned square crop (JPEG): `document`, `selfie`, or `video` (the face
/// in the video's best frame, the one compared with the document). `not_found` when the item is not
/// held or shows no face; nothing is recorded then.
pub async fn view_face_crop(
    state: &AppState,
    caller: &Caller,
    id: &str,
    kind: &str,
) -> Result<Vec<u8>, ApiError> {
    if !["document", "selfie", "video"].contains(&kind) {
        return Err(ApiError::detail(
            ErrorCode::NotFound,
            "faces are cropped from document, selfie or video",
        ));
    }
    let best_s = match kind {
        "video" => Some(
            record_of(state, caller, id)
                .await?
                .and_then(|r| r.liveness.and_then(|l| l.best_frame_s))
                .ok_or_else(no_face)?,
        ),
        _ => None,
    };
    let opened = open_media(state, caller, id, kind).await?;
    let settings = state.settings.clone();
    let engine = state.engine.clone();
    let bytes = opened.bytes.clone();
    let document = kind == "document";
    let limit = std::time::Duration::from_secs(settings.service.request_timeout_secs);
    let crop = state
        .admission
        .run_blocking(limit, move || {
            let image = match best_s {
                Some(at) => frame_at(bytes, at, &settings.video)?,
                None => decode_image(&bytes, &settings.limits)?,
            };
            let analyzer = FaceAnalyzer::new(&engine, settings.detector);
            let crop = face_crop(&analyzer, &image, document).map_err(ApiError::internal)?;
            crop.map(|c| jpeg(&c)).transpose()
        })
        .await?
        .ok_or_else(no_face)?;
    record_view(state, caller, &opened, kind, "face_crop").await?;
    Ok(crop)
}

/// One frame of a case's liveness video at `at_ms` milliseconds (JPEG, at most `FRAME_WIDTH` wide).
pub async fn view_video_frame(
    state: &AppState,
    caller: &Caller,
    id: &str,
    at_ms: u32,
) -> Result<Vec<u8>, ApiError> {
    let opened = open_media(state, caller, id, "video").await?;
    let settings = state.settings.clone();
    let bytes = opened.bytes.clone();
    let limit = std::time::Duration::from_secs(settings.service.request_timeout_secs);
    let frame = state
        .admission
        .run_blocking(limit, move || {
            let image = frame_at(bytes, at_ms as f64 / 1000.0, &settings.video)?;
            let image = if image.width() > FRAME_WIDTH {
                let h = (image.height() as u64 * FRAME_WIDTH as u64 / image.width() as u64) as u32;
                DynamicImage::ImageRgb8(image)
                    .resize_exact(FRAME_WIDTH, h.max(1), image::imageops::FilterType::Triangle)
                    .to_rgb8()
            } else {
                image
            };
            jpeg(&image)
        })
        .await?;
    record_view(
        state,
        caller,
        &opened,
        "video",
        &format!("frame_at_{at_ms}ms"),
    )
    .await?;
    Ok(frame)
}
