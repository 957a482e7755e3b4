//! Decoding of untrusted selfie videos with FFmpeg (Debian's libavformat/libavcodec through `ffmpeg-next`).
//!
//! Accepted: MP4/MOV with H.264 (including the fragmented MP4 Safari's recorder writes) and WebM/Matroska
//! with VP8 or VP9 (Chrome's and Firefox's MediaRecorder). The size, the duration and the picture size are
//! checked from the container before a frame is decoded; frames are sampled at about `sample_fps` and
//! handed to a callback as they are decoded, so at most one sampled frame is held at a time. The display
//! matrix (phone rotation) is applied, so the frames come out upright.
//!
//! The bytes are read from memory through a custom AVIO context, not from a temporary file: the upload is
//! biometric data and must not land on disk (a crash would leave it behind), the service holds the body in
//! memory anyway, and the fuzzer runs without touching the file system. Only the MP4 and Matroska demuxers
//! may probe the data, and no protocol may be opened from inside a file (no external references).
//!
//! Blocking and CPU-bound: call it from a plain thread or `spawn_blocking`, never on an async executor.

use std::io::Cursor;
use std::ops::ControlFlow;
use std::sync::Once;
use std::time::{Duration, Instant};

use ffmpeg::codec::Id as CodecId;
use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg::util::frame::video::Video as AvFrame;
use ffmpeg_next as ffmpeg;
use image::RgbImage;
use serde::{Deserialize, Serialize};

const MIB: u64 = 1024 * 1024;

/// Limits checked from the container before decoding, and the sampling rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VideoLimits {
    /// Largest accepted file, in bytes.
    pub max_bytes: u64,
    /// Longest accepted video, in seconds.
    pub max_duration_s: f64,
    /// Largest accepted long side of the picture (either orientation), in pixels.
    pub max_long_side: u32,
    /// Largest accepted short side of the picture, in pixels.
    pub max_short_side: u32,
    /// Frames handed on per second of video (the others are decoded and dropped).
    pub sample_fps: f64,
    /// Wall-clock budget for one decode; a file that takes longer is refused (`video_decode_timeout`).
    pub max_decode_s: f64,
}

impl Default for VideoLimits {
    /// 50 MiB, 15 s and 1920×1080 (portrait or landscape): a phone's selfie video is a few MB per
    /// second at most. 12 frames per second catch a blink (100–400 ms) on 1–5 frames and keep a 5 s
    /// clip's analysis near a second on two cores (docs/BENCHMARKS.md); 10 still found every blink of
    /// the shared clips, on one frame each.
    fn default() -> Self {
        VideoLimits {
            max_bytes: 50 * MIB,
            max_duration_s: 15.0,
            max_long_side: 1920,
            max_short_side: 1080,
            sample_fps: 12.0,
            max_decode_s: 30.0,
        }
    }
}

impl VideoLimits {
    pub fn validate(&self) -> Result<(), String> {
        let positive =
            self.max_duration_s > 0.0 && self.sample_fps > 0.0 && self.max_decode_s > 0.0;
        if !positive || self.max_bytes == 0 || self.max_long_side == 0 || self.max_short_side == 0 {
            return Err("video limits and sample_fps must be positive".into());
        }
        if self.sample_fps > 120.0 {
            return Err(format!(
                "video.sample_fps ({}) may not exceed 120",
                self.sample_fps
            ));
        }
        Ok(())
    }

    fn dimensions_ok(&self, width: u32, height: u32) -> bool {
        width.max(height) <= self.max_long_side && width.min(height) <= self.max_short_side
    }
}

/// Why a video was refused. Messages carry sizes, durations and codec names only, never picture data.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("video is empty (0 bytes)")]
    Empty,
    #[error("video is {bytes} bytes; the limit is {limit} bytes")]
    TooLarge { bytes: u64, limit: u64 },
    #[error("video lasts {seconds:.1} s; the limit is {limit:.1} s")]
    TooLong { seconds: f64, limit: f64 },
    #[error("video is {width}x{height} px; the limit is {long}x{short} px (either orientation)")]
    ResolutionTooHigh {
        width: u32,
        height: u32,
        long: u32,
        short: u32,
    },
    #[error("{0}; only MP4 (H.264) and WebM (VP8, VP9) videos are accepted")]
    Unsupported(String),
    #[error("the video is corrupt: {0}")]
    Corrupt(String),
    #[error("decoding took longer than {0:.0} s")]
    Timeout(f64),
}

