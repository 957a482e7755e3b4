//! Video decoding on files made with the `ffmpeg` command: the containers and codecs browsers and phones
//! record (MP4/H.264 plain and fragmented, WebM VP8 and VP9), rotation metadata, and refusals.

use std::ops::ControlFlow;
use std::path::Path;

use idv::media::video::{decode_video, VideoInfo, VideoLimits};

use crate::support::{ffmpeg, scratch};

const FPS: u32 = 25;
const SECONDS: u32 = 2;

/// A 320×240 blue picture with a red block in its top-left corner, FPS × SECONDS frames.
fn make(dir: &Path, name: &str, codec_args: &[&str]) -> std::path::PathBuf {
    let out = dir.join(name);
    let source = format!(
        "color=c=blue:s=320x240:r={FPS}:d={SECONDS},drawbox=x=0:y=0:w=80:h=60:color=red:t=fill,format=yuv420p"
    );
    let mut args = vec!["-f", "lavfi", "-i", &source];
    args.extend_from_slice(codec_args);
    args.push(out.to_str().unwrap());
    ffmpeg(&args);
    out
}

/// Decodes every frame (sampling at the source rate) and returns the info and the first frame.
fn decode_all(path: &Path) -> (VideoInfo, image::RgbImage) {
    let limits = VideoLimits {
        sample_fps: FPS as f64,
        ..VideoLimits::default()
    };
    let mut first = None;
    let info = decode_video(std::fs::read(path).unwrap(), &limits, |frame| {
        first.get_or_insert(frame.image);
        ControlFlow::Continue(())
    })
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (info, first.expect("a frame"))
}

fn is_red(p: &image::Rgb<u8>) -> bool {
    p[0] > 180 && p[1] < 80 && p[2] < 80
}

fn assert_upright_landscape(info: &VideoInfo, frame: &image::RgbImage) {
    assert_eq!((info.width, info.height), (320, 240));
    assert_eq!(frame.dimensions(), (320, 240));
    assert!(
        is_red(frame.get_pixel(10, 10)),
        "{:?}",
        frame.get_pixel(10, 10)
    );
    assert!(!is_red(frame.get_pixel(310, 10)));
}

#[test]
fn mp4_h264_plain_and_fragmented_and_webm_vp8_vp9_decode_every_frame() {
    let dir = scratch("codecs");
    let cases: [(&str, &[&str], &str, &str); 4] = [
        (
            "plain.mp4",
            &["-c:v", "libx264", "-preset", "ultrafast"],
            "mp4",
            "h264",
        ),
        (
            "fragmented.mp4",
            &[
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-movflags",
                "frag_keyframe+empty_moov+default_base_moof",
            ],
            "mp4",
            "h264",
        ),
        (
            "vp8.webm",
            &["-c:v", "libvpx", "-b:v", "300k"],
            "webm",
            "vp8",
        ),
        (
            "vp9.webm",
            &[
                "-c:v",
                "libvpx-vp9",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
            ],
            "webm",
            "vp9",
        ),
    ];
    for (name, args, container, codec) in cases {
        let (info, frame) = decode_all(&make(&dir, name, args));
        assert_eq!((info.container, info.codec), (container, codec), "{name}");
        assert_eq!(info.frames_decoded, u64::from(FPS * SECONDS), "{name}");
        assert_eq!(info.frames_sampled, (FPS * SECONDS) as usize, "{name}");
        assert_eq!(info.rotation, 0);
        assert_upright_landscape(&info, &frame);
    }
}

#[test]
fn sampling_keeps_about_the_asked_rate_and_frames_arrive_in_order() {
    let dir = scratch("sampling");
    let path = make(&dir, "s.mp4", &["-c:v", "libx264", "-preset", "ultrafast"]);
    let limits = VideoLimits {
        sample_fps: FPS as f64 / 2.0,
        ..VideoLimits::default()
    };
    let mut times = Vec::new();
    let info = decode_video(std::fs::read(path).unwrap(), &limits, |f| {
        times.push(f.time_s);
        ControlFlow::Continue(())
    })
    .unwrap();
    // Every other frame of the source.
    assert_eq!(times.len(), (FPS * SECONDS / 2) as usize);
    assert_eq!(info.frames_decoded, u64::from(FPS * SECONDS));
    let step = 2.0 / FPS as f64;
    assert!(
        times.windows(2).all(|w| (w[1] - w[0] - step).abs() < 1e-6),
        "{times:?}"
    );
    // Breaking out of the callback stops the decoding early.
    let mut seen = 0;
    let path = dir.join("s.mp4");
    let info = decode_video(std::fs::read(path).unwrap(), &limits, |_| {
        seen += 1;
        ControlFlow::Break(())
    })
    .unwrap();
    assert_eq!((seen, info.frames_sampled), (1, 1));
}