impl VideoError {
    /// The stable code clients and tests match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "video_empty",
            Self::TooLarge { .. } => "video_too_large",
            Self::TooLong { .. } => "video_too_long",
            Self::ResolutionTooHigh { .. } => "video_resolution_too_high",
            Self::Unsupported(_) => "video_unsupported",
            Self::Corrupt(_) => "video_corrupt",
            Self::Timeout(_) => "video_decode_timeout",
        }
    }
}

/// One sampled frame, upright, as 8-bit RGB. Biometric data: its `Debug` shows no pixels.
pub struct VideoFrame {
    /// Position among the sampled frames (0, 1, …).
    pub index: usize,
    /// Position among all decoded frames.
    pub decoded_index: u64,
    /// Presentation time from the start of the video, in seconds.
    pub time_s: f64,
    pub image: RgbImage,
}

impl std::fmt::Debug for VideoFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VideoFrame(#{} at {:.3} s, {}x{}, <pixels redacted>)",
            self.index,
            self.time_s,
            self.image.width(),
            self.image.height()
        )
    }
}

/// What was decoded.
#[derive(Debug, Clone, Serialize)]
pub struct VideoInfo {
    /// `mp4` or `webm`.
    pub container: &'static str,
    /// `h264`, `vp8` or `vp9`.
    pub codec: &'static str,
    /// Upright picture size (after rotation).
    pub width: u32,
    pub height: u32,
    /// Clockwise degrees the frames were turned to be upright (from the display matrix).
    pub rotation: u16,
    /// Duration declared by the container, when it declares one (MediaRecorder WebM often does not).
    pub declared_duration_s: Option<f64>,
    /// Time of the last decoded frame.
    pub last_frame_s: f64,
    pub frames_decoded: u64,
    pub frames_sampled: usize,
    /// Packets the decoder rejected (damaged data it skipped).
    pub damaged_packets: u32,
}

/// Recognised by content, before FFmpeg sees the bytes, so a non-video upload gets `video_unsupported`
/// rather than `video_corrupt`.
fn sniff_container(bytes: &[u8]) -> Option<&'static str> {
    const EBML: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];
    if bytes.starts_with(&EBML) {
        return Some("webm");
    }
    let atom = bytes.get(4..8)?;
    // `ftyp` first in every MP4 and fragmented MP4; old QuickTime files may start with other atoms.
    matches!(
        atom,
        b"ftyp" | b"moov" | b"mdat" | b"free" | b"wide" | b"skip"
    )
    .then_some("mp4")
}

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = ffmpeg::init();
        // FFmpeg's own log lines go to stderr unconditionally; ours carry the error codes.
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Quiet);
    });
}

fn codec_name(id: CodecId) -> Option<&'static str> {
    match id {
        CodecId::H264 => Some("h264"),
        CodecId::VP8 => Some("vp8"),
        CodecId::VP9 => Some("vp9"),
        _ => None,
    }
}

/// Clockwise degrees (0, 90, 180 or 270) that make the picture upright, from the stream's display matrix,
/// as the `ffmpeg` command's autorotation computes it.
fn rotation_of(stream: &ffmpeg::format::stream::Stream) -> u16 {
    for side in stream.side_data() {
        if side.kind() != ffmpeg::codec::packet::side_data::Type::DisplayMatrix {
            continue;
        }
        let data = side.data();
        if data.len() < 9 * 4 {
            return 0;
        }
        let matrix: Vec<i32> = data[..36]
            .chunks_exact(4)
            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        // SAFETY: `matrix` holds the 9 values av_display_rotation_get reads.
        let ccw = unsafe { ffmpeg::ffi::av_display_rotation_get(matrix.as_ptr()) };
        return clockwise_quarter_turns(ccw);
    }
    0
}

/// Rounds the display matrix's counter-clockwise angle to the clockwise right angle that undoes it.
fn clockwise_quarter_turns(ccw_degrees: f64) -> u16 {
    if !ccw_degrees.is_finite() {
        return 0;
    }
    let cw = (-ccw_degrees).rem_euclid(360.0);
    (((cw / 90.0).round() as u16) % 4) * 90
}

fn seconds(ts: i64, base: ffmpeg::Rational) -> f64 {
    if base.denominator() == 0 {
        return 0.0;
    }
    ts as f64 * base.numerator() as f64 / base.denominator() as f64
}

/// Decodes `bytes`, calls `on_frame` with each sampled, upright frame as soon as it is decoded, and stops
/// early when `on_frame` breaks. Every failure is a [`VideoError`] with a stable code; nothing panics.
pub fn decode_video(
    bytes: Vec<u8>,
    limits: &VideoLimits,
    mut on_frame: impl FnMut(VideoFrame) -> ControlFlow<()>,
) -> Result<VideoInfo, VideoError> {
    let started = Instant::now();
    let budget = Duration::from_secs_f64(limits.max_decode_s.clamp(0.001, 1e6));
    if bytes.is_empty() {
        return Err(VideoError::Empty);
    }
    if bytes.len() as u64 > limits.max_bytes {
        return Err(VideoError::TooLarge {
            bytes: bytes.len() as u64,
            limit: limits.max_bytes,
        });
    }
    let Some(container) = sniff_container(&bytes) else {
        return Err(VideoError::Unsupported(
            "the file is not an MP4 or WebM video".into(),
        ));
    };
    init();

    let io = ffmpeg::format::context::StreamIo::from_read_seek(Cursor::new(bytes))
        .map_err(|e| VideoError::Corrupt(format!("cannot set up reading: {e}")))?;
    let mut options = ffmpeg::Dictionary::new();
    options.set("format_whitelist", "mov,matroska");
    // No demuxer may open another resource (MP4 external data references, playlists, …).
    options.set("protocol_whitelist", "none");
    let deadline = started + budget;
    let mut input =
        ffmpeg::format::input_from_stream_with_interrupt(io, None, Some(options), move || {
            Instant::now() > deadline
        })
        .map_err(|e| match e {
            ffmpeg::Error::Exit => VideoError::Timeout(limits.max_decode_s),
            other => VideoError::Corrupt(format!("the container cannot be read ({other})")),
        })?;

    let stream = input
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or_else(|| VideoError::Unsupported("the file has no video track".into()))?;
    let stream_index = stream.index();
    let time_base = stream.time_base();
    let start = stream.start_time();
    let start = if start == ffmpeg::ffi::AV_NOPTS_VALUE {
        0
    } else {
        start
    };
    let rotation = rotation_of(&stream);
    let parameters = stream.parameters();
    let codec_id = parameters.id();
    let codec = codec_name(codec_id).ok_or_else(|| {
        VideoError::Unsupported(format!("the video codec is {}", codec_id.name()))
    })?;

    // Duration from the container, before decoding: the format's, else the stream's.
    let declared_duration_s = match input.duration() {
        d if d > 0 => Some(d as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE)),
        _ => match stream.duration() {
            d if d > 0 => Some(seconds(d, time_base)),
            _ => None,
        },
    };
    if let Some(seconds) = declared_duration_s {
        if seconds > limits.max_duration_s {
            return Err(VideoError::TooLong {
                seconds,
                limit: limits.max_duration_s,
            });
        }
    }

    let mut context = ffmpeg::codec::Context::from_parameters(parameters)
        .map_err(|e| VideoError::Corrupt(format!("bad codec parameters ({e})")))?;
    let max_pixels = i64::from(limits.max_long_side) * i64::from(limits.max_short_side);
    // SAFETY: plain field reads and writes on a context that is not opened yet. max_pixels makes the
    // decoder itself refuse a bitstream whose real picture size exceeds what the container declared.
    let (w, h) = unsafe {
        let raw = context.as_mut_ptr();
        (*raw).max_pixels = max_pixels;
        (*raw).thread_count = 1;
        ((*raw).width, (*raw).height)
    };
    let (w, h) = (u32::try_from(w).unwrap_or(0), u32::try_from(h).unwrap_or(0));
    if w == 0 || h == 0 {
        return Err(VideoError::Corrupt(
            "the video declares no picture size".into(),
        ));
    }
    if !limits.dimensions_ok(w, h) {
        return Err(VideoError::ResolutionTooHigh {
            width: w,
            height: h,
            long: limits.max_long_side,
            short: limits.max_short_side,
        });
    }
    let mut decoder = context.decoder().video().map_err(|e| {
        VideoError::Unsupported(format!("the {codec} decoder cannot open it ({e})"))
    })?;

    let mut state = Sampler {
        limits,
        time_base,
        start,
        rotation,
        step: 1.0 / limits.sample_fps,
        next_sample_s: 0.0,
        frames_decoded: 0,
        frames_sampled: 0,
        last_frame_s: 0.0,
        scaler: None,
        stopped: false,
    };
    let mut damaged_packets = 0u32;
    let mut decoded = AvFrame::empty();
    loop {
        if Instant::now() > deadline {
            return Err(VideoError::Timeout(limits.max_decode_s));
        }
        // A fresh packet each time: av_read_frame overwrites a packet without releasing its buffer, so
        // reusing one leaks every packet's data (found by the fuzzer's leak check).
        let mut packet = ffmpeg::Packet::empty();
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(ffmpeg::Error::Eof) => break,
            Err(ffmpeg::Error::Exit) => return Err(VideoError::Timeout(limits.max_decode_s)),
            Err(ffmpeg::Error::InvalidData) => {
                damaged_packets += 1;
                if damaged_packets > MAX_DAMAGED_PACKETS {
                    break;
                }
                continue;
            }
            // Other read errors are I/O conditions of the in-memory reader, i.e. a truncated file.
            Err(_) => break,
        }
        if packet.stream() != stream_index {
            continue;
        }
        if decoder.send_packet(&packet).is_err() {
            damaged_packets += 1;
            if damaged_packets > MAX_DAMAGED_PACKETS {
                break;
            }
            continue;
        }
        state.drain(&mut decoder, &mut decoded, &mut on_frame)?;
        if state.stopped {
            break;
        }
    }
    if !state.stopped {
        // Flush the frames the decoder still holds (B-frame reordering, frame threading).
        if decoder.send_eof().is_ok() {
            state.drain(&mut decoder, &mut decoded, &mut on_frame)?;
        }
    }
    if state.frames_decoded == 0 {
        return Err(VideoError::Corrupt("no frame could be decoded".into()));
    }
    let (width, height) = match rotation {
        90 | 270 => (h, w),
        _ => (w, h),
    };
    Ok(VideoInfo {
        container,
        codec,
        width,
        height,
        rotation,
        declared_duration_s,
        last_frame_s: state.last_frame_s,
        frames_decoded: state.frames_decoded,
        frames_sampled: state.frames_sampled,
        damaged_packets,
    })
}