/// Which corners of a picture are red, clockwise from the top-left.
fn red_corners(frame: &image::RgbImage) -> [bool; 4] {
    let (w, h) = frame.dimensions();
    [(5, 5), (w - 6, 5), (w - 6, h - 6), (5, h - 6)].map(|(x, y)| is_red(frame.get_pixel(x, y)))
}

#[test]
fn rotation_metadata_turns_the_frames_upright_as_ffmpeg_shows_them() {
    let dir = scratch("rotation");
    let plain = make(&dir, "r0.mp4", &["-c:v", "libx264", "-preset", "ultrafast"]);
    let mut corners_seen = std::collections::HashSet::new();
    for rotate in ["90", "180", "270"] {
        // A phone held sideways: the stream keeps its coded size, the display matrix says how to turn it.
        let turned = dir.join(format!("r{rotate}.mp4"));
        ffmpeg(&[
            "-i",
            plain.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            &format!("rotate={rotate}"),
            turned.to_str().unwrap(),
        ]);
        let (info, frame) = decode_all(&turned);
        // The oracle: the ffmpeg command's own autorotation of the same file.
        let shown = dir.join(format!("r{rotate}.png"));
        ffmpeg(&[
            "-i",
            turned.to_str().unwrap(),
            "-frames:v",
            "1",
            shown.to_str().unwrap(),
        ]);
        let expected = image::open(&shown).unwrap().to_rgb8();
        assert_eq!(frame.dimensions(), expected.dimensions(), "rotate {rotate}");
        assert_eq!((info.width, info.height), expected.dimensions());
        assert_ne!(info.rotation, 0);
        let corners = red_corners(&frame);
        assert_eq!(corners, red_corners(&expected), "rotate {rotate}");
        assert_eq!(corners.iter().filter(|&&c| c).count(), 1);
        corners_seen.insert(corners);
    }
    // The three rotations put the red block in three different corners, none of them the original one.
    assert_eq!(corners_seen.len(), 3);
    assert!(!corners_seen.contains(&[true, false, false, false]));
}

#[test]
fn bad_files_fail_with_their_codes() {
    let dir = scratch("bad");
    let good = make(
        &dir,
        "good.mp4",
        &["-c:v", "libx264", "-preset", "ultrafast"],
    );
    let bytes = std::fs::read(&good).unwrap();
    let code = |bytes: Vec<u8>, limits: VideoLimits| {
        decode_video(bytes, &limits, |_| ControlFlow::Continue(()))
            .map(|_| "ok")
            .unwrap_or_else(|e| e.code())
    };
    let defaults = VideoLimits::default();

    // Limits, from the container before decoding.
    let small = VideoLimits {
        max_bytes: bytes.len() as u64 - 1,
        ..defaults
    };
    assert_eq!(code(bytes.clone(), small), "video_too_large");
    let short = VideoLimits {
        max_duration_s: SECONDS as f64 - 0.5,
        ..defaults
    };
    assert_eq!(code(bytes.clone(), short), "video_too_long");
    let narrow = VideoLimits {
        max_long_side: 300,
        ..defaults
    };
    assert_eq!(code(bytes.clone(), narrow), "video_resolution_too_high");

    // Corrupt: cut short before the index, or the index overwritten.
    assert_eq!(code(bytes[..200].to_vec(), defaults), "video_corrupt");
    let mut scrambled = bytes.clone();
    for (i, b) in scrambled.iter_mut().enumerate().skip(40) {
        *b ^= (i * 7919 % 251) as u8;
    }
    assert_eq!(code(scrambled, defaults), "video_corrupt");

    // Unsupported: not a video at all, and a video in a codec browsers do not record.
    assert_eq!(
        code(b"\x89PNG\r\n\x1a\n0000".to_vec(), defaults),
        "video_unsupported"
    );
    let mpeg4 = make(&dir, "mpeg4.mp4", &["-c:v", "mpeg4"]);
    assert_eq!(
        code(std::fs::read(mpeg4).unwrap(), defaults),
        "video_unsupported"
    );
    assert_eq!(code(Vec::new(), defaults), "video_empty");
}