/// Damaged packets tolerated before the rest of the file is given up on.
const MAX_DAMAGED_PACKETS: u32 = 64;

/// Picks the frames to hand on, converts them to upright RGB and enforces the per-frame limits.
struct Sampler<'l> {
    limits: &'l VideoLimits,
    time_base: ffmpeg::Rational,
    start: i64,
    rotation: u16,
    step: f64,
    next_sample_s: f64,
    frames_decoded: u64,
    frames_sampled: usize,
    last_frame_s: f64,
    scaler: Option<(scaling::Context, Pixel, u32, u32)>,
    stopped: bool,
}

impl Sampler<'_> {
    fn drain(
        &mut self,
        decoder: &mut ffmpeg::decoder::Video,
        frame: &mut AvFrame,
        on_frame: &mut impl FnMut(VideoFrame) -> ControlFlow<()>,
    ) -> Result<(), VideoError> {
        while !self.stopped && decoder.receive_frame(frame).is_ok() {
            self.frame(frame, on_frame)?;
        }
        Ok(())
    }

    fn frame(
        &mut self,
        frame: &AvFrame,
        on_frame: &mut impl FnMut(VideoFrame) -> ControlFlow<()>,
    ) -> Result<(), VideoError> {
        let decoded_index = self.frames_decoded;
        self.frames_decoded += 1;
        let (w, h) = (frame.width(), frame.height());
        if w == 0 || h == 0 {
            return Ok(());
        }
        // VP8/VP9 may change the picture size mid-stream.
        if !self.limits.dimensions_ok(w, h) {
            return Err(VideoError::ResolutionTooHigh {
                width: w,
                height: h,
                long: self.limits.max_long_side,
                short: self.limits.max_short_side,
            });
        }
        let time_s = match frame.timestamp() {
            Some(ts) => seconds(ts.saturating_sub(self.start), self.time_base).max(0.0),
            // No timestamps at all: assume 30 fps rather than sample every frame.
            None => decoded_index as f64 / 30.0,
        };
        // The container may not declare a duration (MediaRecorder WebM): the limit holds frame by frame.
        if time_s > self.limits.max_duration_s {
            return Err(VideoError::TooLong {
                seconds: time_s,
                limit: self.limits.max_duration_s,
            });
        }
        // Bounds the work for a file with absurdly dense timestamps.
        if decoded_index as f64 > self.limits.max_duration_s * MAX_SOURCE_FPS {
            return Err(VideoError::TooLong {
                seconds: decoded_index as f64 / MAX_SOURCE_FPS,
                limit: self.limits.max_duration_s,
            });
        }
        self.last_frame_s = self.last_frame_s.max(time_s);
        if time_s + 1e-3 < self.next_sample_s {
            return Ok(());
        }
        self.next_sample_s = (self.next_sample_s + self.step).max(time_s + self.step / 2.0);
        let image = self.convert(frame)?;
        let image = match self.rotation {
            90 => image::imageops::rotate90(&image),
            180 => image::imageops::rotate180(&image),
            270 => image::imageops::rotate270(&image),
            _ => image,
        };
        let index = self.frames_sampled;
        self.frames_sampled += 1;
        let sampled = VideoFrame {
            index,
            decoded_index,
            time_s,
            image,
        };
        if on_frame(sampled).is_break() {
            self.stopped = true;
        }
        Ok(())
    }

    fn convert(&mut self, frame: &AvFrame) -> Result<RgbImage, VideoError> {
        let (format, w, h) = (frame.format(), frame.width(), frame.height());
        let stale =
            !matches!(&self.scaler, Some((_, f, sw, sh)) if *f == format && *sw == w && *sh == h);
        if stale {
            let ctx = scaling::Context::get(
                format,
                w,
                h,
                Pixel::RGB24,
                w,
                h,
                scaling::Flags::BILINEAR,
            )
            .map_err(|e| VideoError::Unsupported(format!("pixel format {format:?} ({e})")))?;
            self.scaler = Some((ctx, format, w, h));
        }
        let (scaler, ..) = self.scaler.as_mut().expect("set above");
        let mut rgb = AvFrame::empty();
        scaler
            .run(frame, &mut rgb)
            .map_err(|e| VideoError::Corrupt(format!("a frame cannot be converted ({e})")))?;
        let stride = rgb.stride(0);
        let row = w as usize * 3;
        let data = rgb.data(0);
        let mut pixels = Vec::with_capacity(row * h as usize);
        for y in 0..h as usize {
            pixels.extend_from_slice(&data[y * stride..y * stride + row]);
        }
        RgbImage::from_raw(w, h, pixels)
            .ok_or_else(|| VideoError::Corrupt("a frame has an inconsistent size".into()))
    }
}

/// Highest source frame rate considered plausible (phones record at most 60, some 120 for slow motion).
const MAX_SOURCE_FPS: f64 = 240.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_recognised_by_content() {
        assert_eq!(sniff_container(b"\x00\x00\x00\x20ftypisom"), Some("mp4"));
        assert_eq!(
            sniff_container(&[0x1A, 0x45, 0xDF, 0xA3, 0x01]),
            Some("webm")
        );
        assert_eq!(sniff_container(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(sniff_container(b"abc"), None);
    }

    #[test]
    fn display_matrix_angles_round_to_clockwise_right_angles() {
        assert_eq!(clockwise_quarter_turns(0.0), 0);
        assert_eq!(clockwise_quarter_turns(-90.0), 90);
        assert_eq!(clockwise_quarter_turns(90.0), 270);
        assert_eq!(clockwise_quarter_turns(180.0), 180);
        assert_eq!(clockwise_quarter_turns(-179.6), 180);
        assert_eq!(clockwise_quarter_turns(f64::NAN), 0);
    }

    #[test]
    fn refusals_before_ffmpeg_have_their_codes() {
        let limits = VideoLimits {
            max_bytes: 10,
            ..VideoLimits::default()
        };
        let code = |bytes: Vec<u8>| {
            decode_video(bytes, &limits, |_| ControlFlow::Continue(()))
                .unwrap_err()
                .code()
        };
        assert_eq!(code(Vec::new()), "video_empty");
        assert_eq!(code(vec![0; 11]), "video_too_large");
        assert_eq!(code(b"GIF89a".to_vec()), "video_unsupported");
        assert_eq!(code(b"\x00\x00\x00\x08ftyp".to_vec()), "video_corrupt");
    }

    #[test]
    fn limits_are_orientation_agnostic_and_validated() {
        let l = VideoLimits::default();
        assert!(l.dimensions_ok(1920, 1080) && l.dimensions_ok(1080, 1920));
        assert!(!l.dimensions_ok(1921, 1080) && !l.dimensions_ok(1200, 1200));
        assert!(l.validate().is_ok());
        assert!(VideoLimits {
            sample_fps: 0.0,
            ..l
        }
        .validate()
        .is_err());
    }
}
